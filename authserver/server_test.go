package authserver

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// testServer is a minimal authorization server over httptest on 127.0.0.1:
// PAR, an authorization endpoint that approves at once, and a token
// endpoint for authorization_code and refresh_token. It stores the bindings
// the package returns, as a real server would.
type testServer struct {
	*httptest.Server
	as *AS

	mu       sync.Mutex
	requests map[string]string // request_uri → jkt
	codes    map[string]string // code → jkt
	refresh  map[string]string // refresh token → jkt
}

func newTestServer(t *testing.T, nonces dpop.NonceSource) *testServer {
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	as, err := New(Options{Verifier: v, TokenURL: base + "/token", PARURL: base + "/par"})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{Server: srv, as: as, requests: map[string]string{}, codes: map[string]string{}, refresh: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /par", s.par)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

func random() string { return rand.Text() }

func (s *testServer) par(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	jkt, err := s.as.PARRequest(r.Context(), r, r.PostForm)
	if err != nil {
		WriteError(w, err)
		return
	}
	uri := "urn:ietf:params:oauth:request_uri:" + random()
	s.mu.Lock()
	s.requests[uri] = jkt
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"request_uri": uri, "expires_in": 60})
}

func (s *testServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var jkt string
	if uri := q.Get("request_uri"); uri != "" {
		s.mu.Lock()
		j, ok := s.requests[uri]
		delete(s.requests, uri)
		s.mu.Unlock()
		if !ok {
			http.Error(w, "unknown request_uri", http.StatusBadRequest)
			return
		}
		jkt = j
	} else {
		j, err := AuthorizationJKT(q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		jkt = j
	}
	code := random()
	s.mu.Lock()
	s.codes[code] = jkt
	s.mu.Unlock()
	_, _ = w.Write([]byte(code))
}

func (s *testServer) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	req := TokenRequest{Client: Client{ID: r.PostForm.Get("client_id"), Public: true}, GrantType: r.PostForm.Get("grant_type")}
	var store map[string]string
	var grant string
	switch req.GrantType {
	case "authorization_code":
		store, grant = s.codes, r.PostForm.Get("code")
	case "refresh_token":
		store, grant = s.refresh, r.PostForm.Get("refresh_token")
	default:
		WriteError(w, NewError(400, "unsupported_grant_type", "", nil))
		return
	}
	s.mu.Lock()
	jkt, ok := store[grant]
	s.mu.Unlock()
	if !ok {
		WriteError(w, NewError(400, CodeInvalidGrant, "", nil))
		return
	}
	req.GrantJKT = jkt
	b, err := s.as.TokenRequest(r.Context(), r, req)
	if err != nil {
		// A refused request does not consume the grant.
		WriteError(w, err)
		return
	}
	rt := random()
	s.mu.Lock()
	if _, still := store[grant]; !still {
		s.mu.Unlock()
		WriteError(w, NewError(400, CodeInvalidGrant, "", nil))
		return
	}
	delete(store, grant)
	s.refresh[rt] = b.RefreshTokenJKT
	s.mu.Unlock()
	if err := s.as.IssueNonce(r.Context(), w); err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": random(), "token_type": b.TokenType, "refresh_token": rt, "cnf": NewConfirmation(b.JKT)})
}

// testClient sends form posts with proofs from key, keeping the server's
// latest nonce and retrying once on use_dpop_nonce, as RFC 9449 §8 asks.
type testClient struct {
	t     *testing.T
	key   *dpop.Key
	nonce string
}

type response struct {
	status       int
	header       http.Header
	Error        string         `json:"error"`
	TokenType    string         `json:"token_type"`
	RefreshToken string         `json:"refresh_token"`
	RequestURI   string         `json:"request_uri"`
	Cnf          map[string]any `json:"cnf"`
	retries      int
}

func (c *testClient) post(u string, form url.Values) response {
	c.t.Helper()
	var res response
	for attempt := 0; attempt < 2; attempt++ {
		var opts []dpop.ProofOption
		if c.nonce != "" {
			opts = append(opts, dpop.WithNonce(c.nonce))
		}
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", testkit.Proof(c.t, c.key, http.MethodPost, u, opts...))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c.t.Fatal(err)
		}
		res = response{status: resp.StatusCode, header: resp.Header, retries: attempt}
		_ = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.nonce = n
		}
		if !(resp.StatusCode == 400 && res.Error == dpop.CodeUseNonce) {
			break
		}
	}
	return res
}

func (s *testServer) code(t *testing.T, query url.Values) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/authorize?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("authorize: %d %s %v", resp.StatusCode, b, err)
	}
	return string(b)
}

// TestFlow runs PAR, authorization, code redemption and refresh against a
// server on 127.0.0.1 with AS nonces: the PAR proof binds the code
// (AS-10.1-02, AS-10-02), the refresh token of the public client is bound
// (AS-5-04, AS-5-05), use_dpop_nonce is answered and healed (AS-8-02,
// AS-8.2-01), and a resource server's nonce is refused (cross-scope).
func TestFlow(t *testing.T) {
	s := newTestServer(t, nonceSource(t, "as"))
	alice := &testClient{t: t, key: testkit.KeyAlg(t, dpop.ES256)}
	mallory := &testClient{t: t, key: testkit.KeyAlg(t, dpop.ES256)}

	// PAR: the first attempt has no nonce and is retried once.
	par := alice.post(s.URL+"/par", url.Values{"response_type": {"code"}, "client_id": {"spa"}})
	if par.status != 201 || par.retries != 1 || par.RequestURI == "" {
		t.Fatalf("PAR: %+v", par)
	}
	code := s.code(t, url.Values{"client_id": {"spa"}, "request_uri": {par.RequestURI}})

	// Mallory steals the code: another key → invalid_grant.
	got := mallory.post(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"spa"}})
	if got.status != 400 || got.Error != CodeInvalidGrant || got.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stolen code: %+v", got)
	}

	// Alice redeems it; her nonce from PAR is accepted at the token endpoint
	// (same server, same scope) and the response hands her the next one.
	tok := alice.post(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"spa"}})
	if tok.status != 200 || tok.retries != 0 || tok.TokenType != "DPoP" || tok.Cnf["jkt"] != alice.key.Thumbprint() {
		t.Fatalf("redeem: %+v", tok)
	}
	if n := tok.header.Values("DPoP-Nonce"); len(n) != 1 || tok.header.Get("Cache-Control") != "no-store" {
		t.Errorf("nonce on success: %q, %q", n, tok.header.Get("Cache-Control"))
	}

	// The code is single-use.
	if again := alice.post(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); again.Error != CodeInvalidGrant {
		t.Errorf("code reused: %+v", again)
	}

	// Mallory gets Alice's nonce but not her key: the bound refresh token
	// is refused.
	mallory.nonce = alice.nonce
	got = mallory.post(s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if got.status != 400 || got.Error != CodeInvalidGrant {
		t.Fatalf("stolen refresh token: %+v", got)
	}

	// A resource server's nonce (same secret, scope "rs") is refused, and
	// the client heals with the fresh AS nonce.
	rsNonce, _ := nonceSource(t, "rs").Nonce(t.Context())
	alice.nonce = rsNonce
	ref := alice.post(s.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if ref.status != 200 || ref.retries != 1 || ref.TokenType != "DPoP" || ref.Cnf["jkt"] != alice.key.Thumbprint() {
		t.Fatalf("refresh: %+v", ref)
	}

	// Without PAR: dpop_jkt on the authorization request binds the code.
	code = s.code(t, url.Values{"client_id": {"spa"}, "dpop_jkt": {alice.key.Thumbprint()}})
	if got := mallory.post(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); got.Error != CodeInvalidGrant {
		t.Fatalf("dpop_jkt code, other key: %+v", got)
	}
	if got := alice.post(s.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}}); got.status != 200 {
		t.Fatalf("dpop_jkt code: %+v", got)
	}
}
