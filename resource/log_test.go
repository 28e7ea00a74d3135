package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
)

// logRecord is one JSON log line of the middleware.
type logRecord struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Error  struct {
		Status      int    `json:"status"`
		Code        string `json:"code"`
		Description string `json:"description"`
		Check       string `json:"check"`
		Expected    string `json:"expected"`
		Got         string `json:"got"`
		Cause       string `json:"cause"`
	} `json:"error"`
}

// TestRefusalLog sends one request of each refusal class through a
// middleware with a Logger and checks the one record it logs: level,
// status, code, and the evidence (check, expected, got); and that neither
// the access token nor a secret appears in it.
func TestRefusalLog(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	with := func(mod func(c map[string]any)) string {
		c := stdClaims(e.key.Thumbprint(), now)
		mod(c)
		return e.as.mint(c)
	}
	dpopReq := func(tok string, k *dpop.Key) *http.Request {
		return request([]string{"DPoP " + tok}, testkit.Proof(t, k, "GET", testURL, dpop.WithAccessToken(tok)))
	}
	const secret = "s3cret-Introspection-Value"
	introspecting := func(status int, body string) TokenValidator {
		srv, _ := introspectionServer(t, "rs", secret, "opaque-token-value", status, body)
		in, err := NewIntrospector(IntrospectionOptions{Endpoint: srv.URL, ClientID: "rs", ClientSecret: secret, Issuer: testIssuer, Audience: testAudience})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	opaque := func() *http.Request { return dpopReq("opaque-token-value", e.key) }
	jkt := e.key.Thumbprint()
	hsKey := []byte(strings.Repeat("k", 32))
	downAS := newTestAS(t)
	downAS.down.Store(true)

	cases := []struct {
		name     string
		cfg      mwConfig
		req      func() *http.Request
		status   int
		level    string
		code     string
		check    string // "*": the core's evidence, not asserted here
		expected string // substring
		got      string // substring
	}{
		{"no credentials", mwConfig{}, func() *http.Request { return request(nil) }, 401, "DEBUG", "", "scheme", "DPoP", "no Authorization field"},
		{"another scheme", mwConfig{}, func() *http.Request { return request([]string{"Basic dXNlcjpwYXNz"}) }, 401, "DEBUG", "", "scheme", "DPoP", "Basic"},
		{"two Authorization fields", mwConfig{}, func() *http.Request { return request([]string{"DPoP " + e.bound, "DPoP " + e.bound}) }, 400, "INFO", "invalid_request", "header", "one Authorization field", "2 Authorization fields"},
		{"token in the query too", mwConfig{}, func() *http.Request {
			r := dpopReq(e.bound, e.key)
			r.URL.RawQuery = "access_token=" + e.bound
			return r
		}, 400, "INFO", "invalid_request", "header", "Authorization field only", "query"},
		{"malformed Authorization", mwConfig{}, func() *http.Request { return request([]string{"DPoP a b"}) }, 400, "INFO", "invalid_request", "header", "token68", "not one token68"},
		{"token over the size limit", mwConfig{}, func() *http.Request { return request([]string{"DPoP " + strings.Repeat("a", DefaultMaxTokenSize+1)}) }, 401, "INFO", "invalid_token", "size", fmt.Sprintf("at most %d bytes", DefaultMaxTokenSize), fmt.Sprintf("%d bytes", DefaultMaxTokenSize+1)},
		{"Bearer downgrade", mwConfig{bearer: true}, func() *http.Request { return request([]string{"Bearer " + e.bound}) }, 401, "INFO", "invalid_token", "scheme", "DPoP (the token is bound to " + jkt + ")", "Bearer"},
		{"unbound token under DPoP", mwConfig{}, func() *http.Request { return dpopReq(e.unbound, e.key) }, 401, "INFO", "invalid_token", "cnf", "cnf.jkt", "without cnf.jkt"},
		{"cnf.jkt vs the proof key", mwConfig{}, func() *http.Request { return dpopReq(e.bound, e.key2) }, 401, "INFO", "invalid_token", "jkt", jkt, e.key2.Thumbprint()},
		{"insufficient scope", mwConfig{scopes: []string{"admin"}}, func() *http.Request { return dpopReq(e.bound, e.key) }, 403, "INFO", "insufficient_scope", "scope", "admin", "read write"},
		{"use_dpop_nonce", mwConfig{nonces: true}, func() *http.Request { return dpopReq(e.bound, e.key) }, 401, "DEBUG", "use_dpop_nonce", "*", "", ""},
		{"JWT aud", mwConfig{}, func() *http.Request {
			return dpopReq(with(func(c map[string]any) { c["aud"] = []string{"https://other.example.com", "x"} }), e.key)
		}, 401, "INFO", "invalid_token", "aud", testAudience, "https://other.example.com x"},
		{"JWT iss", mwConfig{}, func() *http.Request {
			return dpopReq(with(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), e.key)
		}, 401, "INFO", "invalid_token", "iss", testIssuer, "https://evil.example.com"},
		{"JWT exp", mwConfig{}, func() *http.Request {
			return dpopReq(with(func(c map[string]any) { c["exp"] = time.Unix(now.Unix(), 0).Add(-time.Hour).Unix() }), e.key)
		}, 401, "INFO", "invalid_token", "exp", "after server clock ", now.Add(-time.Hour).UTC().Format(time.RFC3339)},
		{"JWT nbf", mwConfig{}, func() *http.Request {
			return dpopReq(with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), e.key)
		}, 401, "INFO", "invalid_token", "nbf", "at or before server clock ", now.Add(time.Hour).UTC().Format(time.RFC3339)},
		{"JWT typ", mwConfig{}, func() *http.Request {
			return dpopReq(signJWT(t, e.as.priv, jose.ES256, e.as.kid, "JWT", stdClaims(jkt, now)), e.key)
		}, 401, "INFO", "invalid_token", "typ", "at+jwt", "JWT"},
		{"JWT alg", mwConfig{}, func() *http.Request {
			return dpopReq(signJWT(t, hsKey, jose.HS256, e.as.kid, "at+jwt", stdClaims(jkt, now)), e.key)
		}, 401, "INFO", "invalid_token", "alg", "ES256", "HS256"},
		{"JWT signature", mwConfig{}, func() *http.Request {
			return dpopReq(signJWT(t, mustECDSA(t), jose.ES256, e.as.kid, "at+jwt", stdClaims(jkt, now)), e.key)
		}, 401, "INFO", "invalid_token", "signature", "kid=k1", "does not verify"},
		{"JWT kid unknown", mwConfig{}, func() *http.Request {
			return dpopReq(signJWT(t, e.as.priv, jose.ES256, "k9", "at+jwt", stdClaims(jkt, now)), e.key)
		}, 401, "INFO", "invalid_token", "kid", "key set", "kid k9, alg ES256"},
		{"JWKS down", mwConfig{tokens: downAS.validator(t, nil)}, func() *http.Request { return dpopReq(e.bound, e.key) }, 503, "WARN", "temporarily_unavailable", "jwks", "key set", "status 500"},
		{"validator down", mwConfig{unavailable: true}, func() *http.Request { return dpopReq(e.bound, e.key) }, 503, "WARN", "temporarily_unavailable", "token", "", dpop.Fingerprint(e.bound)},
		{"replay store down", mwConfig{failReplay: true}, func() *http.Request { return dpopReq(e.bound, e.key) }, 503, "WARN", "temporarily_unavailable", "*", "", ""},
		{"validator without TokenInfo, cached", mwConfig{tokens: NewTokenCache(TokenValidatorFunc(func(context.Context, string) (*TokenInfo, error) { return nil, nil }), TokenCacheOptions{})}, func() *http.Request { return dpopReq(e.bound, e.key) }, 401, "INFO", "invalid_token", "token", "TokenInfo", "none"},
		{"introspection inactive", mwConfig{tokens: introspecting(200, `{"active":false}`)}, opaque, 401, "INFO", "invalid_token", "active", "true", "false"},
		{"introspection aud", mwConfig{tokens: introspecting(200, `{"active":true,"iss":"`+testIssuer+`","aud":"https://other.example.com"}`)}, opaque, 401, "INFO", "invalid_token", "aud", testAudience, "other.example.com"},
		{"introspection iss", mwConfig{tokens: introspecting(200, `{"active":true,"iss":"https://evil.example.com","aud":"`+testAudience+`"}`)}, opaque, 401, "INFO", "invalid_token", "iss", testIssuer, "https://evil.example.com"},
		{"introspection exp", mwConfig{tokens: introspecting(200, `{"active":true,"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":1562262700}`)}, opaque, 401, "INFO", "invalid_token", "exp", "after server clock", "2019-07-04T17:51:40Z"},
		{"introspection token_type", mwConfig{tokens: introspecting(200, `{"active":true,"iss":"`+testIssuer+`","aud":"`+testAudience+`","token_type":"N_A","cnf":{"jkt":"`+jkt+`"}}`)}, opaque, 401, "INFO", "invalid_token", "token_type", "DPoP", "N_A"},
		{"introspection endpoint fails", mwConfig{tokens: introspecting(500, `{}`)}, opaque, 503, "WARN", "temporarily_unavailable", "introspection", "status 200", "status 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.cfg.logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			var hooked *Error
			tc.cfg.onRefusal = func(r *http.Request, err *Error) { hooked = err }
			m := e.middleware(t, tc.cfg)
			r := tc.req()
			auth := r.Header.Get("Authorization")
			w := httptest.NewRecorder()
			m.Wrap(&recorder{}).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d", w.Code, tc.status)
			}
			if testing.Verbose() {
				t.Logf("%s", buf.Bytes())
			}
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if len(lines) != 1 {
				t.Fatalf("%d log records: %s", len(lines), buf.Bytes())
			}
			var rec logRecord
			if err := json.Unmarshal(lines[0], &rec); err != nil {
				t.Fatal(err)
			}
			le := rec.Error
			if rec.Level != tc.level || rec.Msg != "resource: request refused" || rec.Method != "GET" || rec.Path != "/data" {
				t.Errorf("record %s", lines[0])
			}
			if le.Status != tc.status || le.Code != tc.code || tc.check != "*" && (le.Check != tc.check ||
				!strings.Contains(le.Expected, tc.expected) || !strings.Contains(le.Got, tc.got)) {
				t.Errorf("evidence %+v\nwant %d %q check %q expected ~%q got ~%q", le, tc.status, tc.code, tc.check, tc.expected, tc.got)
			}
			if hooked == nil || hooked.Status != tc.status || tc.check != "*" && hooked.Err.Check != tc.check {
				t.Errorf("OnRefusal got %v", hooked)
			}
			// No token, no secret.
			_, tok, _ := strings.Cut(auth, " ")
			for _, s := range []string{secret, e.bound, e.unbound, tok, string(hsKey)} {
				if len(s) > 8 && bytes.Contains(buf.Bytes(), []byte(s)) {
					t.Errorf("the log holds a secret or a token: %s", buf.Bytes())
				}
			}
			if len(tok) > 43 && bytes.Contains(buf.Bytes(), []byte(tok[len(tok)-43:])) {
				t.Errorf("the log holds the token's signature: %s", buf.Bytes())
			}
		})
	}
}

// TestNoLoggerNoRecord checks that a middleware without a Logger logs
// nothing, through slog's default logger either.
func TestNoLoggerNoRecord(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	e := newEnv(t)
	m := e.middleware(t, mwConfig{})
	m.Wrap(&recorder{}).ServeHTTP(httptest.NewRecorder(), request([]string{"DPoP " + e.unbound}))
	if buf.Len() != 0 {
		t.Errorf("logged without a Logger: %s", buf.Bytes())
	}
}
