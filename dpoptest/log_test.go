package dpoptest_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// records returns the JSON log records whose error has the given check.
func records(t *testing.T, buf *syncBuffer, check string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e, _ := m["error"].(map[string]any); e != nil && e["check"] == check {
			out = append(out, m)
		}
	}
	return out
}

// TestLogger: Options.Logger receives the refusals of the DPoP rules
// (through authserver) and of the server's own rules, with their evidence,
// and never a token.
func TestLogger(t *testing.T) {
	var buf syncBuffer
	srv := newServer(t, dpoptest.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	key, thief := testkit.Key(t), testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "s")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Fatalf("a successful flow was logged: %s", buf.String())
	}

	// Refresh with another key: the binding's evidence.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	thiefCtx, _ := clientContext(t, thief)
	_, err = cfg.TokenSource(thiefCtx, &expired).Token()
	if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
		t.Fatalf("refresh with another key: %d %q", status, code)
	}
	recs := records(t, &buf, "jkt")
	if len(recs) != 1 {
		t.Fatalf("jkt records: %v\n%s", recs, buf.String())
	}
	e := recs[0]["error"].(map[string]any)
	if e["expected"] != key.Thumbprint() || e["got"] != thief.Thumbprint() || e["code"] != authserver.CodeInvalidGrant || e["status"] != 400.0 || recs[0]["client_id"] != dpoptest.PublicClientID {
		t.Errorf("record %v", recs[0])
	}

	// An unknown refresh token: its fingerprint, never the token.
	bogus := "bogus-refresh-token-value-0123456789"
	bad := &oauth2.Token{RefreshToken: bogus, Expiry: time.Now().Add(-time.Hour)}
	_, err = cfg.TokenSource(ctx, bad).Token()
	if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
		t.Fatalf("unknown refresh token: %d %q", status, code)
	}
	recs = records(t, &buf, "refresh_token")
	if len(recs) != 1 || recs[0]["error"].(map[string]any)["got"] != dpop.Fingerprint(bogus) {
		t.Errorf("refresh_token records: %v", recs)
	}

	for _, secret := range []string{bogus, tok.AccessToken, tok.RefreshToken, c} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the log holds a secret: %s", buf.String())
		}
	}
}

// TestLoggerClientAuthentication: a wrong secret is logged as such, never
// with the secret.
func TestLoggerClientAuthentication(t *testing.T) {
	var buf syncBuffer
	srv := newServer(t, dpoptest.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	const wrong = "not-the-secret-0123456789"
	cfg := clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: wrong, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader}
	ctx, _ := clientContext(t, testkit.Key(t))
	_, err := cfg.Token(ctx)
	if status, code := oauthErr(t, err); status != http.StatusUnauthorized || code != authserver.CodeInvalidClient {
		t.Fatalf("%d %s", status, code)
	}
	recs := records(t, &buf, "client_secret")
	if len(recs) != 1 || recs[0]["error"].(map[string]any)["got"] != "another secret" || recs[0]["level"] != "INFO" {
		t.Fatalf("%v\n%s", recs, buf.String())
	}
	if strings.Contains(buf.String(), wrong) || strings.Contains(buf.String(), dpoptest.ConfidentialClientSecret) {
		t.Fatalf("a secret in the log: %s", buf.String())
	}
}
