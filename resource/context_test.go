package resource

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

func TestCallerFromContext(t *testing.T) {
	if c, ok := CallerFromContext(context.Background()); ok || c != nil {
		t.Fatal("caller in an empty context")
	}
	if _, ok := CallerFromContext(NewContext(context.Background(), nil)); ok {
		t.Fatal("nil caller reported")
	}
	want := &Caller{Subject: "s", Scopes: []string{"a"}}
	if c, ok := CallerFromContext(NewContext(context.Background(), want)); !ok || c != want || !c.HasScope("a") || c.HasScope("b") {
		t.Fatal("round trip")
	}
}

// TestCallerFields checks everything the handler receives for a DPoP and a
// Bearer request.
func TestCallerFields(t *testing.T) {
	e := newEnv(t)
	m := e.middleware(t, mwConfig{bearer: true})
	h := &recorder{}
	w := httptest.NewRecorder()
	m.Wrap(h).ServeHTTP(w, request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))))
	c := h.caller
	if w.Code != 200 || c == nil {
		t.Fatalf("status %d", w.Code)
	}
	if c.Subject != "alice" || c.ClientID != "app1" || !c.HasScope("read") || !c.HasScope("write") ||
		c.JKT != e.key.Thumbprint() || c.Scheme != SchemeDPoP || c.Claims["jti"] != "at-1" || c.Expiry.Before(time.Now()) {
		t.Errorf("caller = %+v", c)
	}
	w = httptest.NewRecorder()
	m.Wrap(h).ServeHTTP(w, request([]string{"Bearer " + e.unbound}))
	if c := h.caller; w.Code != 200 || c.Scheme != SchemeBearer || c.JKT != "" || c.Subject != "alice" {
		t.Errorf("bearer caller = %+v", c)
	}
}

// TestRequestURLWithoutBase checks the URL rebuilt from r.Host and r.TLS
// when no BaseURL is configured.
func TestRequestURLWithoutBase(t *testing.T) {
	e := newEnv(t)
	m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: e.as.validator(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target string
		tls    bool
		htu    string
		ok     bool
	}{
		{"http://api.example.com/data", true, "https://api.example.com/data", true},
		{"http://api.example.com/data", false, "http://api.example.com/data", true},
		{"http://api.example.com/data", false, "https://api.example.com/data", false},
		{"http://api.example.com:8443/a%2Fb", true, "https://api.example.com:8443/a%2Fb", true},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		} else {
			r.TLS = nil
		}
		r.Header.Set("Authorization", "DPoP "+e.bound)
		r.Header.Set("DPoP", testkit.Proof(t, e.key, "GET", tc.htu, dpop.WithAccessToken(e.bound)))
		w := httptest.NewRecorder()
		m.Wrap(&recorder{}).ServeHTTP(w, r)
		if (w.Code == 200) != tc.ok {
			t.Errorf("%s tls=%v htu=%s: %d %s", tc.target, tc.tls, tc.htu, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

func TestBaseURLWithPrefix(t *testing.T) {
	e := newEnv(t)
	m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: e.as.validator(t, nil), BaseURL: "https://example.com/api/"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "http://10.0.0.1/items/1", nil)
	r.Header.Set("Authorization", "DPoP "+e.bound)
	r.Header.Set("DPoP", testkit.Proof(t, e.key, "POST", "https://example.com/api/items/1", dpop.WithAccessToken(e.bound)))
	w := httptest.NewRecorder()
	m.Wrap(&recorder{}).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestNewOptions(t *testing.T) {
	v := newVerifier(t, nil)
	tok := TokenValidatorFunc(func(context.Context, string) (*TokenInfo, error) { return nil, ErrInvalidToken })
	for name, o := range map[string]Options{
		"no verifier":    {Tokens: tok},
		"no validator":   {Verifier: v},
		"relative base":  {Verifier: v, Tokens: tok, BaseURL: "/api"},
		"base query":     {Verifier: v, Tokens: tok, BaseURL: "https://x/?a"},
		"scope w/ space": {Verifier: v, Tokens: tok, RequiredScopes: []string{"a b"}},
		"scope quote":    {Verifier: v, Tokens: tok, RequiredScopes: []string{`a"`}},
		"empty scope":    {Verifier: v, Tokens: tok, RequiredScopes: []string{""}},
		"realm quote":    {Verifier: v, Tokens: tok, Realm: `a"b`},
	} {
		if _, err := NewMiddleware(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMiddlewareIntrospection runs the middleware with an introspected,
// cached opaque token end to end over loopback HTTP.
func TestMiddlewareIntrospection(t *testing.T) {
	key := testkit.Key(t)
	const token = "opaque-token-1"
	body := `{"active":true,"sub":"bob","client_id":"c","scope":"read","exp":` + itoa(time.Now().Add(time.Hour).Unix()) + `,"token_type":"DPoP","cnf":{"jkt":"` + key.Thumbprint() + `"}}`
	srv, calls := introspectionServer(t, "rs", "secret", token, 200, body)
	in, err := NewIntrospector(IntrospectionOptions{Endpoint: srv.URL, ClientID: "rs", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: NewTokenCache(in, TokenCacheOptions{}), BaseURL: testBase, RequiredScopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewServer(m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFromContext(r.Context())
		_, _ = w.Write([]byte(c.Subject))
	})))
	defer rs.Close()
	for range 3 {
		req, _ := http.NewRequest("GET", rs.URL+"/data", nil)
		req.Header.Set("Authorization", "DPoP "+token)
		req.Header.Set("DPoP", testkit.Proof(t, key, "GET", testURL, dpop.WithAccessToken(token)))
		resp, err := rs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if calls.Load() != 1 {
		t.Errorf("introspection calls = %d, want 1", calls.Load())
	}
}
