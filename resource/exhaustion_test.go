package resource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
)

// Resource exhaustion: what an attacker can make a resource server hold or
// wait for. Each test measures, through the exported API, that memory and
// latency stay within a stated bound.

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// selfBound accepts any token as bound to the key whose thumbprint the
// token is, so that each throw-away key comes with a token of its own.
var selfBound = TokenValidatorFunc(func(_ context.Context, token string) (*TokenInfo, error) {
	return &TokenInfo{Subject: "attacker", JKT: token}, nil
})

// TestExhaustionReplayFlood sends many valid proofs, each from a new key,
// to a server whose replay store holds N entries. The first N are accepted
// and every later one refused with 503 (the store fails closed rather than
// forgetting a proof), and the heap grows by about what the store and the
// verifier's header cache are documented to hold, not with the number of
// proofs sent.
func TestExhaustionReplayFlood(t *testing.T) {
	const maxEntries = 2000 // the store refuses at exactly MaxEntries
	const perKey = 4        // proofs per throw-away key
	proofs := 20000
	if testing.Short() {
		proofs = 5000
	}
	store := dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{MaxEntries: maxEntries})
	v := newVerifier(t, func(o *dpop.VerifierOptions) { o.Replay = store })
	m, err := NewMiddleware(Options{Verifier: v, Tokens: selfBound, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap(&recorder{})
	before := heapAfterGC()
	counts := map[int]int{}
	var k *dpop.Key
	for i := range proofs {
		if i%perKey == 0 {
			k = testkit.Key(t)
		}
		tok := k.Thumbprint()
		r := httptest.NewRequest(http.MethodGet, testURL, nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", testkit.Proof(t, k, http.MethodGet, testURL, dpop.WithAccessToken(tok)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		counts[w.Code]++
		want := http.StatusOK
		if i >= maxEntries {
			want = http.StatusServiceUnavailable
		}
		if w.Code != want {
			t.Fatalf("proof %d: status %d, want %d", i, w.Code, want)
		}
	}
	after := heapAfterGC()
	runtime.KeepAlive(h)
	runtime.KeepAlive(store)
	// The store documents about 100 bytes per entry; the verifier's
	// header cache holds at most dpop.DefaultHeaderCacheSize parsed
	// headers (one per key here, and there are more keys than that) of
	// well under 1 KiB each.
	bound := uint64(maxEntries*256 + dpop.DefaultHeaderCacheSize*1024 + 1<<20)
	growth := int64(after) - int64(before)
	t.Logf("%d proofs from %d keys: %v; heap growth %d KiB (bound %d KiB)", proofs, proofs/perKey, counts, growth>>10, bound>>10)
	if growth > int64(bound) {
		t.Errorf("heap grew by %d bytes, more than the bound of %d", growth, bound)
	}
}

// TestExhaustionGarbageHeaders sends 10,000 requests carrying a 1 MiB
// garbage DPoP header. Each is refused, the value is never copied (the
// allocation per request stays far below its size), and the live heap does
// not grow.
func TestExhaustionGarbageHeaders(t *testing.T) {
	const requests = 10000
	k := testkit.Key(t)
	tok := k.Thumbprint()
	m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: selfBound, BaseURL: testBase})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap(&recorder{})
	garbage := strings.Repeat("eyJ.", 1<<18) // 1 MiB of proof-looking dots
	r := httptest.NewRequest(http.MethodGet, testURL, nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", garbage)

	before := heapAfterGC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for i := range requests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: status %d, want 401", i, w.Code)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	after := heapAfterGC()
	runtime.KeepAlive(r)
	perRequest := (ms1.TotalAlloc - ms0.TotalAlloc) / requests
	growth := int64(after) - int64(before)
	t.Logf("%d requests with a %d-byte DPoP header: %v (%v each), %d bytes allocated per request, heap growth %d KiB",
		requests, len(garbage), elapsed.Round(time.Millisecond), (elapsed / requests).Round(time.Microsecond), perRequest, growth>>10)
	if perRequest > 16<<10 {
		t.Errorf("%d bytes allocated per refused request: the header value is being copied", perRequest)
	}
	if growth > 256<<10 {
		t.Errorf("heap grew by %d bytes", growth)
	}
}

// slowServer answers after hold, or when the client goes away, on
// loopback. It stands for a JWKS or introspection endpoint that hangs.
func slowServer(t *testing.T, hold time.Duration) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(hold):
		}
		http.Error(w, "late", http.StatusServiceUnavailable)
	}))
	t.Cleanup(s.Close)
	return s
}

// timedRequest sends one DPoP request, under a 200 ms deadline, and
// returns its status and how long the middleware took.
func timedRequest(t *testing.T, h http.Handler, token string, k *dpop.Key) (int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, testURL, nil).WithContext(ctx)
	r.Header.Set("Authorization", "DPoP "+token)
	r.Header.Set("DPoP", testkit.Proof(t, k, http.MethodGet, testURL, dpop.WithAccessToken(token)))
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	return w.Code, time.Since(start)
}

// TestExhaustionSlowUpstream checks that a hanging introspection or JWKS
// endpoint cannot hold a request past its deadline: a request with a
// 200 ms deadline is answered 503 within a second.
func TestExhaustionSlowUpstream(t *testing.T) {
	const hold = 1500 * time.Millisecond
	k := testkit.Key(t)

	t.Run("introspection", func(t *testing.T) {
		slow := slowServer(t, hold)
		in, err := NewIntrospector(IntrospectionOptions{Endpoint: slow.URL, ClientID: "rs", Issuer: testIssuer, Audience: testAudience})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: in, BaseURL: testBase})
		if err != nil {
			t.Fatal(err)
		}
		code, took := timedRequest(t, m.Wrap(&recorder{}), "opaque-token", k)
		t.Logf("introspection endpoint hanging for %v: status %d after %v", hold, code, took.Round(time.Millisecond))
		if code != http.StatusServiceUnavailable || took > time.Second {
			t.Errorf("status %d after %v, want 503 within 1s", code, took)
		}
	})

	t.Run("jwks", func(t *testing.T) {
		as := newTestAS(t)
		slow := slowServer(t, hold)
		val, err := NewJWTValidator(JWTOptions{Issuer: testIssuer, Audience: testAudience, JWKSURL: slow.URL + "/jwks"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMiddleware(Options{Verifier: newVerifier(t, nil), Tokens: val, BaseURL: testBase})
		if err != nil {
			t.Fatal(err)
		}
		token := as.mint(stdClaims(k.Thumbprint(), time.Now()))
		code, took := timedRequest(t, m.Wrap(&recorder{}), token, k)
		t.Logf("JWKS endpoint hanging for %v: status %d after %v", hold, code, took.Round(time.Millisecond))
		if code != http.StatusServiceUnavailable || took > time.Second {
			t.Errorf("status %d after %v, want 503 within 1s", code, took)
		}
	})
}
