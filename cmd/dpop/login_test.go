package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop/atproto"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/pdstest"
)

// TestLoginReferencePDS logs in to the reference PDS with "dpop login",
// then calls it with "dpop curl" on the saved session, before and after
// the access token expires.
//
// The PDS shows a sign-in page, so the test stands in for the browser:
// browse, which the tool calls with the authorization URL, signs in and
// consents through the provider's page API (internal/pdstest) and follows
// the redirect to the tool's loopback callback. -no-browser cannot sign in
// there; the test checks that it says so.
func TestLoginReferencePDS(t *testing.T) {
	s := pdstest.Start(t)
	acct := s.CreateAccount(t, "alice.test")

	// alice.test is answered by its DNS TXT record; the HTTPS method gets
	// "no such host" at once (.test names have no servers).
	old := configureResolver
	t.Cleanup(func() { configureResolver = old })
	configureResolver = func(r *atproto.Resolver) {
		r.LookupTXT = func(_ context.Context, name string) ([]string, error) {
			if name == "_atproto."+acct.Handle {
				return []string{"did=" + acct.DID}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
		}
		base := r.HTTPClient.Transport
		r.HTTPClient = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if strings.HasSuffix(req.URL.Hostname(), ".test") {
				return nil, &net.DNSError{Err: "no such host", Name: req.URL.Hostname(), IsNotFound: true}
			}
			return base.RoundTrip(req)
		})}
	}
	oldBrowse := browse
	t.Cleanup(func() { browse = oldBrowse })
	browsed := 0
	browse = func(authURL string) error {
		browsed++
		redirect, err := s.SignIn(t.Context(), authURL, acct)
		if err != nil {
			t.Errorf("sign-in: %v", err)
			return err
		}
		if redirect.Query().Get("iss") != s.URL {
			t.Errorf("the redirect's iss = %q, want %q", redirect.Query().Get("iss"), s.URL)
		}
		resp, err := http.Get(redirect.String()) // the tool's callback
		if err != nil {
			t.Errorf("redirect to the callback: %v", err)
			return err
		}
		resp.Body.Close()
		return nil
	}

	session := filepath.Join(t.TempDir(), "alice.json")
	r := mustRun(t, exitOK, "", "login", "-v", "-timeout", "60s", "-plc", s.PLC, "-session", session, "alice.test")
	if browsed != 1 {
		t.Errorf("the browser was opened %d times, want once", browsed)
	}
	var out loginOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("login output %q: %v", r.stdout, err)
	}
	if out.DID != acct.DID || out.Handle != acct.Handle || out.PDS != s.URL || out.Issuer != s.URL || out.Session != session {
		t.Errorf("login output %+v, want did %s handle %s pds and issuer %s", out, acct.DID, acct.Handle, s.URL)
	}
	if !strings.Contains(out.Scope, "atproto") {
		t.Errorf("scope %q lacks atproto", out.Scope)
	}
	for _, want := range []string{"POST " + s.URL + "/oauth/par", "use_dpop_nonce", "logged in as alice.test"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("login -v lacks %q:\n%s", want, r.stderr)
		}
	}
	if fi, err := os.Stat(session); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v, %v; want mode 0600", fi, err)
	}
	sess, sc := readSession(t, session)
	if sc == nil || sc.ATProto == nil || sc.ATProto.DID != acct.DID || sc.ATProto.PDS != s.URL || sc.TokenEndpoint != s.URL+"/oauth/token" {
		t.Fatalf("the session file's client and account: %+v", sc)
	}
	if sess.Key.Thumbprint() != out.JKT {
		t.Errorf("the session's key %s is not the login's %s", sess.Key.Thumbprint(), out.JKT)
	}

	getSession := s.URL + "/xrpc/com.atproto.server.getSession"
	r = mustRun(t, exitOK, "", "curl", "-f", "-session", session, getSession)
	if !strings.Contains(r.stdout, `"did":"`+acct.DID+`"`) {
		t.Errorf("getSession answered %s, want the DID %s", r.stdout, acct.DID)
	}

	// The access token expires: curl refreshes it with the session's key
	// and saves the new tokens.
	expireSession(t, session)
	r = mustRun(t, exitOK, "", "curl", "-f", "-v", "-session", session, getSession)
	if !strings.Contains(r.stdout, `"did":"`+acct.DID+`"`) {
		t.Errorf("getSession after the refresh answered %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "grant_type=refresh_token") {
		t.Errorf("curl did not refresh:\n%s", r.stderr)
	}
	fresh, _ := readSession(t, session)
	if fresh.Token.RefreshToken == sess.Token.RefreshToken || fresh.Key.Thumbprint() != out.JKT {
		t.Error("the session was not updated with new tokens for the same key")
	}

	// A PDS shows a sign-in page: -no-browser cannot get past it.
	r = mustRun(t, exitFail, "", "login", "-no-browser", "-timeout", "60s", "-plc", s.PLC, acct.DID)
	if !strings.Contains(r.stderr, "run without -no-browser") {
		t.Errorf("login -no-browser at the PDS: %q", r.stderr)
	}
	if browsed != 1 {
		t.Error("-no-browser opened the browser")
	}
}

// expireSession sets the expiry of the session file's access token to the
// past.
func expireSession(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	if err := json.Unmarshal(m["token"], &tok); err != nil {
		t.Fatal(err)
	}
	tok["expiry"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if m["token"], err = json.Marshal(tok); err != nil {
		t.Fatal(err)
	}
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLoginUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no argument":      {"login"},
		"two arguments":    {"login", "alice.test", "bob.test"},
		"scope no atproto": {"login", "-scope", "transition:generic", "alice.test"},
		"zero timeout":     {"login", "-timeout", "0s", "alice.test"},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, exitUsage, "", args...)
			if r.stdout != "" || !strings.Contains(r.stderr, "Usage: dpop login") {
				t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
			}
		})
	}
}

// TestLoginRefusesBadInput: what cannot be resolved fails with a message
// that says what was expected, before any browser opens.
func TestLoginRefusesBadInput(t *testing.T) {
	oldBrowse := browse
	t.Cleanup(func() { browse = oldBrowse })
	browse = func(string) error { t.Error("a browser was opened"); return nil }
	for name, tc := range map[string]struct{ arg, want string }{
		"bad handle":   {"not a handle", "handle"},
		"bad DID":      {"did:example:123", "DID"},
		"unknown DID":  {"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "resolve DID"},
		"bad PDS URL":  {"http://example.com/pds", "server"},
		"unreachable":  {"http://127.0.0.1:1", "127.0.0.1:1"},
		"handle empty": {"@", "handle"},
	} {
		t.Run(name, func(t *testing.T) {
			r := mustRun(t, exitFail, "", "login", "-plc", "http://127.0.0.1:1", "-timeout", "20s", tc.arg)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.want)
			}
		})
	}
}

// TestLoginNoBrowser: against dpoptest's AT Protocol profile, which
// approves at once, "dpop login -no-browser" completes: the DID resolves
// through a PLC directory stand-in to dpoptest's resource server as the
// PDS, whose RFC 9728 document names dpoptest's authorization server. The
// saved session then calls the resource with "dpop curl".
func TestLoginNoBrowser(t *testing.T) {
	srv := dpoptest.NewServer(dpoptest.Options{Profile: dpoptest.ProfileATProto})
	t.Cleanup(srv.Close)
	did := dpoptest.ATProtoDefaultUser
	plc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+did {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/did+ld+json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id":          did,
			"alsoKnownAs": []string{"at://alice.test"},
			"service": []map[string]string{{
				"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": srv.ResourceURL(),
			}},
		})
	}))
	t.Cleanup(plc.Close)
	oldBrowse := browse
	t.Cleanup(func() { browse = oldBrowse })
	browse = func(string) error { t.Error("-no-browser opened a browser"); return nil }

	session := filepath.Join(t.TempDir(), "s.json")
	r := mustRun(t, exitOK, "", "login", "-no-browser", "-timeout", "30s", "-plc", plc.URL, "-session", session, did)
	var out loginOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("login output %q: %v", r.stdout, err)
	}
	if out.DID != did || out.Handle != "alice.test" || out.PDS != srv.ResourceURL() || out.Issuer != srv.URL() {
		t.Errorf("login output %+v", out)
	}
	r = mustRun(t, exitOK, "", "curl", "-f", "-session", session, srv.ResourceEndpoint())
	if !strings.Contains(r.stdout, out.JKT) {
		t.Errorf("the resource answered %q, want the session key's thumbprint %s in it", r.stdout, out.JKT)
	}

	// A login as someone else than the DID asked for is refused: the
	// token's sub is checked.
	other := "did:plc:someoneelseaaaaaaaaaaaaa"
	plcOther := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": other,
			"service": []map[string]string{{
				"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": srv.ResourceURL(),
			}},
		})
	}))
	t.Cleanup(plcOther.Close)
	r = mustRun(t, exitFail, "", "login", "-no-browser", "-timeout", "30s", "-plc", plcOther.URL, other)
	if !strings.Contains(r.stderr, did) || !strings.Contains(r.stderr, other) {
		t.Errorf("a token for another account: %q, want both DIDs named", r.stderr)
	}
}
