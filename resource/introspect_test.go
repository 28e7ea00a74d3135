package resource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// introspectionServer answers with body to a correctly authenticated
// client_secret_basic request for token, and counts the calls.
func introspectionServer(t *testing.T, id, secret, token string, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		u, p, ok := r.BasicAuth()
		uid, _ := url.QueryUnescape(u)
		pw, _ := url.QueryUnescape(p)
		if !ok || uid != id || pw != secret {
			t.Errorf("client authentication: %q %q %v", u, p, ok)
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if r.Header.Get("DPoP") != "" {
			t.Errorf("RS-6.2-01: a proof was sent to the introspection endpoint")
		}
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		if form.Get("token") != token || form.Get("token_type_hint") != "access_token" {
			t.Errorf("form = %v", form)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, &calls
}

// TestIntrospector covers RFC 7662 (rows I-01 to I-04 of docs/conformance.md) and RFC 9449
// §6.2 (RS-6-01, RS-6.2-01).
func TestIntrospector(t *testing.T) {
	const (
		token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
		jkt   = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		// The client id and secret of RFC 9449 Figure 10, whose
		// characters need form-encoding.
		id, secret = "rs", "rs:Mku-6g_lCzKIdz4fsN7kYcya+Ti"
	)
	now := time.Unix(1562262700, 0)
	cases := []struct {
		name   string
		status int
		body   string
		err    error
		jkt    string
	}{
		{"RFC 9449 Figure 11", 200, `{"active":true,"sub":"someone@example.com","iss":"https://server.example.com","nbf":1562262611,"exp":1562266216,"cnf":{"jkt":"` + jkt + `"}}`, nil, jkt},
		{"I-02 token_type DPoP with cnf", 200, `{"active":true,"sub":"someone@example.com","exp":1562266216,"token_type":"DPoP","cnf":{"jkt":"` + jkt + `"}}`, nil, jkt},
		{"token_type dpop in lower case", 200, `{"active":true,"sub":"someone@example.com","exp":1562266216,"token_type":"dpop","cnf":{"jkt":"` + jkt + `"}}`, nil, jkt},
		{"I-03 unbound Bearer", 200, `{"active":true,"sub":"someone@example.com","exp":1562266216,"token_type":"Bearer"}`, nil, ""},
		{"I-03 unbound, no token_type", 200, `{"active":true,"sub":"someone@example.com"}`, nil, ""},
		{"I-03 inactive", 200, `{"active":false}`, ErrInvalidToken, ""},
		{"inconsistent: cnf.jkt with token_type Bearer", 200, `{"active":true,"token_type":"Bearer","cnf":{"jkt":"` + jkt + `"}}`, ErrInvalidToken, ""},
		{"inconsistent: token_type DPoP without cnf", 200, `{"active":true,"token_type":"DPoP"}`, ErrInvalidToken, ""},
		{"cnf without jkt", 200, `{"active":true,"cnf":{"x5t#S256":"abc"}}`, ErrInvalidToken, ""},
		{"cnf.jkt not a thumbprint", 200, `{"active":true,"cnf":{"jkt":"x"}}`, ErrInvalidToken, ""},
		{"unknown token_type", 200, `{"active":true,"token_type":"mac"}`, ErrInvalidToken, ""},
		{"expired", 200, `{"active":true,"exp":1562262000}`, ErrInvalidToken, ""},
		{"not yet valid", 200, `{"active":true,"nbf":1562263000}`, ErrInvalidToken, ""},
		{"active missing", 200, `{"sub":"x"}`, ErrUnavailable, ""},
		{"not JSON", 200, `<html>`, ErrUnavailable, ""},
		{"endpoint error", 500, `{}`, ErrUnavailable, ""},
		{"endpoint refuses our credentials", 401, `{"error":"invalid_client"}`, ErrUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := introspectionServer(t, id, secret, token, tc.status, tc.body)
			in, err := NewIntrospector(IntrospectionOptions{Endpoint: srv.URL, ClientID: id, ClientSecret: secret, HTTPClient: srv.Client(), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			info, err := in.ValidateToken(context.Background(), token)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.JKT != tc.jkt || info.Subject != "someone@example.com" {
				t.Errorf("info = %+v", info)
			}
		})
	}
}

func TestIntrospectorIssuerAudience(t *testing.T) {
	body := `{"active":true,"iss":"https://as.example.com","aud":["https://api.example.com","x"],"scope":"read write","client_id":"app1","exp":4102444800}`
	cases := []struct {
		iss, aud string
		ok       bool
	}{
		{"", "", true},
		{"https://as.example.com", "https://api.example.com", true},
		{"https://other.example.com", "", false},
		{"", "https://other.example.com", false},
	}
	for _, tc := range cases {
		srv, _ := introspectionServer(t, "rs", "s", "tok", 200, body)
		in, err := NewIntrospector(IntrospectionOptions{Endpoint: srv.URL, ClientID: "rs", ClientSecret: "s", Issuer: tc.iss, Audience: tc.aud})
		if err != nil {
			t.Fatal(err)
		}
		info, err := in.ValidateToken(context.Background(), "tok")
		if tc.ok != (err == nil) {
			t.Fatalf("%+v: err = %v", tc, err)
		}
		if tc.ok && (info.ClientID != "app1" || strings.Join(info.Scopes, " ") != "read write" || info.Expiry.Unix() != 4102444800) {
			t.Errorf("info = %+v", info)
		}
	}
	if audienceContains([]byte(`"https://api.example.com"`), "https://api.example.com") != true ||
		audienceContains([]byte(`42`), "x") || audienceContains(nil, "x") {
		t.Error("audienceContains")
	}
}

func TestIntrospectorOptions(t *testing.T) {
	for _, o := range []IntrospectionOptions{
		{Endpoint: "http://as.example.com/introspect", ClientID: "rs"},
		{Endpoint: "https://as.example.com/introspect"},
		{Endpoint: "introspect", ClientID: "rs"},
	} {
		if _, err := NewIntrospector(o); err == nil {
			t.Errorf("NewIntrospector(%+v) accepted", o)
		}
	}
}

// TestIntrospectionCached checks I-04: behind a TokenCache the endpoint is
// asked once per token, and never past the token's exp.
func TestIntrospectionCached(t *testing.T) {
	clock := time.Unix(1562262700, 0)
	srv, calls := introspectionServer(t, "rs", "s", "tok", 200, `{"active":true,"exp":1562262760,"token_type":"DPoP","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`)
	in, _ := NewIntrospector(IntrospectionOptions{Endpoint: srv.URL, ClientID: "rs", ClientSecret: "s", Leeway: -1, Now: func() time.Time { return clock }})
	c := NewTokenCache(in, TokenCacheOptions{TTL: time.Hour, Now: func() time.Time { return clock }})
	for range 3 {
		if _, err := c.ValidateToken(context.Background(), "tok"); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", calls.Load())
	}
	clock = clock.Add(61 * time.Second) // past exp
	if _, err := c.ValidateToken(context.Background(), "tok"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after exp: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d, want 2", calls.Load())
	}
}

// TestIntrospectionLeeway checks DefaultIntrospectionLeeway on exp and nbf,
// and that a negative Leeway means none.
func TestIntrospectionLeeway(t *testing.T) {
	now := time.Unix(1562262700, 0)
	in, err := NewIntrospector(IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := NewIntrospector(IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", Leeway: -1, Now: func() time.Time { return now }})
	d := int64(DefaultIntrospectionLeeway / time.Second)
	body := func(member string, at int64) []byte {
		return []byte(`{"active":true,"` + member + `":` + strconvFormat(at) + `}`)
	}
	for _, tc := range []struct {
		in   *Introspector
		body []byte
		ok   bool
	}{
		{in, body("exp", now.Unix()-d+1), true},
		{in, body("exp", now.Unix()-d-1), false},
		{in, body("nbf", now.Unix()+d-1), true},
		{in, body("nbf", now.Unix()+d+1), false},
		{strict, body("exp", now.Unix()+1), true},
		{strict, body("exp", now.Unix()-1), false},
		{strict, body("nbf", now.Unix()+1), false},
	} {
		if _, err := tc.in.interpret(tc.body); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.body, err)
		}
	}
}
