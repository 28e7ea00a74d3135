package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/dpopkit/dpop"
)

// strictServer is a loopback authorization server and resource server in
// one httptest.Server, strict in the way real ones are: every proof is
// checked by a real dpop.Verifier (with its replay store), a nonce can be
// demanded from the first request on and rotated on success, refresh
// tokens and access tokens are bound to the proof key, and PAR requests are
// bound to the proof key too.
type strictServer struct {
	t   tbLike
	srv *httptest.Server
	v   *dpop.Verifier

	// Configuration, set before use.
	requireNonce bool   // demand a nonce from the first request
	rotateEvery  int    // hand out a new nonce after this many successes (0: never)
	tokenType    string // token_type to issue (default "DPoP")
	alwaysNonce  bool   // answer every request with use_dpop_nonce and a new nonce
	algs         string // algs for the RS challenge and metadata
	issuer       string // metadata issuer override

	mu        sync.Mutex
	nonce     string
	prevNonce string
	successes int
	proofs    []*dpop.Proof       // every proof that verified
	seen      []seenRequest       // every request
	refresh   map[string]string   // refresh token -> jkt
	access    map[string]string   // access token -> jkt ("" for Bearer)
	pushed    map[string]pushedAR // request_uri -> request
	codes     map[string]string   // code -> jkt
}

type seenRequest struct {
	Method, Path, Proof, Authorization, Body string
	Nonce                                    string // nonce claim of the proof, if it verified
}

type pushedAR struct {
	params map[string][]string
	jkt    string
}

// tbLike is the part of testing.TB the server needs.
type tbLike interface {
	Helper()
	Fatal(args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

func newStrictServer(t tbLike) *strictServer {
	t.Helper()
	s := &strictServer{
		t:       t,
		refresh: map[string]string{},
		access:  map[string]string{},
		pushed:  map[string]pushedAR{},
		codes:   map[string]string{},
		algs:    "ES256 PS256",
	}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.v = v
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /par", s.par)
	mux.HandleFunc("/resource/", s.resource)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *strictServer) URL() string { return s.srv.URL }

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// check verifies the request's proof; on failure it returns the dpop.Error
// and the nonce to send.
func (s *strictServer) check(r *http.Request, token, bound string) (*dpop.Proof, *dpop.Error) {
	s.mu.Lock()
	if s.requireNonce && s.nonce == "" {
		s.nonce = randomString()
	}
	want, prev := s.nonce, s.prevNonce
	always := s.alwaysNonce
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := seenRequest{Method: r.Method, Path: r.URL.Path, Proof: r.Header.Get("DPoP"), Authorization: r.Header.Get("Authorization"), Body: string(body)}
	defer func() {
		s.mu.Lock()
		s.seen = append(s.seen, rec)
		s.mu.Unlock()
	}()
	if always {
		s.mu.Lock()
		s.nonce = randomString()
		n := s.nonce
		s.mu.Unlock()
		return nil, &dpop.Error{Code: dpop.CodeUseNonce, Description: "nonce required", Nonce: n}
	}
	proof, err := dpop.ProofFromHeader(r.Header)
	if err != nil {
		var de *dpop.Error
		errors.As(err, &de)
		return nil, de
	}
	dr := dpop.Request{
		Method:      r.Method,
		URL:         s.srv.URL + r.URL.EscapedPath(),
		AccessToken: token,
		BoundKey:    bound,
		Nonce:       want,
	}
	p, err := s.v.Verify(r.Context(), proof, dr)
	if dpop.ErrorCode(err) == dpop.CodeUseNonce && prev != "" {
		// Like real servers, accept the previous nonce for a while
		// after a rotation (RFC 9449 §8: a window of recent nonces).
		dr.Nonce = prev
		if p2, err2 := s.v.Verify(r.Context(), proof, dr); err2 == nil {
			p, err = p2, nil
		}
	}
	if err != nil {
		var de *dpop.Error
		if !errors.As(err, &de) {
			s.t.Errorf("verifier returned a non-dpop error: %v", err)
			return nil, &dpop.Error{Code: dpop.CodeInvalidProof}
		}
		return nil, de
	}
	rec.Nonce = p.Nonce
	s.mu.Lock()
	s.proofs = append(s.proofs, p)
	s.mu.Unlock()
	return p, nil
}

// success records a successful request and sets a rotated nonce on w when
// one is due.
func (s *strictServer) success(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.successes++
	if s.rotateEvery > 0 && s.successes%s.rotateEvery == 0 {
		s.prevNonce, s.nonce = s.nonce, randomString()
		w.Header().Set("DPoP-Nonce", s.nonce)
		w.Header().Set("Cache-Control", "no-store")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func asError(w http.ResponseWriter, e *dpop.Error) {
	if e.Nonce != "" {
		w.Header().Set("DPoP-Nonce", e.Nonce)
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": e.Code, "error_description": e.Description})
}

func (s *strictServer) token(w http.ResponseWriter, r *http.Request) {
	p, e := s.check(r, "", "")
	if e != nil {
		asError(w, e)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		jkt, ok := s.codes[r.PostForm.Get("code")]
		delete(s.codes, r.PostForm.Get("code"))
		if !ok || (jkt != "" && jkt != p.JKT) {
			s.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
	case "refresh_token":
		jkt, ok := s.refresh[r.PostForm.Get("refresh_token")]
		if !ok || jkt != p.JKT {
			s.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "refresh token bound to another key"})
			return
		}
		delete(s.refresh, r.PostForm.Get("refresh_token"))
	case "client_credentials":
	default:
		s.mu.Unlock()
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	typ := s.tokenType
	if typ == "" {
		typ = "DPoP"
	}
	at, rt := "at-"+randomString(), "rt-"+randomString()
	if strings.EqualFold(typ, "DPoP") {
		s.access[at] = p.JKT
	} else {
		s.access[at] = ""
	}
	s.refresh[rt] = p.JKT
	s.mu.Unlock()
	s.success(w)
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": typ, "expires_in": 3600, "refresh_token": rt})
}

func (s *strictServer) par(w http.ResponseWriter, r *http.Request) {
	p, e := s.check(r, "", "")
	if e != nil {
		asError(w, e)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	if j := r.PostForm.Get("dpop_jkt"); j != "" && j != p.JKT {
		writeJSON(w, 400, map[string]string{"error": "invalid_dpop_proof", "error_description": "dpop_jkt does not match the proof key"})
		return
	}
	if r.PostForm.Get("client_id") == "" || r.PostForm.Get("response_type") != "code" {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	uri := "urn:ietf:params:oauth:request_uri:" + randomString()
	s.mu.Lock()
	s.pushed[uri] = pushedAR{params: r.PostForm, jkt: p.JKT}
	s.mu.Unlock()
	s.success(w)
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": 60})
}

func (s *strictServer) resource(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	jkt, known := s.access[tok]
	s.mu.Unlock()
	challenge := func(code, desc string, nonce string) {
		v := fmt.Sprintf(`DPoP algs=%q`, s.algs)
		if code != "" {
			v = fmt.Sprintf(`DPoP error=%q, error_description=%q, algs=%q`, code, desc, s.algs)
		}
		w.Header().Set("WWW-Authenticate", v)
		if nonce != "" {
			w.Header().Set("DPoP-Nonce", nonce)
		}
		w.WriteHeader(http.StatusUnauthorized)
	}
	switch {
	case strings.EqualFold(scheme, "Bearer") && known && jkt == "":
		// An unbound token issued as Bearer: no proof needed.
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Proof: r.Header.Get("DPoP")})
		s.mu.Unlock()
	case strings.EqualFold(scheme, "DPoP") && known && jkt != "":
		if _, e := s.check(r, tok, jkt); e != nil {
			challenge(e.Code, e.Description, e.Nonce)
			return
		}
	default:
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), Proof: r.Header.Get("DPoP")})
		s.mu.Unlock()
		challenge("invalid_token", "unknown token", "")
		return
	}
	s.success(w)
	w.Header().Set("Content-Type", "text/plain")
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "hello %s %s", r.URL.Path, body)
}

func (s *strictServer) metadata(w http.ResponseWriter, r *http.Request) {
	iss := s.srv.URL
	if s.issuer != "" {
		iss = s.issuer
	}
	m := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                s.srv.URL + "/authorize",
		"token_endpoint":                        s.srv.URL + "/token",
		"pushed_authorization_request_endpoint": s.srv.URL + "/par",
		"code_challenge_methods_supported":      []string{"S256"},
	}
	if s.algs != "" {
		m["dpop_signing_alg_values_supported"] = strings.Fields(s.algs)
	}
	writeJSON(w, 200, m)
}

// issueToken registers an access token bound to k (or unbound with "").
func (s *strictServer) issueToken(jkt string) string {
	tok := "at-" + randomString()
	s.mu.Lock()
	s.access[tok] = jkt
	s.mu.Unlock()
	return tok
}

func (s *strictServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

func (s *strictServer) verified() []*dpop.Proof {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*dpop.Proof(nil), s.proofs...)
}

func (s *strictServer) currentNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nonce
}

var testKeyOnce = sync.OnceValues(func() (*dpop.Key, error) { return dpop.GenerateKey(dpop.ES256) })

func testKey(t testing.TB) *dpop.Key {
	t.Helper()
	k, err := testKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// do sends a request through c and returns status and body.
func do(t testing.TB, c *http.Client, method, url, auth, body string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
