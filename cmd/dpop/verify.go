package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
)

var verifyUsage = usage{
	name: "verify",
	synopsis: "dpop verify -method M -url U [-nonce N] [-access-token T] [-jkt J] [-algs A,B]\n" +
		"                   [-now UNIX] [-max-age DURATION] [-leeway DURATION] PROOF|-",
	about: `Verify a DPoP proof against the request it came with (RFC 9449 §4.3) and
print the result as one JSON object on a line of its own. An accepted proof
gives
  {"valid":true,"alg":..,"jkt":..,"jti":..,"htm":..,"htu":..,"iat":<number>,
   "nonce":..,"ath":..}
(nonce and ath only when the proof has them) and exit status 0. A rejected
proof gives
  {"error":CODE,"error_description":TEXT,"check":..,"expected":..,"got":..}
with "dpop_nonce" added when the error carries the nonce to retry with, and
exit status 1, and standard error says which check failed with the value
expected and the value got (the core verifier's evidence; -q turns that
off). "dpop inspect" shows every check of a proof as passed or failed.

With "-" instead of PROOF, proofs are read from standard input, one per
line (blank lines are skipped, a line longer than 64 KiB is rejected), and
verified in order by one verifier, so that a proof replayed on a later line
is rejected. One result is printed per proof; the exit status is 1 if any
proof was rejected.

-nonce is the nonce the server expects in the proof. -access-token is the
access token of the request, which the ath claim must match. -jkt is the
thumbprint the access token is bound to (cnf.jkt), which the proof's key
must have. -now freezes the verifier's clock, for checking old proofs.`,
	examples: `  dpop verify -method POST -url https://server.example.com/token "$PROOF"
  dpop verify -method GET -url https://api.example.com/resource \
      -access-token "$ACCESS_TOKEN" -jkt "$JKT" -algs ES256,EdDSA "$PROOF"
  dpop keygen | dpop proof -key - -method POST -url https://a.example/token |
      dpop verify -method POST -url https://a.example/token -
  dpop verify -method POST -url https://server.example.com/token -now 1562262617 - < proofs.txt`,
}

// verifyResult is the JSON printed for one proof.
type verifyResult struct {
	Valid bool        `json:"valid,omitempty"`
	Alg   string      `json:"alg,omitempty"`
	JKT   string      `json:"jkt,omitempty"`
	JTI   string      `json:"jti,omitempty"`
	HTM   string      `json:"htm,omitempty"`
	HTU   string      `json:"htu,omitempty"`
	IAT   json.Number `json:"iat,omitempty"`
	Nonce string      `json:"nonce,omitempty"`
	ATH   string      `json:"ath,omitempty"`

	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
	DPoPNonce        string `json:"dpop_nonce,omitempty"`
	// The evidence of a rejection (dpop.Error): the check that failed
	// and the values it compared.
	Check    string `json:"check,omitempty"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
}

// explain writes why a proof was rejected, for a reader, on stderr.
func (res *verifyResult) explain(w io.Writer) {
	if res.Valid {
		return
	}
	msg := "dpop verify: rejected: " + res.Error
	if res.ErrorDescription != "" {
		msg += ": " + res.ErrorDescription
	}
	if res.Check != "" {
		msg += "\n  check    " + res.Check
	}
	if res.Expected != "" || res.Got != "" {
		msg += "\n  expected " + orNone(res.Expected) + "\n  got      " + orNone(res.Got)
	}
	fmt.Fprintln(w, msg)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func runVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &verifyUsage
	fs := newFlagSet(u.name, stderr)
	method := fs.String("method", "", "HTTP `method` of the request (required)")
	url := fs.String("url", "", "absolute http or https `URL` of the request (required)")
	nonce := fs.String("nonce", "", "`nonce` the proof must carry")
	accessToken := fs.String("access-token", "", "access `token` of the request; the proof's ath must match it")
	jkt := fs.String("jkt", "", "`thumbprint` the access token is bound to; the proof's key must have it")
	var algs algsValue
	fs.Var(&algs, "algs", "comma-separated allow-list of `algorithms` (default all: "+algNames()+")")
	var now unixValue
	fs.Var(&now, "now", "verify as if the time were these `seconds` since the Unix epoch (default now)")
	maxAge := fs.Duration("max-age", dpop.DefaultMaxAge, "how long after its iat a proof is accepted")
	leeway := fs.Duration("leeway", dpop.DefaultLeeway, "clock skew tolerated on iat, in both directions")
	fs.Bool("json", true, "print one JSON object per proof (the default; the explanation of a rejection goes to standard error)")
	quiet := fs.Bool("q", false, "do not explain rejections on standard error")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	switch len(positional) {
	case 0:
		return usageError(stderr, u, "missing PROOF (or - to read proofs from standard input)")
	case 1:
	default:
		return usageError(stderr, u, "unexpected argument %s", quote(positional[1]))
	}
	if msg := checkRequest(*method, *url, *nonce); msg != "" {
		return usageError(stderr, u, "%s", msg)
	}
	if *jkt != "" && !dpop.IsThumbprint(*jkt) {
		return usageError(stderr, u, "-jkt is not a SHA-256 JWK thumbprint (43 base64url characters)")
	}
	if *maxAge <= 0 {
		return usageError(stderr, u, "-max-age must be positive")
	}
	if *leeway < 0 {
		return usageError(stderr, u, "-leeway must not be negative")
	}

	opts := dpop.VerifierOptions{Algorithms: algs, MaxAge: *maxAge, Leeway: *leeway}
	if *leeway == 0 {
		opts.Leeway = -1 // none; zero would mean the default
	}
	if now.set {
		opts.Now = func() time.Time { return now.t }
	}
	v, err := dpop.NewVerifier(opts)
	if err != nil {
		return failf(stderr, u.name, "%s", err)
	}
	req := dpop.Request{Method: *method, URL: *url, AccessToken: *accessToken, BoundKey: *jkt, Nonce: *nonce}

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	rejected := false
	emit := func(res *verifyResult) error {
		rejected = rejected || !res.Valid
		if !*quiet {
			res.explain(stderr)
		}
		return enc.Encode(res)
	}

	if positional[0] != "-" {
		res := verifyOne(ctx, v, strings.TrimSpace(positional[0]), req)
		if err := emit(res); err != nil {
			return failf(stderr, u.name, "writing the result: %v", err)
		}
	} else {
		err := eachLine(stdin, maxInput, func(line []byte, tooLong bool) error {
			if tooLong {
				return emit(&verifyResult{Error: dpop.CodeInvalidProof, ErrorDescription: "DPoP proof too large"})
			}
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				return nil
			}
			return emit(verifyOne(ctx, v, string(line), req))
		})
		if err != nil {
			return failf(stderr, u.name, "%v", err)
		}
	}
	if rejected {
		return exitFail
	}
	return exitOK
}

// verifyOne verifies one proof and returns its result.
func verifyOne(ctx context.Context, v *dpop.Verifier, proof string, req dpop.Request) *verifyResult {
	p, err := v.Verify(ctx, proof, req)
	if err != nil {
		var e *dpop.Error
		if !errors.As(err, &e) {
			return &verifyResult{Error: dpop.CodeInvalidProof, ErrorDescription: "DPoP proof could not be verified"}
		}
		return &verifyResult{Error: e.Code, ErrorDescription: e.Description, DPoPNonce: e.Nonce, Check: e.Check, Expected: e.Expected, Got: e.Got}
	}
	return &verifyResult{
		Valid: true,
		Alg:   string(p.Algorithm),
		JKT:   p.JKT,
		JTI:   p.JTI,
		HTM:   p.HTM,
		HTU:   p.HTU,
		IAT:   unixNumber(p.IssuedAt),
		Nonce: p.Nonce,
		ATH:   p.ATH,
	}
}

// unixNumber returns t as seconds since the Unix epoch, as a JSON number
// with a fraction only when t has one.
func unixNumber(t time.Time) json.Number {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		frac := strconv.Itoa(1e9 + ns)[1:] // nine digits
		s += "." + strings.TrimRight(frac, "0")
	}
	return json.Number(s)
}

// eachLine calls fn for each line of r, without its line ending. A line
// longer than max bytes is skipped up to its end and reported with tooLong
// set and no content. Reading stops at the first error of r or of fn.
func eachLine(r io.Reader, max int, fn func(line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, max+2) // room for the line and its CR LF
	for {
		line, err := br.ReadSlice('\n')
		tooLong := false
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			tooLong, line = true, nil
		}
		if tooLong || len(line) > 0 {
			if ferr := fn(line, tooLong); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
