package dpop

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestNewError(t *testing.T) {
	cause := errors.New("authserver: grant bound to another key")
	e := NewError(CodeInvalidRequest, "bad request", cause)
	if e.Code != CodeInvalidRequest || e.Description != "bad request" {
		t.Errorf("NewError = %+v", e)
	}
	if !errors.Is(e, cause) || errors.Unwrap(e) != cause {
		t.Error("NewError does not unwrap to its cause")
	}
	if got := e.Error(); got != "invalid_request: bad request" {
		t.Errorf("Error() = %q", got)
	}
	if got := NewError(CodeInvalidToken, "", nil).Error(); got != "invalid_token" {
		t.Errorf("Error() without description = %q", got)
	}
	if ErrorCode(e) != CodeInvalidRequest || ErrorCode(errors.New("x")) != "" {
		t.Error("ErrorCode")
	}
}

func TestErrorLogValue(t *testing.T) {
	e := &Error{Code: CodeInvalidProof, Description: "htm does not match the request method", Check: "htm", Expected: "POST", Got: "GET", err: ErrHTMMismatch}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("refused", "err", e)
	var rec struct {
		Err map[string]string `json:"err"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err, buf.String())
	}
	want := map[string]string{
		"code": CodeInvalidProof, "description": "htm does not match the request method",
		"check": "htm", "expected": "POST", "got": "GET", "cause": ErrHTMMismatch.Error(),
	}
	for k, v := range want {
		if rec.Err[k] != v {
			t.Errorf("%s = %q, want %q", k, rec.Err[k], v)
		}
	}
	if len(rec.Err) != len(want) {
		t.Errorf("logged %v", rec.Err)
	}
	// Empty fields are left out.
	buf.Reset()
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("refused", "err", NewError(CodeUseNonce, "", nil))
	if strings.Contains(buf.String(), "expected") || strings.Contains(buf.String(), "cause") || !strings.Contains(buf.String(), `"code":"use_dpop_nonce"`) {
		t.Errorf("log %s", buf.String())
	}
}

func TestFingerprint(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	f := Fingerprint(tok)
	if !strings.HasPrefix(f, "sha256:") || len(f) != len("sha256:")+11 {
		t.Errorf("Fingerprint = %q", f)
	}
	if Fingerprint(tok) != f {
		t.Error("not deterministic")
	}
	if Fingerprint(tok+"x") == f {
		t.Error("two tokens share a fingerprint")
	}
	if strings.Contains(f, tok[:8]) || strings.Contains(f, "alice") {
		t.Error("fingerprint holds part of the token")
	}
	// "sha256:" and the first 8 bytes of SHA-256("abc") in base64url.
	if got := Fingerprint("abc"); got != "sha256:ungWv48Bz-o" {
		t.Errorf("Fingerprint(abc) = %q", got)
	}
}

// TestErrorPrefix: every error the core returns, other than an *Error,
// reads "dpop: " once at its start, so a program prints it as is.
func TestErrorPrefix(t *testing.T) {
	k := testKey(t, ES256)
	errs := map[string]error{}
	add := func(name string, err error) {
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		errs[name] = err
	}
	_, err := ParseKey([]byte(`{"kty":"EC"}`))
	add("ParseKey missing members", err)
	_, err = ParseKey([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}`))
	add("ParseKey bad point", err)
	_, err = ParseKey(k.PublicJWK())
	add("ParseKey public", err)
	_, err = Thumbprint([]byte(`[]`))
	add("Thumbprint", err)
	_, err = NormalizeURL("ftp://x")
	add("NormalizeURL", err)
	_, err = JoinURL("https://x", "nope")
	add("JoinURL", err)
	_, err = k.Proof("GET", "not a url")
	add("Proof url", err)
	_, err = k.Proof("G T", "https://x/")
	add("Proof method", err)
	_, err = k.Proof("GET", "https://x/", WithNonce("a b"))
	add("Proof nonce", err)
	_, err = NewVerifier(VerifierOptions{Algorithms: []Algorithm{"HS256"}})
	add("NewVerifier alg", err)
	_, err = NewVerifier(VerifierOptions{MaxProofSize: MaxProofSizeLimit + 1})
	add("NewVerifier size", err)
	_, err = ParseAlgorithms("ES256,none")
	add("ParseAlgorithms", err)
	_, err = GenerateKey("none")
	add("GenerateKey", err)
	_, err = NewKey(nil, ES256)
	add("NewKey nil", err)
	_, err = k.WithAlgorithm(EdDSA)
	add("WithAlgorithm", err)
	_, err = NewHMACNonceSource(HMACNonceOptions{Secret: []byte("short")})
	add("NewHMACNonceSource", err)
	_, err = k.MarshalJSON()
	add("MarshalJSON", err)
	for name, err := range errs {
		msg := err.Error()
		if !strings.HasPrefix(msg, "dpop: ") || strings.Count(msg, "dpop: ") != 1 {
			t.Errorf("%s: %q does not start with one \"dpop: \"", name, msg)
		}
	}
	if !errors.Is(errs["Proof url"], ErrInvalidProofInput) || !errors.Is(errs["Proof url"], ErrInvalidURL) {
		t.Error("a joined error does not unwrap to both")
	}
}
