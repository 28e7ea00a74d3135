package main

import (
	"context"
	"io"

	"github.com/dpopkit/dpop/cmd/dpop/internal/keyfile"
)

var thumbprintUsage = usage{
	name:     "thumbprint",
	synopsis: "dpop thumbprint [-key FILE|-]",
	about: `Print the RFC 7638 SHA-256 thumbprint of a public or private JWK (or of
a PEM key or certificate): the
value of cnf.jkt in a DPoP-bound access token and of the dpop_jkt
authorization request parameter. The JWK is read from FILE, or from
standard input when -key is "-" or not given; it may be at most 64 KiB and
is trimmed of surrounding whitespace. The key is validated as strictly as
the jwk of a proof.`,
	examples: `  dpop thumbprint -key key.jwk
  dpop keygen | dpop thumbprint
  echo '{"kty":"OKP","crv":"Ed25519","x":"..."}' | dpop thumbprint`,
}

func runThumbprint(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &thumbprintUsage
	fs := newFlagSet(u.name, stderr)
	keyFile := fs.String("key", "-", "JWK `file` to read, - for standard input")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s (use -key FILE)", quote(positional[0]))
	}

	jwk, err := readInput(*keyFile, stdin)
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	jkt, err := keyfile.Thumbprint(jwk)
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	return writeOut(stdout, stderr, u.name, []byte(jkt+"\n"))
}
