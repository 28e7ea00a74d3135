package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

// decodeSegment decodes one segment of a compact JWS into a map.
func decodeSegment(t *testing.T, proof string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q is not a compact JWS", proof)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTransportProofShape(t *testing.T) {
	s := newStrictServer(t)
	k := testKey(t)
	tok := s.issueToken(k.Thumbprint())
	c := &http.Client{Transport: &Transport{Key: k}}
	for range 2 {
		if st, body, _ := do(t, c, "GET", s.URL()+"/resource/a?x=1#frag", "DPoP "+tok, ""); st != 200 {
			t.Fatalf("status %d %s", st, body)
		}
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	jtis := map[string]bool{}
	for _, r := range reqs {
		h := decodeSegment(t, r.Proof, 0)
		if h["typ"] != "dpop+jwt" || h["alg"] != "ES256" {
			t.Errorf("header %v", h)
		}
		jwk, _ := h["jwk"].(map[string]any)
		if jwk == nil || jwk["d"] != nil || jwk["kty"] != "EC" {
			t.Errorf("jwk %v", jwk)
		}
		c := decodeSegment(t, r.Proof, 1)
		if c["htm"] != "GET" || c["htu"] != s.URL()+"/resource/a" {
			t.Errorf("htm/htu %v %v", c["htm"], c["htu"])
		}
		if c["ath"] != dpop.AccessTokenHash(tok) {
			t.Errorf("ath %v", c["ath"])
		}
		if _, ok := c["iat"].(float64); !ok {
			t.Errorf("iat %v", c["iat"])
		}
		jti, _ := c["jti"].(string)
		if len(jti) < 16 || jtis[jti] {
			t.Errorf("jti %q missing or reused", jti)
		}
		jtis[jti] = true
		if r.Authorization != "DPoP "+tok {
			t.Errorf("Authorization %q", r.Authorization)
		}
	}
	if n := len(s.verified()); n != 2 {
		t.Errorf("%d proofs verified, want 2", n)
	}
}

func TestTransportWhichRequestsAreSigned(t *testing.T) {
	var got []http.Header
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
	}))
	defer srv.Close()
	k := testKey(t)
	for _, tc := range []struct {
		name       string
		signBearer bool
		auth       string
		proof      bool
		ath        string
	}{
		{"no authorization", false, "", true, ""},
		{"basic client auth", false, "Basic Y2xpZW50OnNlY3JldA==", true, ""},
		{"dpop token", false, "DPoP tok.en-1", true, dpop.AccessTokenHash("tok.en-1")},
		{"dpop scheme lower case", false, "dpop tok", true, dpop.AccessTokenHash("tok")},
		{"bearer token", false, "Bearer tok", false, ""},
		{"bearer with SignBearer", true, "Bearer tok", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			c := &http.Client{Transport: &Transport{Key: k, SignBearer: tc.signBearer}}
			do(t, c, "GET", srv.URL+"/x", tc.auth, "")
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			proof := got[0].Get("DPoP")
			if (proof != "") != tc.proof {
				t.Fatalf("proof present = %v, want %v", proof != "", tc.proof)
			}
			if got[0].Get("Authorization") != tc.auth {
				t.Errorf("Authorization changed to %q", got[0].Get("Authorization"))
			}
			if proof == "" {
				return
			}
			ath, _ := decodeSegment(t, proof, 1)["ath"].(string)
			if ath != tc.ath {
				t.Errorf("ath %q, want %q", ath, tc.ath)
			}
		})
	}
}

func TestTransportDoesNotMutateRequest(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	c := &http.Client{Transport: &Transport{Key: testKey(t)}}
	req, err := http.NewRequest("POST", s.URL()+"/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	before := req.Header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if fmt.Sprint(req.Header) != fmt.Sprint(before) {
		t.Errorf("caller's header changed: %v -> %v", before, req.Header)
	}
}

// TestTransportNonceRetryAuthorizationServer: the AS demands a nonce on the
// first call (400 JSON use_dpop_nonce); the transport retries once with a
// new proof carrying it and the replayed body.
func TestTransportNonceRetryAuthorizationServer(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	c := &http.Client{Transport: &Transport{Key: testKey(t)}}
	st, body, _ := do(t, c, "POST", s.URL()+"/token", "", "grant_type=client_credentials")
	if st != 200 {
		t.Fatalf("status %d %s", st, body)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].Proof == reqs[1].Proof {
		t.Error("retry reused the proof")
	}
	if reqs[1].Body != "grant_type=client_credentials" {
		t.Errorf("retried body %q", reqs[1].Body)
	}
	if reqs[1].Nonce == "" || reqs[1].Nonce != s.currentNonce() {
		t.Errorf("retry nonce %q, server nonce %q", reqs[1].Nonce, s.currentNonce())
	}
	j0 := decodeSegment(t, reqs[0].Proof, 1)["jti"]
	j1 := decodeSegment(t, reqs[1].Proof, 1)["jti"]
	if j0 == j1 {
		t.Error("retry reused the jti")
	}
}

// TestTransportNonceRetryResourceServer: the RS answers 401 with several
// challenges, DPoP error="use_dpop_nonce" among them.
func TestTransportNonceRetryResourceServer(t *testing.T) {
	var calls atomic.Int32
	k := testKey(t)
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		_, err := v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{
			Method: r.Method, URL: srv.URL + r.URL.Path, AccessToken: tok, BoundKey: k.Thumbprint(), Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v",
		})
		if dpop.ErrorCode(err) == dpop.CodeUseNonce {
			w.Header().Set("DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v")
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="x, y", DPoP algs="ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
			w.WriteHeader(401)
			return
		}
		if err != nil {
			t.Errorf("verify: %v", err)
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{Key: k}}
	st, body, _ := do(t, c, "PUT", srv.URL+"/r", "DPoP tok", "payload")
	if st != 200 || body != "ok" {
		t.Fatalf("status %d %q", st, body)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d calls, want 2", calls.Load())
	}
	// The nonce is now known: the next request needs no retry.
	do(t, c, "PUT", srv.URL+"/r", "DPoP tok", "payload")
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
}

// TestTransportRetryIsBounded: a server that always answers use_dpop_nonce
// with a new nonce sees exactly two requests; the client gets its answer.
func TestTransportRetryIsBounded(t *testing.T) {
	s := newStrictServer(t)
	s.alwaysNonce = true
	c := &http.Client{Transport: &Transport{Key: testKey(t)}}
	st, body, _ := do(t, c, "POST", s.URL()+"/token", "", "grant_type=client_credentials")
	if st != 400 || !strings.Contains(body, "use_dpop_nonce") {
		t.Fatalf("status %d %s", st, body)
	}
	if n := len(s.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// TestTransportNonceRotation: nonces handed out on 200 responses replace
// the old one and are used from the next request on.
func TestTransportNonceRotation(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	s.rotateEvery = 2
	k := testKey(t)
	tr := &Transport{Key: k}
	c := &http.Client{Transport: tr}
	for i := range 7 {
		if st, body, _ := do(t, c, "POST", s.URL()+"/token", "", "grant_type=client_credentials"); st != 200 {
			t.Fatalf("request %d: status %d %s", i, st, body)
		}
	}
	// One retry for the first request only: every rotation arrived on a
	// 200 and was used right away.
	reqs := s.requests()
	if len(reqs) != 8 {
		t.Fatalf("%d requests, want 8", len(reqs))
	}
	nonces := map[string]bool{}
	for _, r := range reqs[1:] {
		if r.Nonce == "" {
			t.Fatalf("request without nonce after the first")
		}
		nonces[r.Nonce] = true
	}
	if len(nonces) != 4 {
		t.Errorf("%d distinct nonces used, want 4", len(nonces))
	}
	if got := tr.NonceCache().Get(Origin(mustURL(t, s.URL()))); got != s.currentNonce() {
		t.Errorf("cached nonce %q, server's %q", got, s.currentNonce())
	}
}

// TestTransportNoncesPerOrigin: an AS and two RSs each keep their own
// nonce; none is sent to another server.
func TestTransportNoncesPerOrigin(t *testing.T) {
	k := testKey(t)
	as, rs1, rs2 := newStrictServer(t), newStrictServer(t), newStrictServer(t)
	for _, s := range []*strictServer{as, rs1, rs2} {
		s.requireNonce = true
	}
	tr := &Transport{Key: k}
	c := &http.Client{Transport: tr}
	tok1, tok2 := rs1.issueToken(k.Thumbprint()), rs2.issueToken(k.Thumbprint())
	for range 2 {
		if st, _, _ := do(t, c, "POST", as.URL()+"/token", "", "grant_type=client_credentials"); st != 200 {
			t.Fatal(st)
		}
		if st, _, _ := do(t, c, "GET", rs1.URL()+"/resource/1", "DPoP "+tok1, ""); st != 200 {
			t.Fatal(st)
		}
		if st, _, _ := do(t, c, "GET", rs2.URL()+"/resource/2", "DPoP "+tok2, ""); st != 200 {
			t.Fatal(st)
		}
	}
	seen := map[string]bool{}
	for _, s := range []*strictServer{as, rs1, rs2} {
		n := s.currentNonce()
		if seen[n] {
			t.Fatal("two servers issued the same nonce")
		}
		seen[n] = true
		if got := tr.NonceCache().Get(Origin(mustURL(t, s.URL()))); got != n {
			t.Errorf("cache for %s = %q, want %q", s.URL(), got, n)
		}
		reqs := s.requests()
		if len(reqs) != 3 { // first call, its retry, second call
			t.Errorf("%s: %d requests, want 3", s.URL(), len(reqs))
		}
		for _, r := range reqs[1:] {
			if r.Nonce != n {
				t.Errorf("%s received nonce %q, its own is %q", s.URL(), r.Nonce, n)
			}
		}
	}
}

// onlyReader hides everything but Read, so http.NewRequest cannot set
// GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestTransportBodyNotReplayable: without GetBody the use_dpop_nonce
// answer comes back as it came (body intact), and the nonce is learnt.
func TestTransportBodyNotReplayable(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	c := &http.Client{Transport: &Transport{Key: testKey(t)}}
	req, err := http.NewRequest("POST", s.URL()+"/token", onlyReader{strings.NewReader("grant_type=client_credentials")})
	if err != nil {
		t.Fatal(err)
	}
	if req.GetBody != nil {
		t.Fatal("test needs a request without GetBody")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"use_dpop_nonce"`) || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	// The learnt nonce makes the next attempt succeed first time.
	req, _ = http.NewRequest("POST", s.URL()+"/token", onlyReader{strings.NewReader("grant_type=client_credentials")})
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(s.requests()) != 2 {
		t.Fatalf("status %d after %d requests", resp.StatusCode, len(s.requests()))
	}
}

// TestTransportConcurrent: many goroutines share one transport and its
// nonce cache while the server demands a nonce and rotates it.
func TestTransportConcurrent(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	s.rotateEvery = 25
	k := testKey(t)
	tok := s.issueToken(k.Thumbprint())
	tr := &Transport{Key: k}
	c := &http.Client{Transport: tr}
	for wave := range 3 {
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/resource/%d", s.URL(), i), strings.NewReader("b"))
				req.Header.Set("Authorization", "DPoP "+tok)
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("wave %d request %d: status %d", wave, i, resp.StatusCode)
				}
			}()
		}
		wg.Wait()
	}
	if n := len(s.verified()); n != 120 {
		t.Errorf("%d proofs verified, want 120", n)
	}
	if got := tr.NonceCache().Get(Origin(mustURL(t, s.URL()))); got != s.currentNonce() {
		t.Errorf("cached nonce %q, server's %q", got, s.currentNonce())
	}
}

func TestTransportRefusesPlainHTTP(t *testing.T) {
	var sent atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})
	tr := &Transport{Key: testKey(t), Base: base}
	for _, tc := range []struct {
		url, auth string
		ok        bool
	}{
		{"http://example.com/token", "", false},
		{"http://example.com/r", "DPoP tok", false},
		{"http://10.0.0.1/r", "", false},
		{"http://127.0.0.1:8080/token", "", true},
		{"http://127.1.2.3/token", "", true},
		{"http://[::1]:9/token", "DPoP tok", true},
		{"http://LOCALHOST/token", "", true},
		{"https://example.com/token", "", true},
		{"http://example.com/r", "Bearer tok", true}, // no proof to protect
		{"ftp://example.com/x", "", false},
	} {
		body := &closeRecorder{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest("POST", tc.url, body)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		before := sent.Load()
		resp, err := tr.RoundTrip(req)
		if tc.ok != (err == nil) {
			t.Errorf("%s %q: err %v", tc.url, tc.auth, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInsecureURL) {
				t.Errorf("%s: error %v is not ErrInsecureURL", tc.url, err)
			}
			if sent.Load() != before {
				t.Errorf("%s: request was sent", tc.url)
			}
			if !body.closed.Load() {
				t.Errorf("%s: request body not closed on error", tc.url)
			}
		} else {
			resp.Body.Close()
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestTransportClosesDiscardedBodies: the response of the first attempt is
// closed by the transport; the returned one is left to the caller.
func TestTransportClosesDiscardedBodies(t *testing.T) {
	s := newStrictServer(t)
	s.requireNonce = true
	var bodies []*closeRecorder
	var mu sync.Mutex
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		cr := &closeRecorder{Reader: resp.Body}
		orig := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{cr, closerFunc(func() error { cr.Close(); return orig.Close() })}
		mu.Lock()
		bodies = append(bodies, cr)
		mu.Unlock()
		return resp, nil
	})
	tr := &Transport{Key: testKey(t), Base: base}
	req, _ := http.NewRequest("POST", s.URL()+"/token", strings.NewReader("grant_type=client_credentials"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || !bodies[0].closed.Load() || bodies[1].closed.Load() {
		t.Fatalf("bodies %d, first closed %v", len(bodies), len(bodies) > 0 && bodies[0].closed.Load())
	}
	resp.Body.Close()
	if !bodies[1].closed.Load() {
		t.Error("returned body not closed through resp.Body")
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// TestTransportRedirects: a redirected request is a new request with a
// proof for its own URL; Authorization: DPoP never crosses origins.
func TestTransportRedirects(t *testing.T) {
	k := testKey(t)
	s := newStrictServer(t)
	tok := s.issueToken(k.Thumbprint())
	other := newStrictServer(t)
	otherTok := other.issueToken(k.Thumbprint()) // a token that would work there
	_ = otherTok
	mux := http.NewServeMux()
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.URL()+"/resource/moved", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/cross", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL()+"/resource/elsewhere", http.StatusTemporaryRedirect)
	})
	// The redirecting endpoints live on the same origin as s, via a
	// wrapper around s's handler.
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" || r.URL.Path == "/cross" {
			mux.ServeHTTP(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	})
	c := &http.Client{Transport: &Transport{Key: k}}

	st, body, _ := do(t, c, "POST", s.URL()+"/same", "DPoP "+tok, "data")
	if st != 200 || body != "hello /resource/moved data" {
		t.Fatalf("same-origin redirect: %d %q", st, body)
	}
	p := s.verified()
	if len(p) != 1 || p[0].HTU != s.URL()+"/resource/moved" || p[0].ATH != dpop.AccessTokenHash(tok) {
		t.Fatalf("same-origin redirect proofs %+v", p)
	}

	st, _, _ = do(t, c, "POST", s.URL()+"/cross", "DPoP "+tok, "data")
	if st != 401 {
		t.Fatalf("cross-origin redirect: status %d, want 401 (no token)", st)
	}
	reqs := other.requests()
	if len(reqs) != 1 {
		t.Fatalf("other origin saw %d requests", len(reqs))
	}
	if reqs[0].Authorization != "" {
		t.Errorf("Authorization %q crossed origins", reqs[0].Authorization)
	}
	if reqs[0].Proof == "" {
		t.Fatal("redirected request has no proof")
	}
	cl := decodeSegment(t, reqs[0].Proof, 1)
	if cl["htu"] != other.URL()+"/resource/elsewhere" || cl["ath"] != nil {
		t.Errorf("cross-origin proof claims %v", cl)
	}
}

// TestTransportClockOffset: a client whose clock is 5 minutes slow gets
// invalid_dpop_proof; with CorrectClock it learns the offset from Date and
// the retry passes.
func TestTransportClockOffset(t *testing.T) {
	slow := func() time.Time { return time.Now().Add(-5 * time.Minute) }
	for _, correct := range []bool{false, true} {
		t.Run(fmt.Sprint("CorrectClock=", correct), func(t *testing.T) {
			s := newStrictServer(t)
			s.requireNonce = true
			tr := &Transport{Key: testKey(t), CorrectClock: correct, Now: slow}
			c := &http.Client{Transport: tr}
			st, body, _ := do(t, c, "POST", s.URL()+"/token", "", "grant_type=client_credentials")
			origin := Origin(mustURL(t, s.URL()))
			if !correct {
				if st != 400 || !strings.Contains(body, "invalid_dpop_proof") {
					t.Fatalf("got %d %s", st, body)
				}
				if tr.ClockOffset(origin) != 0 {
					t.Error("offset learnt without CorrectClock")
				}
				return
			}
			if st != 200 {
				t.Fatalf("got %d %s", st, body)
			}
			// old iat, then corrected iat without nonce, then with nonce.
			if n := len(s.requests()); n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
			off := tr.ClockOffset(origin)
			if off < 4*time.Minute+50*time.Second || off > 5*time.Minute+10*time.Second {
				t.Errorf("offset %v", off)
			}
			if st, _, _ := do(t, c, "POST", s.URL()+"/token", "", "grant_type=client_credentials"); st != 200 {
				t.Errorf("second request %d", st)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://AS.example.com/token":   "https://as.example.com:443",
		"https://as.example.com:443/x":   "https://as.example.com:443",
		"https://as.example.com:8443/x":  "https://as.example.com:8443",
		"http://127.0.0.1/x":             "http://127.0.0.1:80",
		"HTTP://[::1]:9000/x?y":          "http://[::1]:9000",
		"https://rs.example.com/a#frag":  "https://rs.example.com:443",
		"https://rs.example.com.:443/ab": "https://rs.example.com.:443",
	} {
		if got := Origin(mustURL(t, in)); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMemoryNonceCache(t *testing.T) {
	var c MemoryNonceCache
	if c.Get("https://a:443") != "" {
		t.Fatal("zero cache not empty")
	}
	c.Set("https://a:443", "n1")
	c.Set("https://b:443", "n2")
	c.Set("https://a:443", "n3")
	snap := c.Snapshot()
	if len(snap) != 2 || snap["https://a:443"] != "n3" {
		t.Fatalf("snapshot %v", snap)
	}
	snap["https://a:443"] = "changed"
	if c.Get("https://a:443") != "n3" {
		t.Error("snapshot aliases the cache")
	}
	var d MemoryNonceCache
	d.Load(c.Snapshot())
	if d.Get("https://b:443") != "n2" {
		t.Error("Load lost an entry")
	}
}

// TestTransportIgnoresBadNonces: several DPoP-Nonce fields or a value that
// is not 1*NQCHAR are not stored; an opaque valid value is kept as is.
func TestTransportIgnoresBadNonces(t *testing.T) {
	var values []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range values {
			w.Header().Add("DPoP-Nonce", v)
		}
	}))
	defer srv.Close()
	tr := &Transport{Key: testKey(t)}
	c := &http.Client{Transport: tr}
	origin := Origin(mustURL(t, srv.URL))
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~"}, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
		{[]string{"a b"}, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
		{[]string{`q"uote`}, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
		{[]string{"one", "two"}, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
		{[]string{"eyJ7S_zG.eyJbYu3.xQmBj-1"}, "eyJ7S_zG.eyJbYu3.xQmBj-1"},
	} {
		values = tc.values
		do(t, c, "GET", srv.URL, "", "")
		if got := tr.NonceCache().Get(origin); got != tc.want {
			t.Errorf("after %q: cached %q, want %q", tc.values, got, tc.want)
		}
	}
}

// TestTransportRetryConditions: which answers lead to the one retry.
func TestTransportRetryConditions(t *testing.T) {
	const nonceErr = `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`
	for _, tc := range []struct {
		name      string
		status    int
		ctype     string
		body      string
		challenge string
		nonce     string
		calls     int
	}{
		{"AS figure 20", 400, "application/json", nonceErr, "", "eyJ7S_zG.eyJH0-Z.HX4w-7v", 2},
		{"AS json with charset", 400, "application/json; charset=utf-8", nonceErr, "", "n1", 2},
		{"AS without content type", 400, "", nonceErr, "", "n1", 2},
		{"AS html", 400, "text/html", nonceErr, "", "n1", 1},
		{"AS no nonce header", 400, "application/json", nonceErr, "", "", 1},
		{"AS invalid nonce header", 400, "application/json", nonceErr, "", "a b", 1},
		{"AS other error", 400, "application/json", `{"error":"invalid_grant"}`, "", "n1", 1},
		{"AS nonce error with 401", 401, "application/json", nonceErr, "", "n1", 1},
		{"RS figure 23", 401, "", "", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`, "n1", 2},
		{"RS bearer only", 401, "", "", `Bearer error="use_dpop_nonce"`, "n1", 1},
		{"RS other error", 401, "", "", `DPoP error="invalid_token"`, "n1", 1},
		{"RS nonce error with 403", 403, "", "", `DPoP error="use_dpop_nonce"`, "n1", 1},
		{"success", 200, "application/json", nonceErr, "", "n1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			var lastBody string
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				b, _ := io.ReadAll(r.Body)
				lastBody = string(b)
				h := http.Header{}
				if tc.ctype != "" {
					h.Set("Content-Type", tc.ctype)
				}
				if tc.challenge != "" {
					h.Set("WWW-Authenticate", tc.challenge)
				}
				if tc.nonce != "" && calls == 1 {
					h.Set("DPoP-Nonce", tc.nonce)
				}
				return &http.Response{StatusCode: tc.status, Header: h, Body: io.NopCloser(strings.NewReader(tc.body)), Request: r}, nil
			})
			tr := &Transport{Key: testKey(t), Base: base}
			req, _ := http.NewRequest("POST", "https://as.example/token", strings.NewReader("grant_type=x"))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			if string(body) != tc.body {
				t.Errorf("returned body %q, want %q", body, tc.body)
			}
			if lastBody != "grant_type=x" {
				t.Errorf("last request body %q", lastBody)
			}
		})
	}
}
