package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "https://as.example.com"
	testAudience = "https://api.example.com"
	testBase     = "https://api.example.com"
	testURL      = "https://api.example.com/data"
)

// testAS is an authorization server in miniature: a signing key and a
// JWKS endpoint on loopback.
type testAS struct {
	t       testing.TB
	priv    *ecdsa.PrivateKey
	kid     string
	srv     *httptest.Server
	fetches atomic.Int32
	keys    atomic.Pointer[jose.JSONWebKeySet]
	down    atomic.Bool
}

func newTestAS(t testing.TB) *testAS {
	t.Helper()
	as := &testAS{t: t, kid: "k1"}
	as.priv = mustECDSA(t)
	as.publish(jose.JSONWebKey{Key: &as.priv.PublicKey, KeyID: as.kid, Algorithm: "ES256", Use: "sig"})
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.fetches.Add(1)
		if as.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(as.keys.Load())
	}))
	t.Cleanup(as.srv.Close)
	return as
}

func (as *testAS) publish(keys ...jose.JSONWebKey) {
	as.keys.Store(&jose.JSONWebKeySet{Keys: keys})
}

func (as *testAS) jwksURL() string { return as.srv.URL + "/jwks" }

func mustECDSA(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a JWS with the given key, kid, typ and claims.
func signJWT(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if kid == "" {
		opts = &jose.SignerOptions{}
	}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns standard RFC 9068 claims bound to jkt ("" for none).
func stdClaims(jkt string, now time.Time) map[string]any {
	c := map[string]any{
		"iss":       testIssuer,
		"sub":       "alice",
		"aud":       testAudience,
		"client_id": "app1",
		"scope":     "read write",
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       "at-1",
	}
	if jkt != "" {
		c["cnf"] = map[string]any{"jkt": jkt}
	}
	return c
}

// mint returns an at+jwt access token signed by the AS's key.
func (as *testAS) mint(claims map[string]any) string {
	return signJWT(as.t, as.priv, jose.ES256, as.kid, "at+jwt", claims)
}

func (as *testAS) validator(t testing.TB, mod func(*JWTOptions)) *JWTValidator {
	t.Helper()
	o := JWTOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: as.jwksURL(), HTTPClient: as.srv.Client()}
	if mod != nil {
		mod(&o)
	}
	v, err := NewJWTValidator(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// handProof signs a proof whose header and claims are given as JSON text.
func handProof(t testing.TB, priv *ecdsa.PrivateKey, header, claims string) string {
	t.Helper()
	return testkit.SignES256(t, priv, []byte(header), []byte(claims))
}

// newVerifier returns a verifier allowing ES256 and PS256, like the RFC
// examples.
func newVerifier(t testing.TB, mod func(*dpop.VerifierOptions)) *dpop.Verifier {
	t.Helper()
	o := dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256, dpop.PS256}}
	if mod != nil {
		mod(&o)
	}
	v, err := dpop.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// recorder is the protected handler: it records the caller it saw.
type recorder struct {
	calls  int
	caller *Caller
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.caller, _ = CallerFromContext(r.Context())
	w.WriteHeader(http.StatusOK)
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

func newTLSJWKS(t testing.TB, as *testAS) *httptest.Server {
	t.Helper()
	s := httptest.NewTLSServer(as.srv.Config.Handler)
	t.Cleanup(s.Close)
	return s
}

// failingNonces is a nonce source that cannot answer.
type failingNonces struct{}

func (failingNonces) Nonce(context.Context) (string, error) { return "", context.DeadlineExceeded }
func (failingNonces) Check(context.Context, string) error   { return context.DeadlineExceeded }
