package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/redis/go-redis/v9"
)

func randomKey(t testing.TB) dpop.ReplayKey {
	t.Helper()
	var k dpop.ReplayKey
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func newStore(t testing.TB, c redis.UniversalClient, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// patientTimeout replaces the store's default Timeout in the tests that
// check something else than timeouts: under the race detector, on a small
// machine running tests in parallel, a round trip can exceed 250ms.
const patientTimeout = 5 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRefuses(t *testing.T) {
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer plain.Close()
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer good.Close()
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	for _, tc := range []struct {
		name string
		c    redis.UniversalClient
		opts redisstore.Options
		want string
	}{
		{"nil client", nil, redisstore.Options{}, "nil client"},
		{"negative timeout", good, redisstore.Options{Timeout: -time.Second}, "negative Timeout"},
		{"client ignoring deadlines", plain, redisstore.Options{}, "ContextTimeoutEnabled"},
		{"cluster ignoring deadlines", cluster, redisstore.Options{}, "ContextTimeoutEnabled"},
		{"ring ignoring deadlines", ring, redisstore.Options{}, "ContextTimeoutEnabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.New(tc.c, tc.opts)
			if err == nil || s != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", s, err, tc.want)
			}
		})
	}
	for _, c := range []redis.UniversalClient{
		good,
		redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}),
		redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}),
		redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}),
	} {
		if _, err := redisstore.New(c, redisstore.Options{}); err != nil {
			t.Errorf("New(%T with ContextTimeoutEnabled) = %v", c, err)
		}
		if c != good {
			_ = c.Close()
		}
	}
}

func TestKeyFormat(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer c.Close()
	var k dpop.ReplayKey
	for i := range k {
		k[i] = byte(i * 7)
	}
	b64 := base64.RawURLEncoding.EncodeToString(k[:])
	if got, want := newStore(t, c, redisstore.Options{}).Key(k), "dpop:jti:"+b64; got != want {
		t.Errorf("default Key = %q, want %q", got, want)
	}
	if got, want := newStore(t, c, redisstore.Options{Prefix: "api1:"}).Key(k), "api1:"+b64; got != want {
		t.Errorf("Key with prefix = %q, want %q", got, want)
	}
	if redisstore.DefaultPrefix != "dpop:jti:" {
		t.Errorf("DefaultPrefix = %q", redisstore.DefaultPrefix)
	}
}

func TestSeenRecordsOnce(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	s := newStore(t, c, redisstore.Options{})
	ctx := ctxT(t)
	k1, k2 := randomKey(t), randomKey(t)
	exp := time.Now().Add(time.Minute)
	for i, step := range []struct {
		k    dpop.ReplayKey
		want bool
	}{{k1, false}, {k1, true}, {k2, false}, {k1, true}, {k2, true}} {
		seen, err := s.Seen(ctx, step.k, exp)
		if err != nil || seen != step.want {
			t.Fatalf("step %d: Seen = %v, %v; want %v, nil", i, seen, err, step.want)
		}
	}
	// The key holds a short value (the id of the check that recorded it)
	// and a time to live of about a minute.
	if v, err := c.Get(ctx, s.Key(k1)).Result(); err != nil || v == "" || len(v) > 32 {
		t.Errorf("GET = %q, %v; want a check id of at most 32 bytes", v, err)
	}
	pttl, err := c.PTTL(ctx, s.Key(k1)).Result()
	if err != nil || pttl > time.Minute || pttl < time.Minute-5*time.Second {
		t.Errorf("PTTL = %v, %v; want about 1m", pttl, err)
	}
}

// TestSeenCommand checks the wire: one SET key <check id> PX ms NX GET per
// call, a new check id each time, with the time to live rounded up to a
// whole millisecond.
func TestSeenCommand(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	rec := &cmdRecorder{}
	c.AddHook(rec)
	now := time.Now()
	s := newStore(t, c, redisstore.Options{Prefix: "cmdtest:", Now: func() time.Time { return now }})
	ctx := ctxT(t)
	ids := map[string]bool{}
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{70 * time.Second, 70000},
		{1500*time.Microsecond + 1, 2},
		{time.Nanosecond, 1},
		{999 * time.Microsecond, 1},
		{time.Millisecond, 1},
	} {
		rec.reset()
		k := randomKey(t)
		if seen, err := s.Seen(ctx, k, now.Add(tc.ttl)); seen || err != nil {
			t.Fatalf("Seen = %v, %v", seen, err)
		}
		got := rec.all()
		if len(got) != 1 || len(got[0]) != 7 {
			t.Fatalf("ttl %v: commands %v; want one SET with 7 arguments", tc.ttl, got)
		}
		id, _ := got[0][2].(string)
		want := []any{"set", s.Key(k), id, "px", tc.want, "nx", "get"}
		if !equalArgs(got[0], want) || id == "" || ids[id] {
			t.Errorf("ttl %v: command %v; want %v with a check id not used before", tc.ttl, got[0], want)
		}
		ids[id] = true
	}
	// An expiry already past: EXISTS only, nothing written.
	rec.reset()
	k := randomKey(t)
	if seen, err := s.Seen(ctx, k, now); seen || err != nil {
		t.Fatalf("Seen(past) = %v, %v", seen, err)
	}
	if got := rec.all(); len(got) != 1 || !equalArgs(got[0], []any{"exists", s.Key(k)}) {
		t.Errorf("past expiry: commands %v; want one EXISTS", got)
	}
}

// TestSeenPastExpiry matches the memory store: nothing is recorded for an
// expiry that is not after now, but a live key is still reported.
func TestSeenPastExpiry(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	s := newStore(t, c, redisstore.Options{})
	mem := dpop.NewMemoryReplayStore(dpop.MemoryReplayOptions{})
	ctx := ctxT(t)
	now := time.Now()
	k := randomKey(t)
	live := randomKey(t)
	for _, st := range []dpop.ReplayStore{s, mem} {
		for i, step := range []struct {
			k    dpop.ReplayKey
			exp  time.Time
			want bool
		}{
			{k, now.Add(-time.Second), false},
			{k, now.Add(-time.Second), false}, // still not recorded
			{live, now.Add(time.Minute), false},
			{live, now.Add(-time.Second), true}, // live key reported
			{k, now.Add(time.Minute), false},    // first real record
		} {
			seen, err := st.Seen(ctx, step.k, step.exp)
			if err != nil || seen != step.want {
				t.Fatalf("%T step %d: Seen = %v, %v; want %v", st, i, seen, err, step.want)
			}
		}
	}
}

// TestSeenFarFuture: the longest expiry a time.Time can hold still gives a
// time to live Redis accepts.
func TestSeenFarFuture(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	s := newStore(t, c, redisstore.Options{})
	ctx := ctxT(t)
	k := randomKey(t)
	for _, want := range []bool{false, true} {
		seen, err := s.Seen(ctx, k, time.Unix(1<<62, 0))
		if err != nil || seen != want {
			t.Fatalf("Seen = %v, %v; want %v, nil", seen, err, want)
		}
	}
	// In milliseconds: as a time.Duration the answer could overflow.
	const century = 100 * 365 * 24 * time.Hour / time.Millisecond
	if ms, err := c.Do(ctx, "pttl", s.Key(k)).Int64(); err != nil || ms < int64(century) {
		t.Errorf("PTTL = %v, %v; want over a century", ms, err)
	}
	_ = c.Del(ctx, s.Key(k))
}

func TestSeenExpires(t *testing.T) {
	srv := shared.Get(t)
	s := newStore(t, srv.Client(t), redisstore.Options{})
	ctx := ctxT(t)
	k := randomKey(t)
	if seen, err := s.Seen(ctx, k, time.Now().Add(30*time.Millisecond)); seen || err != nil {
		t.Fatalf("Seen = %v, %v", seen, err)
	}
	if seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute)); !seen || err != nil {
		t.Fatalf("Seen again at once = %v, %v; want true", seen, err)
	}
	time.Sleep(80 * time.Millisecond)
	if seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute)); seen || err != nil {
		t.Fatalf("Seen after expiry = %v, %v; want false", seen, err)
	}
}

func TestPrefixesAreSeparate(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	a := newStore(t, c, redisstore.Options{Prefix: "a:"})
	b := newStore(t, c, redisstore.Options{Prefix: "b:"})
	ctx := ctxT(t)
	k := randomKey(t)
	exp := time.Now().Add(time.Minute)
	for i, st := range []*redisstore.Store{a, b} {
		if seen, err := st.Seen(ctx, k, exp); seen || err != nil {
			t.Fatalf("store %d: Seen = %v, %v; want false", i, seen, err)
		}
	}
	if n, err := c.Exists(ctx, "a:"+base64.RawURLEncoding.EncodeToString(k[:])).Result(); err != nil || n != 1 {
		t.Errorf("EXISTS a:<key> = %d, %v", n, err)
	}
}

// TestSeenConcurrent: many goroutines, two stores on separate clients,
// the same key: exactly one sees it as new.
func TestSeenConcurrent(t *testing.T) {
	srv := shared.Get(t)
	stores := []*redisstore.Store{
		newStore(t, srv.Client(t), redisstore.Options{Timeout: patientTimeout}),
		newStore(t, srv.Client(t), redisstore.Options{Timeout: patientTimeout}),
	}
	ctx := ctxT(t)
	for round := range 5 {
		k := randomKey(t)
		exp := time.Now().Add(time.Minute)
		var fresh, errs atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 200 {
			wg.Go(func() {
				<-start
				seen, err := stores[i%2].Seen(ctx, k, exp)
				if err != nil {
					errs.Add(1)
				} else if !seen {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if fresh.Load() != 1 || errs.Load() != 0 {
			t.Fatalf("round %d: %d fresh, %d errors; want 1, 0", round, fresh.Load(), errs.Load())
		}
	}
}

// deadAddr returns a loopback address nothing listens on (port 1, tcpmux,
// is not served on a test machine).
func deadAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:1"
}

func TestUnavailableFailsClosed(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: deadAddr(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	var hooked atomic.Int32
	s := newStore(t, c, redisstore.Options{OnError: func(err error) {
		if errors.Is(err, dpop.ErrStoreUnavailable) {
			hooked.Add(1)
		}
	}})
	start := time.Now()
	seen, err := s.Seen(context.Background(), randomKey(t), time.Now().Add(time.Minute))
	if seen || !errors.Is(err, dpop.ErrStoreUnavailable) {
		t.Fatalf("Seen = %v, %v; want false and ErrStoreUnavailable", seen, err)
	}
	if d := time.Since(start); d > redisstore.DefaultTimeout+time.Second {
		t.Errorf("Seen took %v", d)
	}
	if hooked.Load() != 1 {
		t.Errorf("OnError called %d times, want 1", hooked.Load())
	}
}

func TestUnavailableFailOpen(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: deadAddr(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	var errs []error
	var mu sync.Mutex
	s := newStore(t, c, redisstore.Options{FailOpen: true, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	k := randomKey(t)
	for range 2 { // the same key twice: nothing remembers it
		seen, err := s.Seen(context.Background(), k, time.Now().Add(time.Minute))
		if seen || err != nil {
			t.Fatalf("Seen = %v, %v; want false, nil", seen, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 || !errors.Is(errs[0], dpop.ErrStoreUnavailable) {
		t.Errorf("OnError got %v; want two ErrStoreUnavailable", errs)
	}
}

// TestDoneContext: a context already done sends nothing and fails.
func TestDoneContext(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	rec := &cmdRecorder{}
	c.AddHook(rec)
	s := newStore(t, c, redisstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	seen, err := s.Seen(ctx, randomKey(t), time.Now().Add(time.Minute))
	if seen || !errors.Is(err, dpop.ErrStoreUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Seen = %v, %v; want ErrStoreUnavailable and context.Canceled", seen, err)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("commands sent: %v", got)
	}
}

// TestVerifierMapsFailure: through the verifier, a store error becomes
// temporarily_unavailable, never invalid_dpop_proof.
func TestVerifierMapsFailure(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: deadAddr(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: newStore(t, c, redisstore.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	k, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	p, err := k.Proof("GET", "https://api.example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), p, dpop.Request{Method: "GET", URL: "https://api.example.com/x"})
	var de *dpop.Error
	if !errors.As(err, &de) || de.Code != dpop.CodeTemporarilyUnavailable || !errors.Is(err, dpop.ErrStoreUnavailable) {
		t.Fatalf("Verify = %v; want temporarily_unavailable wrapping ErrStoreUnavailable", err)
	}
}

// cmdRecorder is a go-redis hook that records the arguments of every
// command processed, except those of a connection's handshake.
type cmdRecorder struct {
	mu   sync.Mutex
	cmds [][]any
}

func (r *cmdRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *cmdRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "hello", "client", "auth", "select", "ping":
			// The handshake of a new connection.
			return next(ctx, cmd)
		}
		r.mu.Lock()
		r.cmds = append(r.cmds, append([]any(nil), cmd.Args()...))
		r.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (r *cmdRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (r *cmdRecorder) reset() {
	r.mu.Lock()
	r.cmds = nil
	r.mu.Unlock()
}

func (r *cmdRecorder) all() [][]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]any(nil), r.cmds...)
}

func equalArgs(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
