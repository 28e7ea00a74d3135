package main

import (
	"context"
	"errors"
	"io"

	"github.com/dpopkit/dpop"
)

var proofUsage = usage{
	name:     "proof",
	synopsis: "dpop proof -key FILE|- -method M -url U [-nonce N] [-access-token T] [-iat UNIX]",
	about: `Create a DPoP proof for one HTTP request and print it followed by a
newline. The key is a private JWK (as printed by "dpop keygen") or a PEM
private key (PKCS #8, SEC 1 or PKCS #1) read from
FILE, or from standard input with "-key -"; it signs with the JWK's "alg".
The htu claim is the URL normalised, without its query and fragment. Every
request needs a proof of its own: jti is fresh randomness each time.

-nonce sets the nonce claim to a DPoP-Nonce value the server sent.
-access-token sets the ath claim to the hash of the access token the request
carries (the token alone, without the "DPoP " scheme). -iat sets the issue
time instead of now.`,
	examples: `  dpop proof -key key.jwk -method POST -url https://server.example.com/token
  dpop proof -key key.jwk -method GET -url https://api.example.com/resource \
      -access-token "$ACCESS_TOKEN" -nonce "$DPOP_NONCE"
  curl -H "DPoP: $(dpop proof -key key.jwk -method POST -url "$TOKEN_URL")" ...`,
}

func runProof(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &proofUsage
	fs := newFlagSet(u.name, stderr)
	keyFile := fs.String("key", "", "private JWK `file` (required), - for standard input")
	method := fs.String("method", "", "HTTP `method` of the request (required), e.g. POST")
	url := fs.String("url", "", "absolute http or https `URL` of the request (required)")
	nonce := fs.String("nonce", "", "server-provided `nonce` to include")
	accessToken := fs.String("access-token", "", "access `token` whose hash goes in the ath claim")
	var iat unixValue
	fs.Var(&iat, "iat", "issue time in `seconds` since the Unix epoch (default now)")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 0 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[0]))
	}
	if *keyFile == "" {
		return usageError(stderr, u, "-key is required")
	}
	if msg := checkRequest(*method, *url, *nonce); msg != "" {
		return usageError(stderr, u, "%s", msg)
	}
	if *accessToken != "" && !dpop.IsToken68(*accessToken) {
		return usageError(stderr, u, "-access-token is not a token68 value (RFC 9110 §11.2)")
	}

	key, err := readKey(*keyFile, stdin, stderr, u.name)
	if err != nil {
		return failf(stderr, u.name, "reading the key: %s", err)
	}
	var opts []dpop.ProofOption
	if *nonce != "" {
		opts = append(opts, dpop.WithNonce(*nonce))
	}
	if *accessToken != "" {
		opts = append(opts, dpop.WithAccessToken(*accessToken))
	}
	if iat.set {
		opts = append(opts, dpop.WithIssuedAt(iat.t))
	}
	proof, err := key.Proof(*method, *url, opts...)
	if errors.Is(err, dpop.ErrInvalidProofInput) {
		return usageError(stderr, u, "%s", err)
	}
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	return writeOut(stdout, stderr, u.name, []byte(proof+"\n"))
}
