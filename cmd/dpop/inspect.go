package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/cmd/dpop/internal/inspect"
)

var inspectUsage = usage{
	name:     "inspect",
	synopsis: "dpop inspect [-method M -url U] [-token T] [-jkt J] [-nonce N] [-now UNIX] [-json] [PROOF|JWT|FILE|-]",
	about: `Decode a DPoP proof, a JWT access token, a session file of "dpop token", a
JWK or JWK Set, or a PEM key, telling which it got. It shows the header and
the claims, times absolute and relative ("iat ... (12 s ago)"), the key's
RFC 7638 thumbprint and a token's cnf.jkt (the key it is bound to). Private
key material and refresh tokens are never shown.

The argument is a file, the value itself, or "-" (the default) for standard
input. A value may keep its "DPoP " or "Bearer " scheme.

For a proof, -method and -url (with -token, -jkt and -nonce when the request
had them) describe the request it came with: every check of RFC 9449 §4.3
then runs and is printed as passed or failed with the value expected and the
value got, and the core verifier's verdict follows. -token also checks the
proof's key against the token's cnf.jkt. -now sets the clock.

-json prints the report as one JSON object. The exit status is 0 when
nothing failed, 1 when a check failed, 2 for an input of no known kind.`,
	examples: `  dpop inspect "$PROOF"
  dpop proof -key key.jwk -method GET -url https://api.example/x | dpop inspect
  dpop inspect -method GET -url https://api.example/x -token "$AT" "$PROOF"
  dpop inspect s.json
  dpop inspect -json key.jwk | jq -r .jkt`,
}

func runInspect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &inspectUsage
	fs := newFlagSet(u.name, stderr)
	var o inspect.Options
	fs.StringVar(&o.Method, "method", "", "HTTP `method` of the request the proof came with")
	fs.StringVar(&o.URL, "url", "", "absolute `URL` of the request the proof came with")
	fs.StringVar(&o.AccessToken, "token", "", "access `token` of the request (checks ath, and the key against its cnf.jkt)")
	fs.StringVar(&o.JKT, "jkt", "", "`thumbprint` the access token is bound to")
	fs.StringVar(&o.Nonce, "nonce", "", "server `nonce` the proof must carry")
	var algs algsValue
	fs.Var(&algs, "algs", "comma-separated allow-list of `algorithms` (default all: "+algNames()+")")
	var now unixValue
	fs.Var(&now, "now", "check as if the time were these `seconds` since the Unix epoch (default now)")
	maxAge := fs.Duration("max-age", dpop.DefaultMaxAge, "how long after its iat a proof is accepted")
	leeway := fs.Duration("leeway", dpop.DefaultLeeway, "clock skew tolerated on iat, in both directions")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(positional) > 1 {
		return usageError(stderr, u, "unexpected argument %s", quote(positional[1]))
	}
	if o.Method != "" || o.URL != "" {
		if msg := checkRequest(o.Method, o.URL, o.Nonce); msg != "" {
			return usageError(stderr, u, "%s", msg)
		}
	}
	if *maxAge <= 0 || *leeway < 0 {
		return usageError(stderr, u, "-max-age must be positive and -leeway not negative")
	}
	o.Algorithms, o.MaxAge, o.Leeway = algs, *maxAge, *leeway
	if *leeway == 0 {
		o.Leeway = -1
	}
	if now.set {
		o.Now = now.t
	} else {
		o.Now = time.Now()
	}
	arg := "-"
	if len(positional) == 1 {
		arg = positional[0]
	}
	data, err := inspectInput(arg, stdin, stderr)
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	r, err := inspect.Inspect(ctx, data, o)
	var ie *inspect.InputError
	if errors.As(err, &ie) {
		fmt.Fprintf(stderr, "dpop inspect: %v\n", err)
		return exitUsage
	}
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	if *asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return failf(stderr, u.name, "encoding the report: %v", err)
		}
		if code := writeOut(stdout, stderr, u.name, append(b, '\n')); code != exitOK {
			return code
		}
	} else if err := r.WriteText(stdout); err != nil {
		return failf(stderr, u.name, "writing the report: %v", err)
	}
	if r.Failed() {
		return exitFail
	}
	return exitOK
}

// inspectInput reads the argument of inspect: standard input for "-", a
// file when one has that name, else the value itself.
func inspectInput(arg string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if arg == "-" {
		return readInput("-", stdin)
	}
	if st, err := os.Stat(arg); err == nil && st.Mode().IsRegular() {
		data, err := readInput(arg, stdin)
		if err == nil {
			warnSecretReadable(stderr, "inspect", arg, data, st)
		}
		return data, err
	}
	return []byte(arg), nil
}
