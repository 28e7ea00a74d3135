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
