package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dpopkit/dpop"
)

var keygenUsage = usage{
	name:     "keygen",
	synopsis: "dpop keygen [-alg ALG] [-o FILE]",
	about: `Generate a new signing key and print it as a private JWK (with its "alg"
member) followed by a newline. The JWK is secret: store it like a password.
RSA keys (RS* and PS*) are 2048 bits. -o FILE writes it to a new FILE with
mode 0600 instead (an existing file is not replaced).`,
	examples: `  dpop keygen -o key.jwk
  dpop keygen -alg EdDSA > ed25519.jwk
  dpop keygen | dpop thumbprint`,
}

func runKeygen(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	u := &keygenUsage
	fs := newFlagSet(u.name, stderr)
	alg := algValue(dpop.ES256)
	fs.Var(&alg, "alg", "signature `algorithm`, one of "+algNames())
	out := fs.String("o", "", "write the key to a new `file` with mode 0600")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}

	key, err := dpop.GenerateKey(dpop.Algorithm(alg))
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	jwk, err := key.MarshalPrivateJWK()
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	if *out == "" {
		return writeOut(stdout, stderr, u.name, append(jwk, '\n'))
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return failf(stderr, u.name, "%v (keygen never replaces a key file)", err)
	}
	if _, err := f.Write(append(jwk, '\n')); err != nil {
		f.Close()
		return failf(stderr, u.name, "%v", err)
	}
	if err := f.Close(); err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	fmt.Fprintf(stderr, "dpop keygen: %s key written to %s (mode 0600), thumbprint %s\n", key.Algorithm(), *out, key.Thumbprint())
	return exitOK
}
