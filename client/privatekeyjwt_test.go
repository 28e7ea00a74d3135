package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// assertionServer is a token and PAR endpoint that demands a DPoP nonce
// on the first request of each kind and verifies every client assertion
// it sees, refusing a jti it has seen before (as the AT Protocol's
// servers do).
type assertionServer struct {
	*httptest.Server
	key      *ClientKey
	clientID string

	mu       sync.Mutex
	jtis     []string
	seen     map[string]bool
	basic    int
	refusals []string
	nonceFor map[string]bool
}

func newAssertionServer(t *testing.T, key *ClientKey, clientID string) *assertionServer {
	t.Helper()
	s := &assertionServer{key: key, clientID: clientID, seen: map[string]bool{}, nonceFor: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *assertionServer) refuse(w http.ResponseWriter, status int, code, desc string) {
	s.refusals = append(s.refusals, code+": "+desc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, code, desc)
}

func (s *assertionServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		s.refuse(w, 400, "invalid_request", "form")
		return
	}
	if _, _, ok := r.BasicAuth(); ok {
		s.basic++
		s.refuse(w, 401, "invalid_client", "basic credentials sent with an assertion client")
		return
	}
	if r.PostForm.Get("client_assertion_type") != ClientAssertionType {
		s.refuse(w, 401, "invalid_client", "client_assertion_type")
		return
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(s.key.Algorithm())})
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].KeyID != s.key.KeyID() {
		s.refuse(w, 401, "invalid_client", "assertion header")
		return
	}
	var c jwt.Claims
	if err := tok.Claims(s.key.Public(), &c); err != nil {
		s.refuse(w, 401, "invalid_client", "signature: "+err.Error())
		return
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.clientID, Subject: s.clientID, AnyAudience: jwt.Audience{s.URL}, Time: time.Now()}, 0); err != nil {
		s.refuse(w, 401, "invalid_client", "claims: "+err.Error())
		return
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 2*time.Minute || c.ID == "" {
		s.refuse(w, 401, "invalid_client", "lifetime or jti")
		return
	}
	if r.PostForm.Get("client_id") != s.clientID {
		s.refuse(w, 400, "invalid_request", "client_id")
		return
	}
	s.jtis = append(s.jtis, c.ID)
	if s.seen[c.ID] {
		s.refuse(w, 401, "invalid_client", "jti replayed")
		return
	}
	s.seen[c.ID] = true
	if r.Header.Get("DPoP") == "" {
		s.refuse(w, 400, dpop.CodeInvalidProof, "no proof")
		return
	}
	if !s.nonceFor[r.URL.Path+r.PostForm.Get("grant_type")] {
		s.nonceFor[r.URL.Path+r.PostForm.Get("grant_type")] = true
		w.Header().Set("DPoP-Nonce", "n-"+rand.Text())
		s.refuse(w, 400, dpop.CodeUseNonce, "nonce")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/par" {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"request_uri":"urn:example:1","expires_in":60}`)
		return
	}
	fmt.Fprintf(w, `{"access_token":"at-%s","token_type":"DPoP","refresh_token":"rt-%s","expires_in":1}`, rand.Text(), rand.Text())
}

func mustClientKey(t *testing.T) *ClientKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewClientKey(priv, dpop.ES256, "client-key-1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPrivateKeyJWT: PAR, code exchange, a refresh through x/oauth2's
// TokenSource and client credentials each authenticate with a new
// assertion, and the nonce retry of each carries a new one again (a
// server that refuses a seen jti accepts every retry).
func TestPrivateKeyJWT(t *testing.T) {
	ck := mustClientKey(t)
	const id = "https://app.example/client-metadata.json"
	as := newAssertionServer(t, ck, id)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader, oauth2.AuthStyleAutoDetect} {
		t.Run(fmt.Sprint("style", int(style)), func(t *testing.T) {
			as.mu.Lock()
			as.jtis, as.refusals, as.nonceFor = nil, nil, map[string]bool{}
			as.mu.Unlock()
			key := testkit.Key(t)
			ctx := NewContext(context.Background(), &Transport{Key: key, Base: &PrivateKeyJWT{
				Key: ck, ClientID: id, Audience: as.URL,
				Endpoints: []string{as.URL + "/token", as.URL + "/par"},
			}})
			cfg := &oauth2.Config{
				ClientID: id, RedirectURL: "http://127.0.0.1/cb",
				Endpoint: oauth2.Endpoint{AuthURL: as.URL + "/authorize", TokenURL: as.URL + "/token", AuthStyle: style},
			}
			if _, err := PushAuthCodeURL(ctx, cfg, as.URL+"/par", "st"); err != nil {
				t.Fatal(err)
			}
			tok, err := cfg.Exchange(ctx, "code")
			if err != nil {
				t.Fatal(err)
			}
			tok.Expiry = time.Now().Add(-time.Minute)
			fresh, err := TokenSource(cfg.TokenSource(ctx, tok), RequireDPoP).Token()
			if err != nil {
				t.Fatal(err)
			}
			if fresh.AccessToken == tok.AccessToken {
				t.Fatal("no refresh happened")
			}
			cc := &clientcredentials.Config{ClientID: id, TokenURL: as.URL + "/token", AuthStyle: style}
			if _, err := cc.Token(ctx); err != nil {
				t.Fatal(err)
			}
			as.mu.Lock()
			defer as.mu.Unlock()
			// Four requests, each refused once for the nonce: eight
			// assertions, all different.
			if len(as.jtis) != 8 {
				t.Fatalf("server saw %d assertions, want 8 (refusals %q)", len(as.jtis), as.refusals)
			}
			if len(slices.Compact(slices.Sorted(slices.Values(as.jtis)))) != 8 {
				t.Fatalf("assertion jtis repeat: %q", as.jtis)
			}
		})
	}
}

// TestPrivateKeyJWTScope: only form POSTs to the listed endpoints get an
// assertion; a request with another client authentication is left alone.
func TestPrivateKeyJWTScope(t *testing.T) {
	ck := mustClientKey(t)
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = append(got, r.URL.Path+" "+r.PostForm.Get("client_assertion_type"))
	}))
	defer srv.Close()
	p := &PrivateKeyJWT{Key: ck, ClientID: "c", Audience: srv.URL, Endpoints: []string{srv.URL + "/token?x=1"}}
	hc := &http.Client{Transport: p}
	post := func(path, body string, basic bool) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("c", "secret")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("/token", "grant_type=x", false)
	post("/other", "grant_type=x", false)
	post("/token", "client_secret=s", false)
	post("/token", "grant_type=x", true)
	resp, err := hc.Get(srv.URL + "/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{"/token " + ClientAssertionType, "/other ", "/token ", "/token ", "/token "}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	// A request naming another client is refused before it is sent.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader("client_id=other"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := hc.Do(req); err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("got %v", err)
	}
}

// TestClientKey: every supported algorithm signs assertions that go-jose
// verifies with the published JWK, whose kid, alg and use are set.
func TestClientKey(t *testing.T) {
	for _, alg := range []dpop.Algorithm{dpop.ES256, dpop.ES384, dpop.ES512, dpop.EdDSA, dpop.RS256, dpop.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateClientKey(alg, "")
			if err != nil {
				t.Fatal(err)
			}
			var pub jose.JSONWebKey
			if err := pub.UnmarshalJSON(k.PublicJWK()); err != nil {
				t.Fatal(err)
			}
			if pub.KeyID != k.KeyID() || pub.Algorithm != string(alg) || pub.Use != "sig" || !pub.IsPublic() {
				t.Fatalf("public JWK %s", k.PublicJWK())
			}
			now := time.Now()
			a, err := k.Assertion("cid", "https://as.example", now, 0)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Headers[0].KeyID != k.KeyID() || tok.Headers[0].ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("header %+v", tok.Headers[0])
			}
			var c jwt.Claims
			if err := tok.Claims(pub.Key, &c); err != nil {
				t.Fatal(err)
			}
			if c.Issuer != "cid" || c.Subject != "cid" || !c.Audience.Contains("https://as.example") ||
				c.Expiry.Time().Unix() != now.Add(DefaultAssertionLifetime).Unix() || len(c.ID) < 16 {
				t.Fatalf("claims %+v", c)
			}
			var set struct{ Keys []json.RawMessage }
			if err := json.Unmarshal(JWKS(k), &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s", JWKS(k))
			}
		})
	}
	priv, _ := GenerateClientKey(dpop.ES256, "")
	if _, err := NewClientKey(priv.signer, dpop.RS256, ""); err == nil {
		t.Fatal("an EC key was accepted for RS256")
	}
	if _, err := ParseClientKey(priv.PublicJWK(), ""); err == nil {
		t.Fatal("a public JWK was accepted as a client key")
	}
	dk, _ := dpop.GenerateKey(dpop.ES256)
	jwk, _ := dk.MarshalPrivateJWK()
	parsed, err := ParseClientKey(jwk, "")
	if err != nil || parsed.KeyID() != dk.Thumbprint() || parsed.Algorithm() != dpop.ES256 {
		t.Fatalf("ParseClientKey: %v %v", parsed, err)
	}
}
