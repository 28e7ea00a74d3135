package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/dpopkit/dpop"
)

func TestCheckAuthorizationResponse(t *testing.T) {
	const iss = "https://as.example"
	strict := &Metadata{Issuer: iss, AuthorizationResponseIssParameterSupported: true}
	lax := &Metadata{Issuer: iss}
	for _, tc := range []struct {
		name  string
		meta  *Metadata
		query string
		code  string
		err   error
		oauth string
	}{
		{"ok", strict, "code=c1&state=s1&iss=https%3A%2F%2Fas.example", "c1", nil, ""},
		{"no iss, not promised", lax, "code=c1&state=s1", "c1", nil, ""},
		{"iss checked even when not promised", lax, "code=c1&state=s1&iss=https%3A%2F%2Fevil.example", "", ErrResponseIssuer, ""},
		{"iss missing", strict, "code=c1&state=s1", "", ErrResponseIssuer, ""},
		{"iss other", strict, "code=c1&state=s1&iss=https%3A%2F%2Fevil.example", "", ErrResponseIssuer, ""},
		{"iss trailing slash", strict, "code=c1&state=s1&iss=https%3A%2F%2Fas.example%2F", "", ErrResponseIssuer, ""},
		{"iss twice", strict, "code=c1&state=s1&iss=https%3A%2F%2Fas.example&iss=https%3A%2F%2Fas.example", "", ErrResponseIssuer, ""},
		{"state other", strict, "code=c1&state=s2&iss=https%3A%2F%2Fas.example", "", ErrStateMismatch, ""},
		{"state missing", strict, "code=c1&iss=https%3A%2F%2Fas.example", "", ErrStateMismatch, ""},
		{"state twice", strict, "code=c1&state=s1&state=s1&iss=https%3A%2F%2Fas.example", "", ErrStateMismatch, ""},
		{"error answer", strict, "error=access_denied&error_description=no&state=s1&iss=https%3A%2F%2Fas.example", "", nil, "access_denied"},
		{"error from elsewhere", strict, "error=access_denied&state=s1&iss=https%3A%2F%2Fevil.example", "", ErrResponseIssuer, ""},
		{"error with wrong state", strict, "error=access_denied&state=zz&iss=https%3A%2F%2Fas.example", "", ErrStateMismatch, ""},
		{"no code", strict, "state=s1&iss=https%3A%2F%2Fas.example", "", ErrNoCode, ""},
		{"two codes", strict, "code=a&code=b&state=s1&iss=https%3A%2F%2Fas.example", "", ErrNoCode, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			code, err := CheckAuthorizationResponse(q, "s1", tc.meta)
			switch {
			case tc.oauth != "":
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.oauth || e.Endpoint != "authorization" || dpop.ErrorCode(err) != tc.oauth {
					t.Fatalf("got %v, want OAuth error %s", err, tc.oauth)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
			case err != nil || code != tc.code:
				t.Fatalf("got %q %v, want %q", code, err, tc.code)
			}
		})
	}
	if _, err := CheckAuthorizationResponse(url.Values{}, "", strict); err == nil {
		t.Fatal("empty expected state accepted")
	}
}

func TestDiscoverResource(t *testing.T) {
	var doc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/api", "/.well-known/oauth-protected-resource", "/meta":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, doc)
		case "/api/thing":
			w.Header().Set("WWW-Authenticate", `Bearer realm="x", DPoP algs="ES256", resource_metadata="`+"http://"+r.Host+`/meta"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	doc = `{"resource":"` + srv.URL + `/api","authorization_servers":["https://as.example","https://as2.example"]}`
	m, err := DiscoverResource(ctx, srv.URL+"/api")
	if err != nil {
		t.Fatal(err)
	}
	if as, err := m.AuthorizationServer(); err != nil || as != "https://as.example" {
		t.Fatalf("AuthorizationServer %q %v", as, err)
	}
	// The document must name the resource it was fetched for.
	if _, err := DiscoverResource(ctx, srv.URL); !errors.Is(err, ErrResourceMismatch) {
		t.Fatalf("got %v, want ErrResourceMismatch", err)
	}
	if _, err := DiscoverResource(ctx, "http://example.com/api"); !errors.Is(err, ErrInsecureURL) {
		t.Fatalf("got %v, want ErrInsecureURL", err)
	}
	doc = `{"resource":"` + srv.URL + `/api"}`
	m, _ = DiscoverResource(ctx, srv.URL+"/api")
	if _, err := m.AuthorizationServer(); !errors.Is(err, ErrNoAuthorizationServer) {
		t.Fatalf("got %v", err)
	}

	// From a 401's challenge: the document must name the URL requested.
	resp, err := http.Get(srv.URL + "/api/thing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	doc = `{"resource":"` + srv.URL + `/api/thing","authorization_servers":["https://as.example"]}`
	if m, err := ResourceMetadataFromChallenge(ctx, resp); err != nil || m.AuthorizationServers[0] != "https://as.example" {
		t.Fatalf("from challenge: %+v %v", m, err)
	}
	doc = `{"resource":"` + srv.URL + `/elsewhere","authorization_servers":["https://evil.example"]}`
	if _, err := ResourceMetadataFromChallenge(ctx, resp); !errors.Is(err, ErrResourceMismatch) {
		t.Fatalf("got %v, want ErrResourceMismatch", err)
	}
	if u, _ := ResourceMetadataURL("https://rs.example/a/"); u != "https://rs.example/.well-known/oauth-protected-resource/a" {
		t.Fatalf("ResourceMetadataURL %s", u)
	}
}
