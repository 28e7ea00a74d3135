package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// The middleware benchmarks sit beside BenchmarkRawVerifyES256, the bare
// ecdsa.VerifyASN1 of the same client key over a proof's digest: the
// ratio of the two, measured in one run, is the middleware's overhead on
// top of the one signature verification a request must pay.

// swapStore is a memory replay store replaced (timer stopped) whenever the
// pool of proofs is used up, so every measured request makes a real
// replay check with a proof seen for the first time.
type swapStore struct{ s *dpop.MemoryReplayStore }

func (w *swapStore) Seen(ctx context.Context, k dpop.ReplayKey, exp time.Time) (bool, error) {
	return w.s.Seen(ctx, k, exp)
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchMiddleware(b *testing.B, cached bool) {
	as := newTestAS(b)
	priv := mustECDSA(b)
	key, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		b.Fatal(err)
	}
	token := as.mint(stdClaims(key.Thumbprint(), time.Now()))
	store := &swapStore{s: dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{})}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: store})
	if err != nil {
		b.Fatal(err)
	}
	var tokens TokenValidator = as.validator(b, nil)
	if cached {
		tokens = NewTokenCache(tokens, TokenCacheOptions{})
	}
	m, err := NewMiddleware(Options{Verifier: v, Tokens: tokens, BaseURL: testBase})
	if err != nil {
		b.Fatal(err)
	}
	ok := 0
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ok++ }))
	const pool = 512
	reqs := make([]*http.Request, pool)
	for i := range reqs {
		r, _ := http.NewRequest("GET", "http://10.0.0.1/data", nil)
		r.Header.Set("Authorization", "DPoP "+token)
		r.Header.Set("DPoP", testkit.Proof(b, key, "GET", testURL, dpop.WithAccessToken(token)))
		reqs[i] = r
	}
	w := &nopWriter{h: http.Header{}}
	// Warm up: the key set fetch and, when cached, the token's validation.
	h.ServeHTTP(w, reqs[0])
	store.s = dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{})
	ok = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			store.s = dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{})
			b.StartTimer()
		}
		h.ServeHTTP(w, reqs[i%pool])
	}
	b.StopTimer()
	if ok != b.N {
		b.Fatalf("%d of %d requests accepted", ok, b.N)
	}
}

// BenchmarkMiddlewareES256 is one request with a JWT access token whose
// validation is cached and a fresh ES256 proof.
func BenchmarkMiddlewareES256(b *testing.B) { benchMiddleware(b, true) }

// BenchmarkMiddlewareES256NoCache is the same without the token cache: the
// access token's signature and claims are checked on every request.
func BenchmarkMiddlewareES256NoCache(b *testing.B) { benchMiddleware(b, false) }

// BenchmarkRawVerifyES256 is the bare signature check the middleware
// cannot avoid: ecdsa.VerifyASN1 of the client key over a proof's digest.
func BenchmarkRawVerifyES256(b *testing.B) {
	priv := mustECDSA(b)
	key, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		b.Fatal(err)
	}
	proof := testkit.Proof(b, key, "GET", testURL, dpop.WithAccessToken("token"))
	input := proof[:strings.LastIndexByte(proof, '.')]
	sum := sha256.Sum256([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &priv.PublicKey
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := sha256.Sum256([]byte(input))
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			b.Fatal("verify failed")
		}
	}
}
