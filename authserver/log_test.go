package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// logRecord is one JSON record of a slog.JSONHandler.
type logRecord struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Endpoint string `json:"endpoint"`
	ClientID string `json:"client_id"`
	Error    struct {
		Status      int    `json:"status"`
		Code        string `json:"code"`
		Description string `json:"description"`
		Check       string `json:"check"`
		Expected    string `json:"expected"`
		Got         string `json:"got"`
	} `json:"error"`
}

func recordsOf(t *testing.T, buf *bytes.Buffer) []logRecord {
	t.Helper()
	var out []logRecord
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestRefusalEvidence: each refusal of the authorization server's own
// rules carries the check, expected and got for the operator, is logged
// with them when a Logger is set, and the response to the client carries
// only the code and the fixed description.
func TestRefusalEvidence(t *testing.T) {
	owner := testkit.KeyAlg(t, dpop.ES256)
	thief := testkit.KeyAlg(t, dpop.ES256)
	cases := []struct {
		name      string
		run       func(a *AS) error
		status    int
		code      string
		sentinel  error
		endpoint  string
		clientID  string
		check     string
		expected  string
		got       string
		level     string
		forbidden []string // values that must not appear in the log
	}{
		{
			name: "refresh with another key",
			run: func(a *AS) error {
				proof := testkit.Proof(t, thief, "POST", testTokenURL)
				r := post("/token", url.Values{"refresh_token": {"rt-secret-value"}}, proof)
				_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "spa", Public: true}, GrantType: "refresh_token", GrantJKT: owner.Thumbprint()})
				return err
			},
			status: 400, code: CodeInvalidGrant, sentinel: dpop.ErrKeyMismatch, endpoint: "token", clientID: "spa",
			check: "jkt", expected: owner.Thumbprint(), got: thief.Thumbprint(), level: "INFO",
			forbidden: []string{"rt-secret-value"},
		},
		{
			name: "code bound by dpop_jkt redeemed with another key",
			run: func(a *AS) error {
				r := post("/token", url.Values{"code": {"code-secret-value"}}, testkit.Proof(t, thief, "POST", testTokenURL))
				_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "web"}, GrantType: "authorization_code", GrantJKT: owner.Thumbprint()})
				return err
			},
			status: 400, code: CodeInvalidGrant, sentinel: dpop.ErrKeyMismatch, endpoint: "token", clientID: "web",
			check: "jkt", expected: owner.Thumbprint(), got: thief.Thumbprint(), level: "INFO",
			forbidden: []string{"code-secret-value"},
		},
		{
			name: "dpop_jkt mismatch at PAR",
			run: func(a *AS) error {
				r := post("/par", url.Values{"client_id": {"spa"}, ParamDPoPJKT: {owner.Thumbprint()}}, testkit.Proof(t, thief, "POST", testPARURL))
				_ = r.ParseForm()
				_, err := a.PARRequest(r.Context(), r, r.PostForm)
				return err
			},
			status: 400, code: dpop.CodeInvalidProof, sentinel: dpop.ErrKeyMismatch, endpoint: "par", clientID: "spa",
			check: ParamDPoPJKT, expected: owner.Thumbprint(), got: thief.Thumbprint(), level: "INFO",
		},
		{
			name: "no proof from a DPoP-bound client",
			run: func(a *AS) error {
				r := post("/token", url.Values{"client_secret": {"client-secret-value"}})
				_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "mcp", DPoPBoundAccessTokens: true}, GrantType: "client_credentials"})
				return err
			},
			status: 400, code: dpop.CodeInvalidProof, sentinel: ErrProofRequired, endpoint: "token", clientID: "mcp",
			check: "proof", expected: "a proof (client registered with dpop_bound_access_tokens)", got: "no DPoP header", level: "INFO",
			forbidden: []string{"client-secret-value"},
		},
		{
			name: "no proof for a bound grant",
			run: func(a *AS) error {
				r := post("/token", nil)
				_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "spa", Public: true}, GrantType: "refresh_token", GrantJKT: owner.Thumbprint()})
				return err
			},
			status: 400, code: dpop.CodeInvalidProof, sentinel: dpop.ErrMissingProof, endpoint: "token", clientID: "spa",
			check: "proof", expected: "a proof for " + owner.Thumbprint() + " (the grant's key)", got: "no DPoP header", level: "INFO",
		},
		{
			name: "malformed dpop_jkt at PAR",
			run: func(a *AS) error {
				r := post("/par", url.Values{"client_id": {"spa"}, ParamDPoPJKT: {"not-a-thumbprint"}})
				_ = r.ParseForm()
				_, err := a.PARRequest(r.Context(), r, r.PostForm)
				return err
			},
			status: 400, code: dpop.CodeInvalidRequest, sentinel: ErrInvalidJKT, endpoint: "par", clientID: "spa",
			check: ParamDPoPJKT, expected: "43 base64url characters (SHA-256 thumbprint)", got: "another value", level: "INFO",
		},
		{
			name: "replay store down",
			run: func(a *AS) error {
				r := post("/token", nil, testkit.Proof(t, owner, "POST", testTokenURL))
				_, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "spa", Public: true}})
				return err
			},
			status: 503, code: dpop.CodeTemporarilyUnavailable, sentinel: dpop.ErrStoreUnavailable, endpoint: "token", clientID: "spa", level: "WARN",
			check: "replay", expected: "an answer from the replay store", got: "store down",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			vo := dpop.VerifierOptions{}
			if tc.status == 503 {
				vo.Replay = testkit.FailingStore{}
			}
			a := newAS(t, vo, func(o *Options) { o.Logger = logger })
			err := tc.run(a)
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code() != tc.code || !errors.Is(err, tc.sentinel) {
				t.Fatalf("err %v, want %d %s wrapping %v", err, tc.status, tc.code, tc.sentinel)
			}
			if tc.check != "" && (e.Err.Check != tc.check || e.Err.Expected != tc.expected || e.Err.Got != tc.got) {
				t.Errorf("evidence %q %q %q, want %q %q %q", e.Err.Check, e.Err.Expected, e.Err.Got, tc.check, tc.expected, tc.got)
			}
			recs := recordsOf(t, &buf)
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1: %s", len(recs), buf.String())
			}
			rec := recs[0]
			if rec.Level != tc.level || rec.Endpoint != tc.endpoint || rec.ClientID != tc.clientID ||
				rec.Error.Status != tc.status || rec.Error.Code != tc.code ||
				rec.Error.Check != tc.check || rec.Error.Expected != tc.expected || rec.Error.Got != tc.got {
				t.Errorf("log record %+v", rec)
			}
			for _, s := range tc.forbidden {
				if strings.Contains(buf.String(), s) {
					t.Errorf("log holds %q: %s", s, buf.String())
				}
			}
			// The client sees the code and description, never the evidence.
			w := httptest.NewRecorder()
			WriteError(w, err)
			if w.Code != tc.status {
				t.Errorf("status %d", w.Code)
			}
			if tc.got != "" && strings.Contains(w.Body.String(), tc.got) {
				t.Errorf("response body carries the evidence: %s", w.Body.String())
			}
		})
	}
}

// TestNoLoggerNoLog: without a Logger nothing is written, and the default
// slog logger is not used either.
func TestNoLoggerNoLog(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	a := newAS(t, dpop.VerifierOptions{}, nil)
	r := post("/token", nil)
	if _, err := a.TokenRequest(context.Background(), r, TokenRequest{Client: Client{DPoPBoundAccessTokens: true}}); err == nil {
		t.Fatal("accepted")
	}
	if buf.Len() != 0 {
		t.Fatalf("logged without a Logger: %s", buf.String())
	}
}

// TestSuccessNotLogged: an accepted request writes no record.
func TestSuccessNotLogged(t *testing.T) {
	var buf bytes.Buffer
	a := newAS(t, dpop.VerifierOptions{}, func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(&buf, nil)) })
	k := testkit.KeyAlg(t, dpop.ES256)
	r := post("/token", nil, testkit.Proof(t, k, http.MethodPost, testTokenURL))
	if _, err := a.TokenRequest(r.Context(), r, TokenRequest{Client: Client{ID: "spa", Public: true}}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("logged a success: %s", buf.String())
	}
}
