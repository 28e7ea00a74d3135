package atproto_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/atproto"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/pdstest"
)

// The tests in this file run the package against the reference PDS
// (@atproto/pds with its OAuth provider) and a PLC directory stand-in,
// started on loopback by internal/pdstest. Install them with
// internal/pdstest/install.sh; without them the tests skip (and fail
// under DPOP_REQUIRE_DEPS=1).

// pdsWorld is the reference PDS with one account, alice.test.
type pdsWorld struct {
	s    *pdstest.Server
	acct pdstest.Account
}

func startPDS(t *testing.T) *pdsWorld {
	t.Helper()
	s := pdstest.Start(t)
	return &pdsWorld{s: s, acct: s.CreateAccount(t, "alice.test")}
}

// resolver resolves alice.test by its DNS TXT record (answered here) and
// did:plc through the stand-in. The HTTPS method is answered "no such
// host" at once: .test names have no servers.
func (w *pdsWorld) resolver() *atproto.Resolver {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); strings.HasSuffix(host, ".test") {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return dial(ctx, network, addr)
	}
	return &atproto.Resolver{
		PLCURL:     w.s.PLC,
		HTTPClient: &http.Client{Transport: tr},
		LookupTXT: func(_ context.Context, name string) ([]string, error) {
			if name == "_atproto."+w.acct.Handle {
				return []string{"did=" + w.acct.DID}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
		},
	}
}

// call sends a request to the PDS with hc (a JSON body when body is not
// nil) and fails the test unless it answers 200.
func (w *pdsWorld) call(t *testing.T, hc *http.Client, method, path string, body any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, w.s.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, out)
	}
}

// login runs Start, the sign-in and Callback, and checks what Start
// resolved.
func (w *pdsWorld) login(t *testing.T, app *atproto.App, input string) *atproto.Session {
	t.Helper()
	ctx := t.Context()
	req, err := app.Start(ctx, input)
	if err != nil {
		t.Fatalf("Start(%q): %v\nPDS output:\n%s", input, err, w.s.Output())
	}
	if req.DID != w.acct.DID || req.PDS != w.s.URL || req.Issuer != w.s.URL {
		t.Errorf("Start resolved DID %q PDS %q issuer %q, want %q %q %q", req.DID, req.PDS, req.Issuer, w.acct.DID, w.s.URL, w.s.URL)
	}
	redirect, err := w.s.SignIn(ctx, req.URL, w.acct)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if redirect.Query().Get("iss") != w.s.URL {
		t.Errorf("the authorization response's iss = %q, want %q (RFC 9207)", redirect.Query().Get("iss"), w.s.URL)
	}
	sess, err := app.Callback(ctx, req, redirect.Query())
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	if sess.DID() != w.acct.DID || sess.PDS() != w.s.URL {
		t.Errorf("session DID %q PDS %q, want %q %q", sess.DID(), sess.PDS(), w.acct.DID, w.s.URL)
	}
	return sess
}

// withoutNonces restores d as a new Session with no nonces known, as a
// program would after a restart that did not keep them: the first request
// to each server is answered use_dpop_nonce.
func withoutNonces(t *testing.T, app *atproto.App, d *atproto.SessionData) *atproto.Session {
	t.Helper()
	cp := *d
	cp.Nonces = nil
	s, err := app.Session(&cp)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return s
}

// exercise takes a logged-in session through a PDS call with a nonce
// retry, a refresh with a nonce retry, a call with the new token, and a
// reuse of the spent refresh token.
func (w *pdsWorld) exercise(t *testing.T, app *atproto.App, sess *atproto.Session, rec *pdstest.Recorder, store atproto.Store) {
	t.Helper()
	ctx := t.Context()
	par, token := w.s.URL+"/oauth/par", w.s.URL+"/oauth/token"
	getSession := w.s.URL + "/xrpc/com.atproto.server.getSession"

	if ex := rec.Exchanges(); !pdstest.NonceRetried(ex, http.MethodPost, par, http.StatusBadRequest) {
		t.Errorf("PAR was not answered 400 use_dpop_nonce and retried with the nonce:\n%s", pdstest.Dump(ex))
	}
	if did := w.s.GetSession(t, sess.Client()); did != w.acct.DID {
		t.Errorf("getSession did = %q, want %q", did, w.acct.DID)
	}

	// The PDS's use_dpop_nonce (401 with WWW-Authenticate) is answered.
	before := sess.Data()
	mark := len(rec.Exchanges())
	restored := withoutNonces(t, app, before)
	if did := w.s.GetSession(t, restored.Client()); did != w.acct.DID {
		t.Errorf("getSession after a restore did = %q, want %q", did, w.acct.DID)
	}
	if ex := rec.Since(mark); !pdstest.NonceRetried(ex, http.MethodGet, getSession, http.StatusUnauthorized) {
		t.Errorf("the PDS call was not answered 401 use_dpop_nonce and retried with the nonce:\n%s", pdstest.Dump(ex))
	}
	// The nonce learnt from the retry is used from then on: the next
	// calls are not refused (a client that forgot it met 401 on every
	// call), a query string is not part of htu, and a POST with a body
	// goes through.
	mark = len(rec.Exchanges())
	w.call(t, restored.Client(), http.MethodGet, "/xrpc/com.atproto.repo.describeRepo?repo="+url.QueryEscape(w.acct.DID), nil)
	w.call(t, restored.Client(), http.MethodPost, "/xrpc/com.atproto.repo.createRecord", map[string]any{
		"repo": w.acct.DID, "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "hello from dpop", "createdAt": time.Now().UTC().Format(time.RFC3339)},
	})
	for _, e := range rec.Since(mark) {
		if e.Status >= 400 {
			t.Errorf("a call after the nonce was learnt was refused:\n%s", pdstest.Dump(rec.Since(mark)))
			break
		}
	}

	// A POST answered use_dpop_nonce is sent again with its body.
	mark = len(rec.Exchanges())
	w.call(t, withoutNonces(t, app, before).Client(), http.MethodPost, "/xrpc/com.atproto.repo.createRecord", map[string]any{
		"repo": w.acct.DID, "collection": "app.bsky.feed.post",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "again", "createdAt": time.Now().UTC().Format(time.RFC3339)},
	})
	if ex := rec.Since(mark); !pdstest.NonceRetried(ex, http.MethodPost, w.s.URL+"/xrpc/com.atproto.repo.createRecord", http.StatusUnauthorized) {
		t.Errorf("the POST was not answered 401 use_dpop_nonce and retried with the nonce:\n%s", pdstest.Dump(ex))
	}

	// A refresh, answered use_dpop_nonce first: the refresh token is not
	// spent by that answer.
	mark = len(rec.Exchanges())
	refreshed := withoutNonces(t, app, before)
	if err := refreshed.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if ex := rec.Since(mark); !pdstest.NonceRetried(ex, http.MethodPost, token, http.StatusBadRequest) {
		t.Errorf("the refresh was not answered 400 use_dpop_nonce and retried with the nonce:\n%s", pdstest.Dump(ex))
	}
	after := refreshed.Data()
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken || after.RefreshToken == "" {
		t.Error("the refresh did not issue a new access token and a new refresh token")
	}
	if !json.Valid(after.Key) || string(after.Key) != string(before.Key) {
		t.Error("the refresh changed the session's DPoP key")
	}
	mark = len(rec.Exchanges())
	if did := w.s.GetSession(t, refreshed.Client()); did != w.acct.DID {
		t.Errorf("getSession with the refreshed token did = %q, want %q", did, w.acct.DID)
	}
	for _, e := range rec.Since(mark) {
		if e.URL == getSession && e.Scheme != "DPoP" {
			t.Errorf("the PDS call used Authorization scheme %q, want DPoP", e.Scheme)
		}
		if e.URL == token {
			t.Errorf("the call with a fresh token refreshed again:\n%s", pdstest.Dump(rec.Since(mark)))
		}
	}

	// The spent refresh token is refused; the session is marked dead,
	// and the mark is saved.
	mark = len(rec.Exchanges())
	stale := withoutNonces(t, app, before)
	err := stale.Refresh(ctx)
	if !errors.Is(err, atproto.ErrSessionDead) {
		t.Fatalf("refresh with the spent refresh token: err = %v, want ErrSessionDead", err)
	}
	ce := client.AsError(err)
	if ce == nil || ce.StatusCode != http.StatusBadRequest || ce.Code != "invalid_grant" {
		t.Errorf("refresh with the spent refresh token: %+v, want HTTP 400 invalid_grant", ce)
	} else {
		t.Logf("spent refresh token: HTTP %d %s %q", ce.StatusCode, ce.Code, ce.Description)
	}
	if ex := rec.Since(mark); len(ex) > 2 { // at most a nonce retry, never a new key
		t.Errorf("the refused refresh was sent %d times:\n%s", len(ex), pdstest.Dump(ex))
	}
	if store != nil {
		d, err := store.Load(ctx, w.acct.DID)
		if err != nil || d.Dead == "" {
			t.Errorf("the store's session after the refusal: %+v, %v; want it marked dead", d, err)
		}
	}

	for _, e := range rec.Exchanges() {
		if e.Proof == "" {
			t.Errorf("%s %s was sent without a DPoP proof", e.Method, e.URL)
		}
	}
}

func TestReferencePDS(t *testing.T) {
	w := startPDS(t)

	t.Run("PublicLoopbackClient", func(t *testing.T) {
		rec := &pdstest.Recorder{}
		redirect := "http://127.0.0.1:8080/callback"
		store := &atproto.FileStore{Path: filepath.Join(t.TempDir(), "sessions.json")}
		cfg := atproto.Config{
			ClientID:    atproto.LoopbackClientID(redirect, pdstest.Scope),
			RedirectURI: redirect,
			Scope:       pdstest.Scope,
			Resolver:    w.resolver(),
			HTTPClient:  &http.Client{Transport: rec},
			Store:       store,
		}
		app, err := atproto.NewApp(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sess := w.login(t, app, "alice.test")
		for _, e := range rec.Exchanges() {
			if e.Proof == "" {
				t.Errorf("%s %s was sent without a DPoP proof", e.Method, e.URL)
			}
		}

		// Another process (a new App on the same store) resumes the
		// session and calls the PDS.
		app2, err := atproto.NewApp(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resumed, err := app2.Resume(t.Context(), w.acct.DID)
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if did := w.s.GetSession(t, resumed.Client()); did != w.acct.DID {
			t.Errorf("getSession after Resume did = %q, want %q", did, w.acct.DID)
		}

		w.exercise(t, app, sess, rec, store)
	})

	t.Run("ConfidentialClient", func(t *testing.T) {
		ck, err := client.GenerateClientKey(dpop.ES256, "pdstest-1")
		if err != nil {
			t.Fatal(err)
		}
		clientID, redirect := w.s.ServeClientMetadata(t, "client.dpop.internal", ck)
		rec := &pdstest.Recorder{}
		app, err := atproto.NewApp(atproto.Config{
			ClientID:    clientID,
			RedirectURI: redirect,
			Scope:       pdstest.Scope,
			ClientKey:   ck,
			Resolver:    w.resolver(),
			HTTPClient:  &http.Client{Transport: rec},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Start from the DID this time.
		sess := w.login(t, app, w.acct.DID)
		w.exercise(t, app, sess, rec, nil)

		// Every PAR and token request carried a client assertion of its
		// own (RFC 7523 §3: a new jti each time), retries included.
		seen := map[string]bool{}
		for _, e := range rec.Exchanges() {
			if e.URL != w.s.URL+"/oauth/par" && e.URL != w.s.URL+"/oauth/token" {
				continue
			}
			a := formValue(e.Form, "client_assertion")
			if a == "" || seen[a] {
				t.Errorf("%s: client assertion missing or reused", e.URL)
			}
			seen[a] = true
		}
	})
}

func formValue(form, name string) string {
	for _, kv := range strings.Split(form, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
