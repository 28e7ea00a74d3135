package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/redisstore/internal/redistest"
	"github.com/dpopkit/dpop/resource"
	"github.com/redis/go-redis/v9"
)

// The public URL of the resource, the same for every instance: the one a
// load balancer would answer on.
const (
	publicBase = "https://api.example.com"
	publicURL  = publicBase + "/data"
)

// tokens stands for the authorization server: an access token "at-<jkt>"
// is valid and bound to the key whose thumbprint is jkt.
var tokens = resource.TokenValidatorFunc(func(_ context.Context, tok string) (*resource.TokenInfo, error) {
	jkt, ok := strings.CutPrefix(tok, "at-")
	if !ok {
		return nil, resource.ErrInvalidToken
	}
	return &resource.TokenInfo{Subject: "alice", ClientID: "app", Scopes: []string{"read"}, JKT: jkt, Expiry: time.Now().Add(time.Hour)}, nil
})

func tokenFor(k *dpop.Key) string { return "at-" + k.Thumbprint() }

// newInstance is one resource-server instance: its own verifier (with the
// given replay store and nonce source) and middleware, behind its own
// loopback listener.
func newInstance(t testing.TB, replay dpop.ReplayStore, nonces dpop.NonceSource) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newHandler(t, replay, nonces))
	t.Cleanup(srv.Close)
	return srv
}

func newHandler(t testing.TB, replay dpop.ReplayStore, nonces dpop.NonceSource) http.Handler {
	t.Helper()
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: replay, Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier:       v,
		Tokens:         tokens,
		BaseURL:        publicBase,
		NonceOnSuccess: nonces != nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
}

// mustProof is a proof by k for GET publicURL with k's token.
func mustProof(t testing.TB, k *dpop.Key) string {
	t.Helper()
	return testkit.Proof(t, k, "GET", publicURL, dpop.WithAccessToken(tokenFor(k)))
}

// result is what a request got: a status and the error of the DPoP
// challenge, if any.
type result struct {
	status int
	code   string
	err    error
}

// send sends a request with the proof and k's token to an instance.
func send(c *http.Client, instance string, k *dpop.Key, proof string) result {
	req, err := http.NewRequest("GET", instance+"/data", nil)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "DPoP "+tokenFor(k))
	req.Header.Set("DPoP", proof)
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	resp.Body.Close()
	return result{status: resp.StatusCode, code: challengeError(resp.Header.Get("WWW-Authenticate"))}
}

// challengeError returns the error parameter of a challenge, or "".
func challengeError(h string) string {
	_, rest, ok := strings.Cut(h, `error="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

func httpClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestFleetReplayOnce: two instances on one Redis. The same proof sent to
// both by 200 goroutines at once is accepted exactly once; the others are
// refused as replays (invalid_dpop_proof). Distinct proofs are all
// accepted.
func TestFleetReplayOnce(t *testing.T) {
	srv := shared.Get(t)
	opts := redisstore.Options{Timeout: patientTimeout, OnError: func(err error) { t.Log(err) }}
	a := newInstance(t, newStore(t, srv.Client(t), opts), nil)
	b := newInstance(t, newStore(t, srv.Client(t), opts), nil)
	instances := []string{a.URL, b.URL}
	c := httpClient(t)
	k := testkit.Key(t)

	const goroutines = 200
	for round := range 3 {
		proof := mustProof(t, k)
		results := make([]result, goroutines)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range goroutines {
			wg.Go(func() {
				<-start
				results[i] = send(c, instances[i%2], k, proof)
			})
		}
		close(start)
		wg.Wait()
		ok, replayed := 0, 0
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Fatalf("round %d request %d: %v", round, i, r.err)
			case r.status == http.StatusOK:
				ok++
			case r.status == http.StatusUnauthorized && r.code == dpop.CodeInvalidProof:
				replayed++
			default:
				t.Errorf("round %d request %d: %d %q", round, i, r.status, r.code)
			}
		}
		if ok != 1 || replayed != goroutines-1 {
			t.Fatalf("round %d: %d accepted, %d refused as replays; want 1 and %d", round, ok, replayed, goroutines-1)
		}
	}

	// Distinct proofs, from several keys, spread over both instances.
	const distinct = 200
	keys := []*dpop.Key{k, testkit.Key(t), testkit.Key(t), testkit.Key(t)}
	proofs := make([]string, distinct)
	for i := range proofs {
		proofs[i] = mustProof(t, keys[i%len(keys)])
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for i := range distinct {
		wg.Go(func() {
			r := send(c, instances[i%2], keys[i%len(keys)], proofs[i])
			if r.err != nil || r.status != http.StatusOK {
				t.Errorf("distinct proof %d: %d %q %v", i, r.status, r.code, r.err)
				return
			}
			accepted.Add(1)
		})
	}
	wg.Wait()
	if accepted.Load() != distinct {
		t.Fatalf("%d of %d distinct proofs accepted", accepted.Load(), distinct)
	}
}

// TestFleetRedisRestart stops Redis in the middle of a run: every request
// is then refused with 503 (none accepted, none blamed on the client), and
// once Redis is back on the same address the same instances serve again,
// without a restart.
func TestFleetRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var lastErr atomic.Value
	onErr := func(err error) { lastErr.Store(err.Error() + " at " + time.Now().Format("15:04:05.000")) }
	a := newInstance(t, newStore(t, srv.Client(t), redisstore.Options{OnError: onErr}), nil)
	b := newInstance(t, newStore(t, srv.Client(t), redisstore.Options{OnError: onErr}), nil)
	instances := []string{a.URL, b.URL}
	c := httpClient(t)
	k := testkit.Key(t)

	// batch sends n fresh proofs, alternately to each instance, 16 at a
	// time, and returns the results.
	batch := func(n int) []result {
		proofs := make([]string, n)
		for i := range proofs {
			proofs[i] = mustProof(t, k)
		}
		results := make([]result, n)
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = send(c, instances[i%2], k, proofs[i])
			})
		}
		wg.Wait()
		return results
	}
	expect := func(phase string, results []result, status int) {
		t.Helper()
		for i, r := range results {
			if r.err != nil || r.status != status {
				t.Fatalf("%s: request %d: %d %q %v; want %d (last store error: %v, now %s)", phase, i, r.status, r.code, r.err, status, lastErr.Load(), time.Now().Format("15:04:05.000"))
			}
		}
	}

	expect("before the stop", batch(40), http.StatusOK)

	// Requests keep arriving while Redis goes away and comes back: each
	// must be either accepted or refused with 503, never answered 401.
	stopLoad := make(chan struct{})
	var loadWG sync.WaitGroup
	var stopOnce sync.Once
	halt := func() {
		stopOnce.Do(func() { close(stopLoad) })
		loadWG.Wait()
	}
	// Cleanups run last first: this one stops the load before the
	// instances close, even when the test fails early.
	t.Cleanup(halt)
	var loadOK, load503 atomic.Int32
	for g := range 4 {
		loadWG.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				r := send(c, instances[(g+i)%2], k, mustProof(t, k))
				switch {
				case r.err == nil && r.status == http.StatusOK:
					loadOK.Add(1)
				case r.err == nil && r.status == http.StatusServiceUnavailable:
					load503.Add(1)
				default:
					t.Errorf("background request: %d %q %v", r.status, r.code, r.err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	srv.Stop()
	start := time.Now()
	down := batch(100)
	for i, r := range down {
		if r.err != nil || r.status != http.StatusServiceUnavailable || r.code != "" {
			t.Fatalf("with Redis down: request %d: %d %q %v; want 503 without a challenge error", i, r.status, r.code, r.err)
		}
	}
	t.Logf("with Redis down: 100 requests refused with 503 in %v", time.Since(start))
	// A 503 carries no challenge and is not cached.
	if r := send(c, a.URL, k, mustProof(t, k)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down: %d", r.status)
	}

	srv.Restart(t)
	// go-redis redials in the background. After many dial errors its pool
	// fails fast and probes the server once a second, and dials begun
	// during the outage can still fail just after the restart, so some
	// requests may meet 503 for a second or two. Service counts as resumed
	// when two seconds pass without one, within a bound.
	restarted := time.Now()
	lastRefusal := restarted
	for time.Since(lastRefusal) < 2*time.Second {
		if time.Since(restarted) > 15*time.Second {
			t.Fatalf("service did not stay up within 15s of the restart (last store error: %v)", lastErr.Load())
		}
		for _, r := range batch(10) {
			if r.err != nil || r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
				t.Fatalf("after the restart: %d %q %v", r.status, r.code, r.err)
			}
			if r.status != http.StatusOK {
				lastRefusal = time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("last 503 %v after the restart", lastRefusal.Sub(restarted).Round(time.Millisecond))
	expect("after the restart", batch(40), http.StatusOK)

	halt()
	t.Logf("background load: %d accepted, %d refused with 503", loadOK.Load(), load503.Load())
	if load503.Load() == 0 {
		t.Error("the background load never met the outage")
	}
}

// TestMiddlewareFailurePolicy: with Redis unreachable, the default store
// makes the middleware answer 503 without a challenge; FailOpen lets the
// request through and reports the failure to OnError.
func TestMiddlewareFailurePolicy(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: deadAddr(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	var failures atomic.Int32
	onErr := func(error) { failures.Add(1) }
	closed := newInstance(t, newStore(t, rdb, redisstore.Options{OnError: onErr}), nil)
	open := newInstance(t, newStore(t, rdb, redisstore.Options{FailOpen: true, OnError: onErr}), nil)
	c := httpClient(t)
	k := testkit.Key(t)

	req, _ := http.NewRequest("GET", closed.URL+"/data", nil)
	req.Header.Set("Authorization", "DPoP "+tokenFor(k))
	req.Header.Set("DPoP", mustProof(t, k))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("WWW-Authenticate") != "" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("fail closed: %d, WWW-Authenticate %q, Cache-Control %q; want 503, none, no-store",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Cache-Control"))
	}

	// Fail open: accepted, even twice with the same proof.
	proof := mustProof(t, k)
	for i := range 2 {
		if r := send(c, open.URL, k, proof); r.err != nil || r.status != http.StatusOK {
			t.Errorf("fail open, request %d: %d %q %v; want 200", i, r.status, r.code, r.err)
		}
	}
	if failures.Load() != 3 {
		t.Errorf("OnError called %d times, want 3", failures.Load())
	}
}
