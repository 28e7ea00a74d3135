package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/dpopkit/dpop"
)

// A refusal tells the client only the OAuth code and a fixed description;
// the operator's log gets the evidence: the check that failed and the two
// values it compared.
func ExampleError_LogValue() {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	proof, err := key.Proof("GET", "https://api.example.com/orders", dpop.WithIssuedAt(now))
	if err != nil {
		log.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(context.Background(), proof, dpop.Request{Method: "GET", URL: "https://api.example.com/invoices"})

	var e *dpop.Error
	if errors.As(err, &e) {
		fmt.Println("to the client:", e.Code, "-", e.Description)
	}
	// A text handler without the time, so the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Warn("DPoP proof refused", "err", err)
	// Output:
	// to the client: invalid_dpop_proof - htu does not match the request URI
	// level=WARN msg="DPoP proof refused" err.code=invalid_dpop_proof err.description="htu does not match the request URI" err.check=htu err.expected=https://api.example.com/invoices err.got=https://api.example.com/orders err.cause="dpop: htu does not match the request URI"
}

// A package above the core refuses a request on grounds of its own with
// the same error model.
func ExampleNewError() {
	errGrantBinding := errors.New("grant bound to another key")
	e := dpop.NewError(dpop.CodeInvalidRequest, "dpop_jkt does not match the proof key", errGrantBinding)
	e.Check, e.Expected, e.Got = "jkt", "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "bZ1gNhQjTfYbmtvcwqYzZhDaqT3RRH0oOdjRTd2xdeA"
	fmt.Println(e)
	fmt.Println(errors.Is(e, errGrantBinding), dpop.ErrorCode(e))
	// Output:
	// invalid_request: dpop_jkt does not match the proof key
	// true invalid_request
}

// A token in a log or in evidence is named by its fingerprint, never
// written out.
func ExampleFingerprint() {
	fmt.Println(dpop.Fingerprint("an-access-token"))
	fmt.Println(dpop.Fingerprint("an-access-token") == dpop.Fingerprint("another-token"))
	// Output:
	// sha256:YiHPD2T9DaU
	// false
}

// IsThumbprint checks the syntax of a jkt, cnf.jkt or dpop_jkt value
// (RFC 9449 §6.1, §10): 43 base64url characters in canonical form.
func ExampleIsThumbprint() {
	fmt.Println(dpop.IsThumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"))
	fmt.Println(dpop.IsThumbprint("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4J")) // non-zero unused bits
	fmt.Println(dpop.IsThumbprint("not a thumbprint"))
	// Output:
	// true
	// false
	// false
}

// The ath claim is the hash of the access token a request carries (RFC
// 9449 §4.2); the token and hash are those of RFC 9449 Figure 13.
func ExampleAccessTokenHash() {
	fmt.Println(dpop.AccessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
	// Output:
	// fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo
}

// ParseAlgorithms reads an allow-list from configuration, for example the
// algs parameter of a WWW-Authenticate challenge (RFC 9449 §7.1).
func ExampleParseAlgorithms() {
	algs, err := dpop.ParseAlgorithms("ES256 EdDSA,PS256")
	fmt.Println(algs, err)
	_, err = dpop.ParseAlgorithms("ES256,HS256")
	fmt.Println(err)
	// Output:
	// [ES256 EdDSA PS256] <nil>
	// dpop: unsupported algorithm "HS256"
}
