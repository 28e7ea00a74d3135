package atproto

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop/client"
)

// TestLogin: public and confidential clients, from a handle, a DID and a
// PDS URL: PAR with a proof and the nonce retry, the callback's checks,
// a PDS call with the PDS's own nonce, a refresh with the same key, a
// call with the new token, and a reused refresh token that kills the
// session.
func TestLogin(t *testing.T) {
	for _, tc := range []struct {
		name, input  string
		confidential bool
	}{
		{"public handle", "alice.test", false},
		{"public @handle", "@Alice.Test", false},
		{"public DID", aliceDID, false},
		{"public PDS URL", "", false},
		{"confidential handle", "alice.test", true},
		{"confidential PDS URL", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			var key *client.ClientKey
			if tc.confidential {
				var err error
				if key, err = client.GenerateClientKey("", "k1"); err != nil {
					t.Fatal(err)
				}
			}
			store := &FileStore{Path: filepath.Join(t.TempDir(), "sessions.json")}
			a := w.app(key, store)
			input := tc.input
			if input == "" {
				input = w.pds.URL
			}
			s := w.login(a, input)
			if s.DID() != aliceDID || s.PDS() != w.pds.URL {
				t.Fatalf("session %s at %s", s.DID(), s.PDS())
			}
			if tc.input != aliceDID && tc.input != "" && s.Handle() != "alice.test" {
				t.Errorf("handle %q", s.Handle())
			}
			if got := getSession(t, s); got != aliceDID {
				t.Fatalf("getSession: %s", got)
			}
			w.mu.Lock()
			// PAR was refused once for the nonce, the code exchange
			// used the nonce learnt there, the PDS asked for its own.
			if w.asCalls["/oauth/par"] != 2 || w.asCalls["/oauth/token"] != 1 || w.pdsCalls != 2 {
				t.Errorf("calls: AS %v, PDS %d", w.asCalls, w.pdsCalls)
			}
			w.mu.Unlock()
			d := s.Data()
			if len(d.Nonces) != 2 {
				t.Errorf("nonces kept: %v", d.Nonces)
			}
			saved, err := store.Load(context.Background(), aliceDID)
			if err != nil || saved.RefreshToken != d.RefreshToken {
				t.Fatalf("saved session: %v", err)
			}
			if fi, err := os.Stat(store.Path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("session file mode: %v %v", fi.Mode(), err)
			}

			// Refresh with the same key, and use the new token.
			if err := s.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if s.Data().AccessToken == d.AccessToken || s.Data().RefreshToken == d.RefreshToken {
				t.Fatal("refresh did not change the tokens")
			}
			if got := getSession(t, s); got != aliceDID {
				t.Fatalf("getSession after refresh: %s", got)
			}

			// The old refresh token again: refused as replayed, the
			// session dies, and the store says so.
			old, err := a.Session(d)
			if err != nil {
				t.Fatal(err)
			}
			err = old.Refresh(context.Background())
			if !errors.Is(err, ErrSessionDead) || client.AsError(err) == nil || client.AsError(err).Description != "Refresh token replayed" {
				t.Fatalf("replayed refresh: %v", err)
			}
			if err := old.Refresh(context.Background()); !errors.Is(err, ErrSessionDead) {
				t.Fatalf("dead session refreshed again: %v", err)
			}
			saved, _ = store.Load(context.Background(), aliceDID)
			if saved.Dead == "" || saved.RefreshToken != "" {
				t.Fatalf("stored session after the replay: %+v", saved)
			}
		})
	}
}

// TestResume: a session saved by one App is restored by another and
// refreshes with its own key when its token is due.
func TestResume(t *testing.T) {
	w := newWorld(t)
	store := &FileStore{Path: filepath.Join(t.TempDir(), "s.json")}
	s := w.login(w.app(nil, store), "alice.test")
	before := s.Data()

	before.Expiry = time.Now().Add(-time.Minute) // the token is due
	if err := store.Save(context.Background(), before); err != nil {
		t.Fatal(err)
	}
	a2 := w.app(nil, store)
	r, err := a2.Resume(context.Background(), aliceDID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Key().Thumbprint() != s.Key().Thumbprint() {
		t.Fatal("restored session has another key")
	}
	if got := getSession(t, r); got != aliceDID {
		t.Fatal(got)
	}
	if r.Data().AccessToken == before.AccessToken {
		t.Fatal("a due token was not refreshed")
	}
	if _, err := a2.Resume(context.Background(), "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("got %v", err)
	}
}

// TestCallbackRefusals: every check of the callback and of the token
// response.
func TestCallbackRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(w *world)
		query  func(q map[string][]string)
		want   error
	}{
		{"iss other", nil, func(q map[string][]string) { q["iss"] = []string{"https://evil.example"} }, client.ErrResponseIssuer},
		{"iss missing", nil, func(q map[string][]string) { delete(q, "iss") }, client.ErrResponseIssuer},
		{"state other", nil, func(q map[string][]string) { q["state"] = []string{"forged"} }, client.ErrStateMismatch},
		{"sub other", func(w *world) { w.subFor = func(string) string { return "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz" } }, nil, ErrSubMismatch},
		{"sub not a DID", func(w *world) { w.subFor = func(string) string { return "alice" } }, nil, ErrSubMismatch},
		{"Bearer token", func(w *world) { w.tokenType = "Bearer" }, nil, client.ErrNotDPoPBound},
		{"no atproto scope", func(w *world) { w.scope = "transition:generic" }, nil, ErrScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			store := &MemoryStore{}
			a := w.app(nil, store)
			req, err := a.Start(ctx, "alice.test")
			if err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				w.mu.Lock()
				tc.change(w)
				w.mu.Unlock()
			}
			q := w.approve(req.URL)
			if tc.query != nil {
				tc.query(q)
			}
			if _, err := a.Callback(ctx, req, q); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, err := store.Load(ctx, aliceDID); !errors.Is(err, ErrNoSession) {
				t.Fatal("a refused login was saved")
			}
		})
	}
}

// TestStartFromServerChecksAccount: a login started from a server URL
// ends with a sub whose PDS must use that authorization server.
func TestStartFromServerChecksAccount(t *testing.T) {
	w := newWorld(t)
	other := newWorld(t) // another PDS with another authorization server
	const bob = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
	w.mu.Lock()
	w.docs[bob] = w.didDoc(bob, "bob.test", other.pds.URL)
	w.account = bob
	w.mu.Unlock()
	a := w.app(nil, nil)
	req, err := a.Start(context.Background(), w.pds.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Callback(context.Background(), req, w.approve(req.URL)); !errors.Is(err, ErrSubMismatch) {
		t.Fatalf("got %v, want ErrSubMismatch", err)
	}
}

// TestStartRefusals: the server checks before any request is pushed.
func TestStartRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(w *world)
		want   error
	}{
		{"PAR not required", func(w *world) { w.meta["require_pushed_authorization_requests"] = false }, ErrProfile},
		{"no iss parameter", func(w *world) { delete(w.meta, "authorization_response_iss_parameter_supported") }, ErrProfile},
		{"no ES256", func(w *world) { w.meta["dpop_signing_alg_values_supported"] = []string{"RS256"} }, ErrProfile},
		{"no S256", func(w *world) { w.meta["code_challenge_methods_supported"] = []string{"plain"} }, ErrProfile},
		{"no none auth", func(w *world) { w.meta["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"} }, ErrProfile},
		{"AS does not list the PDS", func(w *world) { w.meta["protected_resources"] = []string{"https://other.example"} }, ErrPDSNotListed},
		{"issuer differs", func(w *world) { w.meta["issuer"] = "https://evil.example" }, ErrProfile},
		{"resource differs", func(w *world) { w.resMeta["resource"] = "https://evil.example" }, client.ErrResourceMismatch},
		{"two authorization servers", func(w *world) { w.resMeta["authorization_servers"] = []string{w.as.URL, w.as.URL} }, ErrProfile},
		{"no PDS in the document", func(w *world) {
			w.docs[aliceDID] = `{"id":"` + aliceDID + `","alsoKnownAs":["at://alice.test"],"service":[]}`
		}, ErrNoPDS},
		{"huge AS metadata", func(w *world) { w.meta["pad"] = strings.Repeat("x", 100<<10) }, ErrProfile},
		{"huge PDS metadata", func(w *world) { w.resMeta["pad"] = strings.Repeat("x", 100<<10) }, ErrProfile},
		{"PDS metadata elsewhere", func(w *world) { w.resMeta = nil }, ErrProfile},
		{"DNS and HTTPS disagree", func(w *world) { w.txt["_atproto.alice.test"] = []string{"did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"} }, ErrHandleConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.mu.Lock()
			tc.change(w)
			w.mu.Unlock()
			_, err := w.app(nil, nil).Start(context.Background(), "alice.test")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.asCalls["/oauth/par"] != 0 {
				t.Fatal("a request was pushed to a server that failed the checks")
			}
		})
	}
}

// TestRequestJSON: a pending login saved as JSON (as a web application
// keeps it between Start and Callback) completes after decoding.
func TestRequestJSON(t *testing.T) {
	w := newWorld(t)
	a := w.app(nil, nil)
	req, err := a.Start(context.Background(), "alice.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back Request
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Key.Thumbprint() != req.Key.Thumbprint() || back.State != req.State {
		t.Fatal("decoded request differs")
	}
	s, err := a.Callback(context.Background(), &back, w.approve(req.URL))
	if err != nil || s.Key().Thumbprint() != req.Key.Thumbprint() {
		t.Fatalf("callback after decoding: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"issuer":"x","metadata":{"issuer":"y"}}`), &back); err == nil {
		t.Fatal("a request with another issuer's metadata decoded")
	}
}

// TestStartFromServerKeepsRefusals: a PDS URL whose authorization server
// does not list it is refused, not retried as an authorization server.
func TestStartFromServerKeepsRefusals(t *testing.T) {
	w := newWorld(t)
	w.mu.Lock()
	w.meta["protected_resources"] = []string{"https://other.example"}
	w.mu.Unlock()
	if _, err := w.app(nil, nil).Start(context.Background(), w.pds.URL); !errors.Is(err, ErrPDSNotListed) {
		t.Fatalf("got %v", err)
	}
	// An entryway (an authorization server without RFC 9728 metadata)
	// is used as it is.
	w.mu.Lock()
	w.meta["protected_resources"] = []string{w.pds.URL}
	w.mu.Unlock()
	if _, err := w.app(nil, nil).Start(context.Background(), w.as.URL); err != nil {
		t.Fatalf("entryway: %v", err)
	}
}

func TestClientMetadataDocument(t *testing.T) {
	w := newWorld(t)
	if w.app(nil, nil).ClientMetadata() != nil {
		t.Fatal("a loopback client has a document")
	}
	ck, _ := client.GenerateClientKey("", "")
	doc := w.app(ck, nil).ClientMetadata()
	if err := doc.Validate(); err != nil || !doc.DPoPBoundAccessTokens || doc.Scope != "atproto transition:generic" || doc.TokenEndpointAuthMethod != "private_key_jwt" {
		t.Fatalf("%+v %v", doc, err)
	}
}

// TestFailedRefreshKeepsSession: a refresh that fails for any reason but
// a refused grant changes neither the session nor the stored copy, and a
// store that cannot be written leaves the previous file whole.
func TestFailedRefreshKeepsSession(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	store := &toggleStore{FileStore: FileStore{Path: filepath.Join(t.TempDir(), "s.json")}}
	s := w.login(w.app(nil, store), "alice.test")
	before, err := os.ReadFile(store.Path)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.failToken = true
	w.mu.Unlock()
	if err := s.Refresh(ctx); !errors.Is(err, ErrFetch) || errors.Is(err, ErrSessionDead) {
		t.Fatalf("got %v", err)
	}
	if after, _ := os.ReadFile(store.Path); string(after) != string(before) {
		t.Fatal("a failed refresh changed the stored session")
	}
	if s.Data().Dead != "" || s.Data().RefreshToken == "" {
		t.Fatal("a failed refresh harmed the session")
	}

	// The refresh succeeds at the server but the save fails: the error
	// says so, the file is as it was, and the session in memory holds
	// the new tokens (the old refresh token is spent).
	w.mu.Lock()
	w.failToken = false
	w.mu.Unlock()
	store.fail = true
	old := s.Data().RefreshToken
	if err := s.Refresh(ctx); err == nil {
		t.Fatal("a refresh whose save failed reported success")
	}
	if after, _ := os.ReadFile(store.Path); string(after) != string(before) {
		t.Fatal("a failed save changed the file")
	}
	if s.Data().RefreshToken == old {
		t.Fatal("the session lost the new tokens")
	}
}

// toggleStore is a FileStore whose Save can be made to fail.
type toggleStore struct {
	FileStore
	fail bool
}

func (s *toggleStore) Save(ctx context.Context, d *SessionData) error {
	if s.fail {
		return errors.New("disk full")
	}
	return s.FileStore.Save(ctx, d)
}

// TestNewAppRefuses: each unusable configuration is an ErrConfig, and a
// confidential client's document breaking the client metadata document
// rules carries client.ErrClientMetadata too.
func TestNewAppRefuses(t *testing.T) {
	ck, err := client.GenerateClientKey("", "k1")
	if err != nil {
		t.Fatal(err)
	}
	const doc = "https://app.example/client-metadata.json"
	for _, tc := range []struct {
		name     string
		cfg      Config
		metadata bool // the refusal comes from the metadata document's rules
	}{
		{"scope without atproto", Config{ClientID: doc, RedirectURI: "https://app.example/cb", Scope: "openid"}, false},
		{"client_id not a URL", Config{ClientID: "app", RedirectURI: "https://app.example/cb"}, false},
		{"client_id plain http", Config{ClientID: "http://app.example/client-metadata.json", RedirectURI: "https://app.example/cb"}, false},
		{"key on a loopback client", Config{ClientID: "http://localhost", RedirectURI: "http://127.0.0.1/cb", ClientKey: ck}, false},
		{"no redirect URI", Config{ClientID: doc}, false},
		{"client_id without path", Config{ClientID: "https://app.example", RedirectURI: "https://app.example/cb", ClientKey: ck}, true},
		{"client_id with dot segment", Config{ClientID: "https://app.example/a/../m.json", RedirectURI: "https://app.example/cb", ClientKey: ck}, true},
		{"relative redirect URI", Config{ClientID: doc, RedirectURI: "/cb", ClientKey: ck}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewApp(tc.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if got := errors.Is(err, client.ErrClientMetadata); got != tc.metadata {
				t.Fatalf("errors.Is(err, client.ErrClientMetadata) = %t, want %t: %v", got, tc.metadata, err)
			}
		})
	}
}
