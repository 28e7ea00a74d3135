package redisstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/redisstore/internal/redistest"
)

// benchKey fills k from a counter and a per-run prefix, so that runs do not
// meet each other's keys.
func benchKey(k *dpop.ReplayKey, run, i uint64) {
	binary.LittleEndian.PutUint64(k[0:8], run)
	binary.LittleEndian.PutUint64(k[8:16], i)
}

var benchRun atomic.Uint64

func init() { benchRun.Store(uint64(time.Now().UnixNano())) }

// BenchmarkReplayRedis is one Seen of a fresh key: one SET NX GET PX round
// trip to a redis-server on loopback. Compare with BenchmarkReplayMemory in
// the dpop package. Keys live two seconds so that Redis stays small.
func BenchmarkReplayRedis(b *testing.B) {
	srv := shared.Get(b)
	benchReplay(b, newStore(b, srv.Client(b), redisstore.Options{}))
}

// BenchmarkReplayRedisReplicated is BenchmarkReplayRedis against a primary
// with one replica, without and with MinReplicas 1 (SET and WAIT in one
// pipeline): the cost of the strict mode.
func BenchmarkReplayRedisReplicated(b *testing.B) {
	p := redistest.Start(b)
	redistest.StartReplica(b, p.Addr)
	p.WaitReplicas(b, 1)
	b.Run("async", func(b *testing.B) {
		benchReplay(b, newStore(b, p.Client(b), redisstore.Options{}))
	})
	b.Run("MinReplicas=1", func(b *testing.B) {
		benchReplay(b, newStore(b, p.Client(b), redisstore.Options{MinReplicas: 1}))
	})
}

func benchReplay(b *testing.B, s *redisstore.Store) {
	ctx := context.Background()
	run := benchRun.Add(1)
	var k dpop.ReplayKey
	exp := time.Now().Add(2 * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range uint64(b.N) {
		if i%1024 == 0 {
			exp = time.Now().Add(2 * time.Second)
		}
		benchKey(&k, run, i)
		if seen, err := s.Seen(ctx, k, exp); seen || err != nil {
			b.Fatalf("Seen of a fresh key = %v, %v", seen, err)
		}
	}
}

// BenchmarkReplayRedisParallel is BenchmarkReplayRedis from GOMAXPROCS
// goroutines at once, over the client's connection pool.
func BenchmarkReplayRedisParallel(b *testing.B) {
	srv := shared.Get(b)
	s := newStore(b, srv.Client(b), redisstore.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		run := benchRun.Add(1)
		var k dpop.ReplayKey
		var i uint64
		exp := time.Now().Add(2 * time.Second)
		for pb.Next() {
			i++
			if i%1024 == 0 {
				exp = time.Now().Add(2 * time.Second)
			}
			benchKey(&k, run, i)
			if seen, err := s.Seen(ctx, k, exp); seen || err != nil {
				b.Errorf("Seen of a fresh key = %v, %v", seen, err)
				return
			}
		}
	})
}

// benchMiddleware measures one authenticated request through the resource
// middleware (token check, ES256 proof verification, replay check), called
// directly, without a network between client and server. The proofs are
// made with the timer stopped.
func benchMiddleware(b *testing.B, replay dpop.ReplayStore) {
	h := newHandler(b, replay, nil)
	k := testkit.Key(b)
	tok := "DPoP " + tokenFor(k)
	const pool = 1024
	proofs := make([]string, pool)
	refill := func() {
		for i := range proofs {
			proofs[i] = mustProof(b, k)
		}
	}
	refill()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		r := httptest.NewRequest("GET", "http://127.0.0.1/data", nil)
		r.Header.Set("Authorization", tok)
		r.Header.Set("DPoP", proofs[i%pool])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

func BenchmarkMiddlewareMemory(b *testing.B) {
	benchMiddleware(b, dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{}))
}

func BenchmarkMiddlewareRedis(b *testing.B) {
	srv := shared.Get(b)
	benchMiddleware(b, newStore(b, srv.Client(b), redisstore.Options{}))
}

// TestLoadReport runs a resource server over HTTP on loopback, first with
// the memory replay store and then with Redis, under the same bounded load
// (loadWorkers concurrent clients, pre-made proofs), and logs requests per
// second and latency percentiles for each. It asserts only that every
// request is accepted. DPOP_LOAD_DURATION (a Go duration, at most 30s)
// sets the run time per store; the default is one second. Skipped with
// -short.
func TestLoadReport(t *testing.T) {
	if testing.Short() {
		t.Skip("load run skipped with -short")
	}
	srv := shared.Get(t)
	d := time.Second
	if v := os.Getenv("DPOP_LOAD_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 || d > 30*time.Second {
			t.Fatalf("DPOP_LOAD_DURATION=%q: want a duration in (0, 30s]", v)
		}
	}
	rounds := 1
	if v := os.Getenv("DPOP_LOAD_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			t.Fatalf("DPOP_LOAD_ROUNDS=%q: want 1 to 10", v)
		}
		rounds = n
	}
	cases := []struct {
		name  string
		store func() dpop.ReplayStore
	}{
		{"memory", func() dpop.ReplayStore { return dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{}) }},
		{"redis", func() dpop.ReplayStore {
			return newStore(t, srv.Client(t), redisstore.Options{Timeout: patientTimeout})
		}},
		{"redis-uncoalesced", func() dpop.ReplayStore {
			s := newStore(t, srv.Client(t), redisstore.Options{Timeout: patientTimeout})
			redisstore.SetUncoalesced(s)
			return s
		}},
	}
	// The stores take turns, round after round, so that a slow minute of
	// a shared machine does not land on one of them.
	rate := make(map[string][]float64)
	for round := range rounds {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d", tc.name, round), func(t *testing.T) {
				r := loadRun(t, newInstance(t, tc.store(), nil).URL, d)
				rps := float64(r.n) / r.elapsed.Seconds()
				rate[tc.name] = append(rate[tc.name], rps)
				t.Logf("LOAD %-17s %d requests in %v: %.0f req/s, p50 %v, p99 %v, max %v (%d workers)",
					tc.name, r.n, r.elapsed.Round(time.Millisecond), rps, r.p50, r.p99, r.max, loadWorkers)
			})
		}
	}
	med := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	if len(rate["memory"]) == rounds && len(rate["redis"]) == rounds && len(rate["redis-uncoalesced"]) == rounds {
		m := med(rate["memory"])
		t.Logf("LOAD ratio to memory (medians of %d rounds): redis %.2f, redis-uncoalesced %.2f",
			rounds, med(rate["redis"])/m, med(rate["redis-uncoalesced"])/m)
	}
}

// loadWorkers is the number of concurrent clients of the load run:
// DPOP_LOAD_WORKERS (1 to 256), or 64.
var loadWorkers = func() int {
	if n, err := strconv.Atoi(os.Getenv("DPOP_LOAD_WORKERS")); err == nil && n >= 1 && n <= 256 {
		return n
	}
	return 64
}()

type loadResult struct {
	n             int
	elapsed       time.Duration
	p50, p99, max time.Duration
}

// loadRun sends requests with distinct proofs to instance from loadWorkers
// goroutines for d, or until the proofs run out.
func loadRun(t *testing.T, instance string, d time.Duration) loadResult {
	// Enough proofs for 6,000 requests a second, several times what a
	// small machine serves; the run ends early if they run out.
	n := int(6000 * d.Seconds())
	keys := []*dpop.Key{testkit.Key(t), testkit.Key(t), testkit.Key(t), testkit.Key(t)}
	proofs := make([]string, n)
	for i := range proofs {
		proofs[i] = mustProof(t, keys[i%len(keys)])
	}
	c := httpClient(t)
	var next atomic.Int64
	lat := make([][]time.Duration, loadWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := range loadWorkers {
		wg.Go(func() {
			for time.Now().Before(end) {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				r := send(c, instance, keys[i%len(keys)], proofs[i])
				if r.err != nil || r.status != http.StatusOK {
					t.Errorf("request %d: %d %q %v", i, r.status, r.code, r.err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	if len(all) == 0 {
		t.Fatal("no request completed")
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return loadResult{n: len(all), elapsed: elapsed, p50: pct(0.50), p99: pct(0.99), max: all[len(all)-1]}
}
