package main

import (
	"context"
	"io"

	"github.com/dpopkit/dpop"
)

var keygenUsage = usage{
	name:     "keygen",
	synopsis: "dpop keygen [-alg ALG]",
	about: `Generate a new signing key and print it as a private JWK (with its "alg"
member) followed by a newline. The JWK is secret: store it like a password.
RSA keys (RS* and PS*) are 2048 bits.`,
	examples: `  dpop keygen > key.jwk
  dpop keygen -alg EdDSA > ed25519.jwk
  dpop keygen | dpop thumbprint`,
}

func runKeygen(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	u := &keygenUsage
	fs := newFlagSet(u.name, stderr)
	alg := algValue(dpop.ES256)
	fs.Var(&alg, "alg", "signature `algorithm`, one of "+algNames())
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
	return writeOut(stdout, stderr, u.name, append(jwk, '\n'))
}
