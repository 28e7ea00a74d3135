package atproto

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/syntax"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
)

// world is a small AT Protocol network on loopback: a PLC directory, a
// PDS and its authorization server (separate origins, each with its own
// nonces), and in-process "https" hosts for handles and did:web. The
// authorization server follows the profile: PAR with a proof, nonces,
// PKCE S256, iss in the response, DPoP-bound tokens, single-use refresh
// tokens, private_key_jwt with a jti seen once.
type world struct {
	t   *testing.T
	plc *httptest.Server
	pds *httptest.Server
	as  *httptest.Server

	mu        sync.Mutex
	docs      map[string]string        // did → DID document JSON
	txt       map[string][]string      // DNS name → TXT records
	hosts     map[string]http.Handler  // "https" hosts served in process
	meta      map[string]any           // AS metadata (changeable)
	resMeta   map[string]any           // PDS RFC 9728 metadata (changeable)
	clientKey *client.ClientKey        // the confidential client's key
	pushed    map[string]url.Values    // request_uri → PAR params
	pushedJKT map[string]string        // request_uri → DPoP key at PAR
	codes     map[string]string        // code → request_uri
	access    map[string]string        // access token → jkt
	refresh   map[string]*refreshState // refresh token → state
	jtis      map[string]bool          // assertion jtis seen
	asNonce   string
	pdsNonce  string
	verifier  *dpop.Verifier
	account   string // the DID that logs in
	subFor    func(string) string
	tokenType string
	scope     string
	asCalls   map[string]int // path → requests
	failToken bool           // the token endpoint answers 503
	pdsCalls  int
}

type refreshState struct {
	did, jkt string
	used     bool
}

const aliceDID = "did:plc:abcdefghijklmnopqrstuvwx"

func newWorld(t *testing.T) *world {
	t.Helper()
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, docs: map[string]string{}, txt: map[string][]string{}, hosts: map[string]http.Handler{},
		pushed: map[string]url.Values{}, pushedJKT: map[string]string{}, codes: map[string]string{},
		access: map[string]string{}, refresh: map[string]*refreshState{}, jtis: map[string]bool{},
		asNonce: "as-" + rand.Text(), pdsNonce: "pds-" + rand.Text(), verifier: v, account: aliceDID,
		tokenType: "DPoP", scope: "atproto transition:generic", asCalls: map[string]int{},
	}
	w.plc = httptest.NewServer(http.HandlerFunc(w.servePLC))
	w.pds = httptest.NewServer(http.HandlerFunc(w.servePDS))
	w.as = httptest.NewServer(http.HandlerFunc(w.serveAS))
	t.Cleanup(func() { w.plc.Close(); w.pds.Close(); w.as.Close() })
	w.meta = map[string]any{
		"issuer":                                           w.as.URL,
		"authorization_endpoint":                           w.as.URL + "/oauth/authorize",
		"token_endpoint":                                   w.as.URL + "/oauth/token",
		"pushed_authorization_request_endpoint":            w.as.URL + "/oauth/par",
		"require_pushed_authorization_requests":            true,
		"authorization_response_iss_parameter_supported":   true,
		"code_challenge_methods_supported":                 []string{"S256"},
		"dpop_signing_alg_values_supported":                []string{"ES256"},
		"token_endpoint_auth_methods_supported":            []string{"none", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256"},
		"scopes_supported":                                 []string{"atproto", "transition:generic"},
		"client_id_metadata_document_supported":            true,
		"protected_resources":                              []string{w.pds.URL},
	}
	w.resMeta = map[string]any{"resource": w.pds.URL, "authorization_servers": []string{w.as.URL}}
	w.docs[aliceDID] = w.didDoc(aliceDID, "alice.test", w.pds.URL)
	w.txt["_atproto.alice.test"] = []string{"did=" + aliceDID}
	w.hosts["alice.test"] = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/atproto-did" {
			fmt.Fprint(rw, aliceDID)
			return
		}
		http.NotFound(rw, r)
	})
	return w
}

func (w *world) didDoc(did, handle, pds string) string {
	b, _ := json.Marshal(map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1"},
		"id":          did,
		"alsoKnownAs": []string{"at://" + handle},
		"service":     []map[string]any{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}},
	})
	return string(b)
}

// resolver returns a Resolver wired to the world.
func (w *world) resolver() *Resolver {
	return &Resolver{
		PLCURL:     w.plc.URL,
		LookupTXT:  w.lookupTXT,
		HTTPClient: &http.Client{Transport: w},
		Timeout:    2 * time.Second,
	}
}

func (w *world) lookupTXT(_ context.Context, name string) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.txt[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", name)
}

// RoundTrip serves the in-process "https" hosts and passes loopback
// requests to the network.
func (w *world) RoundTrip(r *http.Request) (*http.Response, error) {
	if syntax.IsLoopbackHost(r.URL.Hostname()) {
		return http.DefaultTransport.RoundTrip(r)
	}
	w.mu.Lock()
	h := w.hosts[r.URL.Host]
	w.mu.Unlock()
	if h == nil || r.URL.Scheme != "https" {
		return nil, fmt.Errorf("dial %s: no such host", r.URL.Host)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err // as a real connection would end
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// app returns an App for the world; key nil makes a public loopback
// client.
func (w *world) app(key *client.ClientKey, store Store) *App {
	w.t.Helper()
	cfg := Config{
		ClientID:    LoopbackClientID("http://127.0.0.1:1/callback", "atproto transition:generic"),
		RedirectURI: "http://127.0.0.1:1/callback",
		Scope:       "atproto transition:generic",
		Resolver:    w.resolver(),
		Store:       store,
	}
	if key != nil {
		cfg.ClientID, cfg.ClientKey = "https://app.example/client-metadata.json", key
		w.mu.Lock()
		w.clientKey = key
		w.mu.Unlock()
	}
	a, err := NewApp(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// approve plays the user signing in and consenting: it returns the query
// of the redirect to the client.
func (w *world) approve(authURL string) url.Values {
	w.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ru := u.Query().Get("request_uri")
	p, ok := w.pushed[ru]
	if !ok || u.Query().Get("client_id") != p.Get("client_id") {
		w.t.Fatalf("authorization URL %s names no pushed request", authURL)
	}
	code := "code-" + rand.Text()
	w.codes[code] = ru
	return url.Values{"code": {code}, "state": {p.Get("state")}, "iss": {w.as.URL}}
}

func (w *world) servePLC(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	doc, ok := w.docs[strings.TrimPrefix(r.URL.Path, "/")]
	w.mu.Unlock()
	if !ok {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", "application/did+ld+json")
	fmt.Fprint(rw, doc)
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

func oauthErr(rw http.ResponseWriter, status int, code, desc string) {
	writeJSON(rw, status, map[string]string{"error": code, "error_description": desc})
}

// proof verifies the request's proof at a server whose nonce is nonce; it
// answers use_dpop_nonce (400 JSON at the AS, 401 challenge at the PDS)
// and reports false when the proof does not pass.
func (w *world) proof(rw http.ResponseWriter, r *http.Request, nonce, token, jkt string, atPDS bool) (*dpop.Proof, bool) {
	base := w.as.URL
	if atPDS {
		base = w.pds.URL
	}
	rw.Header().Set("DPoP-Nonce", nonce)
	p, err := w.verifier.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{
		Method: r.Method, URL: base + r.URL.Path, AccessToken: token, BoundKey: jkt, Nonce: nonce,
	})
	if err == nil {
		return p, true
	}
	code := dpop.ErrorCode(err)
	if atPDS {
		rw.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP algs="ES256", error=%q`, code))
		oauthErr(rw, http.StatusUnauthorized, code, err.Error())
	} else {
		oauthErr(rw, http.StatusBadRequest, code, err.Error())
	}
	return nil, false
}

func (w *world) serveAS(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asCalls[r.URL.Path]++
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server":
		writeJSON(rw, 200, w.meta)
		return
	case "/oauth/par", "/oauth/token":
		if w.failToken && r.URL.Path == "/oauth/token" {
			oauthErr(rw, http.StatusServiceUnavailable, "temporarily_unavailable", "down")
			return
		}
	default:
		http.NotFound(rw, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(rw, 400, "invalid_request", "form")
		return
	}
	f := r.PostForm
	if !w.authenticate(rw, f) {
		return
	}
	p, ok := w.proof(rw, r, w.asNonce, "", "", false)
	if !ok {
		return
	}
	if r.URL.Path == "/oauth/par" {
		if f.Get("code_challenge_method") != "S256" || f.Get("code_challenge") == "" || f.Get("state") == "" || f.Get("redirect_uri") == "" {
			oauthErr(rw, 400, "invalid_request", "PKCE S256, state and redirect_uri required")
			return
		}
		ru := "urn:ietf:params:oauth:request_uri:" + rand.Text()
		w.pushed[ru], w.pushedJKT[ru] = f, p.JKT
		writeJSON(rw, 201, map[string]any{"request_uri": ru, "expires_in": 300})
		return
	}
	did := w.account
	switch f.Get("grant_type") {
	case "authorization_code":
		ru, ok := w.codes[f.Get("code")]
		delete(w.codes, f.Get("code"))
		if !ok {
			oauthErr(rw, 400, "invalid_grant", "unknown code")
			return
		}
		pushed := w.pushed[ru]
		if oauth2.S256ChallengeFromVerifier(f.Get("code_verifier")) != pushed.Get("code_challenge") {
			oauthErr(rw, 400, "invalid_grant", "PKCE")
			return
		}
		if w.pushedJKT[ru] != p.JKT {
			oauthErr(rw, 400, "invalid_grant", "DPoP key differs from PAR")
			return
		}
	case "refresh_token":
		st, ok := w.refresh[f.Get("refresh_token")]
		switch {
		case !ok:
			oauthErr(rw, 400, "invalid_grant", "unknown refresh token")
			return
		case st.used:
			oauthErr(rw, 400, "invalid_grant", "Refresh token replayed")
			return
		case st.jkt != p.JKT:
			oauthErr(rw, 400, "invalid_grant", "DPoP key mismatch")
			return
		}
		st.used = true
		did = st.did
	default:
		oauthErr(rw, 400, "unsupported_grant_type", "")
		return
	}
	at, rt := "at-"+rand.Text(), "rt-"+rand.Text()
	w.access[at] = p.JKT
	w.refresh[rt] = &refreshState{did: did, jkt: p.JKT}
	sub := did
	if w.subFor != nil {
		sub = w.subFor(did)
	}
	writeJSON(rw, 200, map[string]any{
		"access_token": at, "token_type": w.tokenType, "refresh_token": rt, "expires_in": 300,
		"sub": sub, "scope": w.scope,
	})
}

// authenticate checks the client: the public loopback client by its
// client_id, the confidential one by a fresh private_key_jwt assertion.
func (w *world) authenticate(rw http.ResponseWriter, f url.Values) bool {
	id := f.Get("client_id")
	if strings.HasPrefix(id, "http://localhost") {
		if f.Has("client_assertion") {
			oauthErr(rw, 400, "invalid_client", "a public client sent an assertion")
			return false
		}
		return true
	}
	if w.clientKey == nil || f.Get("client_assertion_type") != client.ClientAssertionType {
		oauthErr(rw, 401, "invalid_client", "client authentication required")
		return false
	}
	tok, err := jwt.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
	var c jwt.Claims
	if err == nil {
		err = tok.Claims(w.clientKey.Public(), &c)
	}
	if err == nil {
		err = c.Validate(jwt.Expected{Issuer: id, Subject: id, AnyAudience: jwt.Audience{w.as.URL}, Time: time.Now()})
	}
	if err != nil || c.ID == "" || w.jtis[c.ID] {
		oauthErr(rw, 401, "invalid_client", fmt.Sprintf("client assertion refused: %v (jti seen %t)", err, w.jtis[c.ID]))
		return false
	}
	w.jtis[c.ID] = true
	return true
}

func (w *world) servePDS(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/oauth-protected-resource":
		if w.resMeta == nil { // moved: a redirect the resolver must not follow
			http.Redirect(rw, r, w.as.URL+"/.well-known/oauth-authorization-server", http.StatusFound)
			return
		}
		writeJSON(rw, 200, w.resMeta)
		return
	case "/xrpc/com.atproto.server.getSession":
	default:
		http.NotFound(rw, r)
		return
	}
	w.pdsCalls++
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	jkt, known := w.access[tok]
	if !ok || !known {
		rw.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="invalid_token"`)
		oauthErr(rw, 401, "invalid_token", "unknown token")
		return
	}
	if _, ok := w.proof(rw, r, w.pdsNonce, tok, jkt, true); !ok {
		return
	}
	writeJSON(rw, 200, map[string]any{"did": w.account, "handle": "alice.test"})
}

// login runs a whole login for input and returns the session.
func (w *world) login(a *App, input string) *Session {
	w.t.Helper()
	ctx := context.Background()
	req, err := a.Start(ctx, input)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := a.Callback(ctx, req, w.approve(req.URL))
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// getSession calls the PDS with the session's client and returns the DID
// it answers with.
func getSession(t *testing.T, s *Session) string {
	t.Helper()
	resp, err := s.Client().Get(s.PDS() + "/xrpc/com.atproto.server.getSession")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ DID string }
	if resp.StatusCode != 200 {
		t.Fatalf("getSession: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.DID
}
