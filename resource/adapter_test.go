package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// miniHandler is the handler type of a tiny router that is not net/http:
// it sees a method, a path and the request's fields, and answers a status,
// response fields and a body.
type miniHandler func(method, path string, headers map[string][]string) (status int, respHeaders map[string]string, body string)

// protect is a whole framework adapter built on Authenticate alone: a few
// lines, no fork of the middleware.
func protect(m *Middleware, next func(c *Caller) (int, string)) miniHandler {
	return func(method, path string, headers map[string][]string) (int, map[string]string, string) {
		r, err := http.NewRequest(method, path, nil)
		if err != nil {
			return http.StatusBadRequest, nil, ""
		}
		r.Header = headers
		caller, err := m.Authenticate(r)
		if err != nil {
			var re *Error
			errors.As(err, &re)
			h := map[string]string{"Cache-Control": "no-store"}
			if re.Challenge != "" {
				h["WWW-Authenticate"] = re.Challenge
			}
			if re.Err.Nonce != "" {
				h["DPoP-Nonce"] = re.Err.Nonce
			}
			return re.Status, h, re.Err.Code
		}
		status, body := next(caller)
		return status, nil, body
	}
}

// TestAdapterSketch protects a non-net/http handler with Authenticate and
// checks that it answers exactly as Wrap does, request by request.
func TestAdapterSketch(t *testing.T) {
	e := newEnv(t)
	m := e.middleware(t, mwConfig{bearer: true, scopes: []string{"read"}})
	nm := e.middleware(t, mwConfig{nonces: true})
	api := func(c *Caller) (int, string) { return http.StatusOK, "hello " + c.Subject + " " + c.JKT }

	cases := []struct {
		name    string
		m       *Middleware
		headers func() http.Header
		status  int
		code    string
	}{
		{"accepted", m, func() http.Header {
			return http.Header{"Authorization": {"DPoP " + e.bound}, "Dpop": {testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))}}
		}, 200, ""},
		{"no credentials", m, func() http.Header { return http.Header{} }, 401, ""},
		{"proof by another key", m, func() http.Header {
			return http.Header{"Authorization": {"DPoP " + e.bound}, "Dpop": {testkit.Proof(t, e.key2, "GET", testURL, dpop.WithAccessToken(e.bound))}}
		}, 401, dpop.CodeInvalidToken},
		{"downgrade", m, func() http.Header { return http.Header{"Authorization": {"Bearer " + e.bound}} }, 401, dpop.CodeInvalidToken},
		{"two Authorization fields", m, func() http.Header {
			return http.Header{"Authorization": {"DPoP " + e.bound, "Bearer " + e.unbound}}
		}, 400, dpop.CodeInvalidRequest},
		{"nonce required", nm, func() http.Header {
			return http.Header{"Authorization": {"DPoP " + e.bound}, "Dpop": {testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound))}}
		}, 401, dpop.CodeUseNonce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.headers()
			status, rh, body := protect(tc.m, api)("GET", "/data", h.Clone())
			if status != tc.status {
				t.Fatalf("status = %d, want %d", status, tc.status)
			}
			if status == 200 {
				if want := "hello alice " + e.key.Thumbprint(); body != want {
					t.Fatalf("body = %q, want %q", body, want)
				}
				return
			}
			if body != tc.code {
				t.Errorf("code = %q, want %q", body, tc.code)
			}
			// The same request through Wrap gets the same answer.
			r := httptest.NewRequest("GET", "http://internal/data", nil)
			r.Header = h.Clone()
			if p := h.Get("Dpop"); p != "" {
				// A proof is good once: sign another for Wrap.
				k := e.key
				if tc.name == "proof by another key" {
					k = e.key2
				}
				r.Header.Set("Dpop", testkit.Proof(t, k, "GET", testURL, dpop.WithAccessToken(e.bound)))
			}
			w := httptest.NewRecorder()
			tc.m.Wrap(&recorder{}).ServeHTTP(w, r)
			if w.Code != status || w.Header().Get("WWW-Authenticate") != rh["WWW-Authenticate"] {
				t.Errorf("Wrap: %d %q\nadapter: %d %q", w.Code, w.Header().Get("WWW-Authenticate"), status, rh["WWW-Authenticate"])
			}
			if (w.Header().Get("DPoP-Nonce") == "") != (rh["DPoP-Nonce"] == "") {
				t.Errorf("DPoP-Nonce: Wrap %q, adapter %q", w.Header().Get("DPoP-Nonce"), rh["DPoP-Nonce"])
			}
		})
	}
}

// TestAuthenticateError checks the error model of a refusal: the status
// and challenge, the *dpop.Error and the sentinel reachable through the
// chain, and the nonce.
func TestAuthenticateError(t *testing.T) {
	e := newEnv(t)
	m := e.middleware(t, mwConfig{bearer: true})
	cases := []struct {
		name     string
		mw       *Middleware
		req      func() *http.Request
		status   int
		code     string
		sentinel error
		www      string
	}{
		{"no credentials", m, func() *http.Request { return request(nil) }, 401, "", ErrNoCredentials, chBearerDPoP},
		{"malformed", m, func() *http.Request { return request([]string{"DPoP"}) }, 400, dpop.CodeInvalidRequest, ErrMalformedAuthorization,
			`Bearer, DPoP error="invalid_request", error_description="Malformed Authorization header", algs="ES256 PS256"`},
		{"invalid token", m, func() *http.Request { return request([]string{"Bearer junk"}) }, 401, dpop.CodeInvalidToken, ErrInvalidToken,
			`Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"`},
		{"downgrade", m, func() *http.Request { return request([]string{"Bearer " + e.bound}) }, 401, dpop.CodeInvalidToken, ErrDowngrade,
			`Bearer error="invalid_token", error_description="DPoP-bound token presented with the Bearer scheme", DPoP algs="ES256 PS256"`},
		{"unbound under DPoP", m, func() *http.Request {
			return request([]string{"DPoP " + e.unbound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.unbound)))
		}, 401, dpop.CodeInvalidToken, ErrNotBound, `Bearer, DPoP error="invalid_token", error_description="Token is not DPoP-bound", algs="ES256 PS256"`},
		{"key binding", m, func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key2, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 401, dpop.CodeInvalidToken, dpop.ErrKeyMismatch, `Bearer, DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256 PS256"`},
		{"nonce", e.middleware(t, mwConfig{nonces: true}), func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 401, dpop.CodeUseNonce, dpop.ErrNonceRequired, `DPoP error="use_dpop_nonce", error_description="nonce is required", algs="ES256 PS256"`},
		{"scope", e.middleware(t, mwConfig{scopes: []string{"admin"}}), func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 403, "insufficient_scope", ErrInsufficientScope, `DPoP error="insufficient_scope", error_description="Insufficient scope", scope="admin", algs="ES256 PS256"`},
		{"replay store down", e.middleware(t, mwConfig{failReplay: true}), func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 503, dpop.CodeTemporarilyUnavailable, dpop.ErrStoreUnavailable, ""},
		{"validator down", e.middleware(t, mwConfig{unavailable: true}), func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 503, dpop.CodeTemporarilyUnavailable, ErrUnavailable, ""},
		{"nonce source down", e.middleware(t, mwConfig{failNonces: true}), func() *http.Request {
			return request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		}, 503, dpop.CodeTemporarilyUnavailable, dpop.ErrStoreUnavailable, ""},
		{"request URL too long to check htu", m, func() *http.Request {
			r := request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
			r.URL.Path = "/" + strings.Repeat("p", 8192)
			return r
		}, 400, dpop.CodeInvalidRequest, ErrRequestURL,
			`Bearer, DPoP error="invalid_request", error_description="Request URI cannot be checked", algs="ES256 PS256"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := tc.mw.Authenticate(tc.req())
			if caller != nil || err == nil {
				t.Fatalf("Authenticate = %v, %v", caller, err)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("%T is not a *resource.Error", err)
			}
			var oe *dpop.Error
			if !errors.As(err, &oe) || oe != re.Err {
				t.Fatalf("the *dpop.Error is not reachable: %v", err)
			}
			if re.Status != tc.status || oe.Code != tc.code || re.Challenge != tc.www {
				t.Errorf("got %d %q %q\nwant %d %q %q", re.Status, oe.Code, re.Challenge, tc.status, tc.code, tc.www)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.sentinel)
			}
			if tc.code == dpop.CodeUseNonce && !dpop.IsValidNonce(oe.Nonce) {
				t.Errorf("nonce %q", oe.Nonce)
			}
			w := httptest.NewRecorder()
			WriteError(w, err)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.www || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("WriteError: %d %v", w.Code, w.Header())
			}
			if (w.Header().Get("DPoP-Nonce") != "") != (tc.code == dpop.CodeUseNonce) || w.Header().Get("DPoP-Nonce") != oe.Nonce {
				t.Errorf("DPoP-Nonce = %q", w.Header().Get("DPoP-Nonce"))
			}
			if tc.code == "" {
				if w.Body.Len() != 0 {
					t.Errorf("body %q without an error code", w.Body)
				}
				return
			}
			var body map[string]string
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] != tc.code || body["error_description"] != oe.Description || len(body) != 2 {
				t.Errorf("body = %q (%v)", w.Body, err)
			}
		})
	}
}

// TestWriteErrorOther checks that an error WriteError did not get from
// Authenticate is a bare 500.
func TestWriteErrorOther(t *testing.T) {
	for _, err := range []error{errors.New("boom"), dpop.NewError(dpop.CodeInvalidToken, "x", nil), nil, &Error{Status: 200}} {
		w := httptest.NewRecorder()
		WriteError(w, err)
		if w.Code != 500 || w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%v: %d %v", err, w.Code, w.Header())
		}
	}
	var re *Error = &Error{Status: 401}
	if re.Error() != "resource: 401" || re.Unwrap() != nil {
		t.Errorf("%q %v", re.Error(), re.Unwrap())
	}
	w := httptest.NewRecorder()
	WriteError(w, fmt.Errorf("context: %w", re))
	if w.Code != 401 || w.Body.Len() != 0 {
		t.Errorf("wrapped: %d %q", w.Code, w.Body)
	}
}
