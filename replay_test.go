package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

var replayTestStart = time.Unix(1_700_000_000, 0)

func newReplayTestStore(maxEntries int) (*MemoryReplayStore, *testsupport.Clock) {
	clock := testsupport.NewClock(replayTestStart)
	return NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: maxEntries, Now: clock.Now}), clock
}

// replayTestKey returns a distinct key for each i. The counter sits in the
// first bytes so that consecutive keys fall in different shards.
func replayTestKey(i uint64) ReplayKey {
	var k ReplayKey
	binary.LittleEndian.PutUint64(k[:8], i)
	binary.LittleEndian.PutUint64(k[8:16], i*0x9e3779b97f4a7c15)
	return k
}

func replaySeen(t *testing.T, s *MemoryReplayStore, key ReplayKey, expires time.Time) bool {
	t.Helper()
	ok, err := s.Seen(context.Background(), key, expires)
	if err != nil {
		t.Fatalf("Seen: %v", err)
	}
	return ok
}

func TestMemoryReplaySeenTwice(t *testing.T) {
	s, _ := newReplayTestStore(0)
	exp := replayTestStart.Add(time.Minute)
	k := replayTestKey(1)
	if replaySeen(t, s, k, exp) {
		t.Fatal("first Seen = true")
	}
	for range 3 {
		if !replaySeen(t, s, k, exp) {
			t.Fatal("repeated Seen = false")
		}
	}
	if got := s.Len(); got != 1 {
		t.Errorf("Len = %d, want 1", got)
	}
}

func TestMemoryReplayExpiry(t *testing.T) {
	s, clock := newReplayTestStore(0)
	k := replayTestKey(1)
	if replaySeen(t, s, k, replayTestStart.Add(time.Minute)) {
		t.Fatal("first Seen = true")
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if !replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("Seen just before expiry = false")
	}
	// The second call did not extend the entry: it expires at the first
	// expiry, and the clock is then exactly on it.
	clock.Advance(time.Nanosecond)
	if replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("Seen at expiry = true")
	}
	// That call recorded the key again, with the new expiry.
	if !replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("Seen after re-recording = false")
	}
	if got := s.Len(); got != 1 {
		t.Errorf("Len = %d, want 1", got)
	}
}

func TestMemoryReplayPastExpiry(t *testing.T) {
	s, _ := newReplayTestStore(0)
	k := replayTestKey(1)
	for _, exp := range []time.Time{replayTestStart, replayTestStart.Add(-time.Hour), {}} {
		for range 2 {
			if replaySeen(t, s, k, exp) {
				t.Fatalf("Seen with expires %v = true", exp)
			}
		}
	}
	if got := s.Len(); got != 0 {
		t.Errorf("an already expired key was recorded: Len = %d", got)
	}
	// A live entry is still reported whatever expiry the caller passes,
	// and an expired expiry removes an expired entry.
	if replaySeen(t, s, k, replayTestStart.Add(time.Second)) {
		t.Fatal("first Seen = true")
	}
	if !replaySeen(t, s, k, replayTestStart.Add(-time.Second)) {
		t.Fatal("Seen of a live key with a past expiry = false")
	}
}

func TestMemoryReplayFarFuture(t *testing.T) {
	s, clock := newReplayTestStore(0)
	k := replayTestKey(1)
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if replaySeen(t, s, k, far) {
		t.Fatal("first Seen = true")
	}
	clock.Advance(100 * 365 * 24 * time.Hour)
	if !replaySeen(t, s, k, far) {
		t.Fatal("an entry expiring in 9999 was forgotten")
	}
}

// TestMemoryReplayBefore1970 runs a store on a clock with negative Unix
// times, where expiries must not be taken for overflows.
func TestMemoryReplayBefore1970(t *testing.T) {
	clock := testsupport.NewClock(time.Unix(-3600, 0))
	s := NewMemoryReplayStore(MemoryReplayOptions{Now: clock.Now})
	k := replayTestKey(1)
	if replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("first Seen = true")
	}
	if !replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("second Seen = false")
	}
	clock.Advance(time.Minute)
	if replaySeen(t, s, k, clock.Now().Add(time.Minute)) {
		t.Fatal("Seen after expiry = true")
	}
}

func TestMemoryReplayIndependentKeys(t *testing.T) {
	s, _ := newReplayTestStore(0)
	exp := replayTestStart.Add(time.Minute)
	a := replayTestKey(1)
	b := a
	b[31] ^= 1 // differs in a byte that does not pick the shard
	c := replayTestKey(2)
	for _, k := range []ReplayKey{a, b, c} {
		if replaySeen(t, s, k, exp) {
			t.Fatalf("first Seen of %x = true", k[:4])
		}
	}
	for _, k := range []ReplayKey{a, b, c} {
		if !replaySeen(t, s, k, exp) {
			t.Fatalf("second Seen of %x = false", k[:4])
		}
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
}

func TestMemoryReplayFull(t *testing.T) {
	const maxEntries = 100
	s, clock := newReplayTestStore(maxEntries)
	ctx := context.Background()
	// Half the entries expire after a second, half after a minute.
	for i := range uint64(maxEntries) {
		exp := replayTestStart.Add(time.Minute)
		if i%2 == 0 {
			exp = replayTestStart.Add(time.Second)
		}
		if replaySeen(t, s, replayTestKey(i), exp) {
			t.Fatalf("first Seen of key %d = true", i)
		}
	}
	for range 3 {
		ok, err := s.Seen(ctx, replayTestKey(maxEntries), replayTestStart.Add(time.Minute))
		if !errors.Is(err, ErrStoreUnavailable) || ok {
			t.Fatalf("Seen on a full store = %v, %v; want false and ErrStoreUnavailable", ok, err)
		}
	}
	// Nothing was evicted, and known keys are still answered.
	for i := range uint64(maxEntries) {
		if !replaySeen(t, s, replayTestKey(i), replayTestStart.Add(time.Minute)) {
			t.Fatalf("key %d was evicted", i)
		}
	}
	if got := s.Len(); got != maxEntries {
		t.Errorf("Len = %d, want %d", got, maxEntries)
	}

	// Once the short entries expire, the store makes room by dropping them
	// and only them.
	clock.Advance(time.Second)
	for i := uint64(maxEntries); i < maxEntries+maxEntries/2; i++ {
		if replaySeen(t, s, replayTestKey(i), clock.Now().Add(time.Minute)) {
			t.Fatalf("first Seen of key %d = true", i)
		}
	}
	if got := s.Len(); got != maxEntries {
		t.Errorf("Len = %d, want %d", got, maxEntries)
	}
	if _, err := s.Seen(ctx, replayTestKey(1000), clock.Now().Add(time.Minute)); !errors.Is(err, ErrStoreUnavailable) {
		t.Errorf("Seen on a full store = %v, want ErrStoreUnavailable", err)
	}
	for i := uint64(1); i < maxEntries; i += 2 {
		if !replaySeen(t, s, replayTestKey(i), clock.Now().Add(time.Minute)) {
			t.Fatalf("live key %d was evicted", i)
		}
	}
}

// TestMemoryReplayFullSharded fills a sharded store with random keys: it
// must refuse at exactly MaxEntries, however the keys fall over the shards.
func TestMemoryReplayFullSharded(t *testing.T) {
	const maxEntries = 1 << 16
	s, _ := newReplayTestStore(maxEntries)
	if len(s.shards) != replayMaxShards {
		t.Fatalf("%d shards, want %d", len(s.shards), replayMaxShards)
	}
	var keys []ReplayKey
	for i := range uint64(maxEntries + 10) {
		keys = append(keys, ReplayKey(sha256.Sum256(binary.LittleEndian.AppendUint64(nil, i))))
	}
	if accepted := replayFill(t, s, keys); accepted != maxEntries {
		t.Errorf("store took %d entries before refusing; want exactly %d", accepted, maxEntries)
	}
}

// replayFill offers keys in order to s until the first refusal and returns
// how many it accepted; it checks that no key was reported as seen and that
// the refusal wraps ErrStoreUnavailable.
func replayFill(t *testing.T, s *MemoryReplayStore, keys []ReplayKey) int {
	t.Helper()
	exp := replayTestStart.Add(time.Minute)
	before := s.Len()
	for i, k := range keys {
		ok, err := s.Seen(context.Background(), k, exp)
		if ok {
			t.Fatalf("first Seen of key %d = true", i)
		}
		if err != nil {
			if !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("Seen = %v, want ErrStoreUnavailable", err)
			}
			if got := s.Len(); got != before+i {
				t.Errorf("Len = %d, want %d", got, before+i)
			}
			return i
		}
	}
	return len(keys)
}

// replayTiltKeys returns n replay keys of one proof key whose jtis a client
// chose so that the first byte of every key is 0 modulo shards: with a shard
// picked from that byte, as it once was, they all land in one shard.
func replayTiltKeys(jkt string, n, shards int) []ReplayKey {
	var keys []ReplayKey
	for i := 0; len(keys) < n; i++ {
		k := replayKey(jkt, "tilt-"+strconv.Itoa(i))
		if int(k[0])%shards == 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestMemoryReplayTilt is the attack on a store that picks a shard from a
// part of the key the client steers: one client sends as many proofs as a
// shard holds, with jtis chosen to land in one shard, then honest clients
// send fresh proofs. Every honest proof must be accepted until the store as
// a whole is full. (With the shard taken from the key's first byte, the
// first honest proof to fall in the tilted shard was refused at about 1/64
// of capacity.)
func TestMemoryReplayTilt(t *testing.T) {
	for _, maxEntries := range []int{1 << 16, 1 << 12} {
		t.Run(strconv.Itoa(maxEntries), func(t *testing.T) {
			s, _ := newReplayTestStore(maxEntries)
			shards := len(s.shards)
			attacker := replayTiltKeys("attacker-thumbprint", maxEntries/shards, shards)
			if got := replayFill(t, s, attacker); got != len(attacker) {
				t.Fatalf("store refused the attacker's proof %d of %d", got, len(attacker))
			}
			// The attacker's keys spread over the shards as any would.
			perShard := make([]int, shards)
			for _, k := range attacker {
				perShard[s.shardIndex(k)]++
			}
			if m := slices.Max(perShard); m == len(attacker) {
				t.Errorf("all %d of the attacker's keys are in one shard", m)
			}
			var honest []ReplayKey
			for i := range maxEntries {
				honest = append(honest, replayKey("honest-"+strconv.Itoa(i%97), "jti-"+strconv.Itoa(i)))
			}
			accepted := replayFill(t, s, honest)
			t.Logf("%d shards of a %d-entry store, %d tilted proofs: %d honest proofs accepted before the first refusal (%.1f%% of capacity in all)",
				shards, maxEntries, len(attacker), accepted, 100*float64(len(attacker)+accepted)/float64(maxEntries))
			if total := len(attacker) + accepted; total != maxEntries {
				t.Errorf("first refusal after %d entries, want exactly %d", total, maxEntries)
			}
		})
	}
}

// TestMemoryReplaySeed checks that the shard of a key depends on the store:
// two stores place the same keys differently.
func TestMemoryReplaySeed(t *testing.T) {
	a, _ := newReplayTestStore(0)
	b, _ := newReplayTestStore(0)
	same := 0
	const n = 256
	for i := range uint64(n) {
		k := replayTestKey(i)
		if a.shardIndex(k) == b.shardIndex(k) {
			same++
		}
	}
	// By chance about n/64; all of them only with one shared seed.
	if same > n/4 {
		t.Errorf("%d of %d keys in the same shard of two stores", same, n)
	}
}

func TestMemoryReplayShards(t *testing.T) {
	for _, tc := range []struct{ max, shards, maxEntries int }{
		{0, 64, 1 << 20},
		{-5, 64, 1 << 20},
		{1, 1, 1},
		{2047, 1, 2047},
		{2048, 2, 2048},
		{65535, 32, 65535},
		{65536, 64, 65536},
		{1<<20 + 63, 64, 1<<20 + 63},
	} {
		s := NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: tc.max})
		if len(s.shards) != tc.shards || s.maxEntries != int64(tc.maxEntries) || int(s.mask) != tc.shards-1 {
			t.Errorf("MaxEntries %d: %d shards (mask %d), bound %d; want %d shards, bound %d",
				tc.max, len(s.shards), s.mask, s.maxEntries, tc.shards, tc.maxEntries)
		}
	}
}

// TestMemoryReplaySweepInterval checks that every shard drops its expired
// entries once the sweep interval has passed.
func TestMemoryReplaySweepInterval(t *testing.T) {
	s, clock := newReplayTestStore(0)
	const n = 1000
	for i := range uint64(n) {
		replaySeen(t, s, replayTestKey(i), replayTestStart.Add(time.Second))
	}
	if got := s.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	// Expired but not yet swept: Len still counts them, Seen does not.
	clock.Advance(time.Second)
	if got := s.Len(); got != n {
		t.Errorf("Len right after expiry = %d, want %d", got, n)
	}
	clock.Advance(replaySweepInterval)
	// New keys until every shard has had one.
	visited := map[uint64]bool{}
	added := 0
	for i := uint64(n); len(visited) < replayMaxShards; i++ {
		k := replayTestKey(i)
		visited[s.shardIndex(k)] = true
		if replaySeen(t, s, k, clock.Now().Add(time.Second)) {
			t.Fatalf("first Seen of key %d = true", i)
		}
		added++
	}
	if got := s.Len(); got != added {
		t.Errorf("Len after sweeping = %d, want the %d new keys", got, added)
	}
}

// TestMemoryReplaySweepGrowth checks that a shard is swept when it doubles,
// so that its size stays within twice the live entries without waiting for
// the sweep interval.
func TestMemoryReplaySweepGrowth(t *testing.T) {
	s, clock := newReplayTestStore(1000) // a single shard
	const live = 100                     // entries alive at any time
	maxLen := 0
	for i := range uint64(50 * live) {
		if replaySeen(t, s, replayTestKey(i), clock.Now().Add(live*time.Millisecond)) {
			t.Fatalf("first Seen of key %d = true", i)
		}
		maxLen = max(maxLen, s.Len())
		clock.Advance(time.Millisecond)
	}
	if maxLen > 2*live+1 {
		t.Errorf("Len reached %d with %d live entries", maxLen, live)
	}
	if got := s.Len(); got < live {
		t.Errorf("Len = %d, fewer than the %d live entries", got, live)
	}
	// The last live entries are all still known.
	// Key i expires at i+100 ms, and the clock is at 5000 ms.
	for i := uint64(49*live + 1); i < 50*live; i++ {
		if !replaySeen(t, s, replayTestKey(i), clock.Now().Add(time.Second)) {
			t.Fatalf("live key %d was dropped", i)
		}
	}
}

// TestMemoryReplayFullSweepGap checks that a full store with expired entries
// is swept at most once per replayFullSweepGap. The store is smaller than
// replayMinSweepLen, so no shard is swept for having grown.
func TestMemoryReplayFullSweepGap(t *testing.T) {
	const n = replayMinSweepLen - 14
	s, clock := newReplayTestStore(n)
	ctx := context.Background()
	for i := range uint64(n) {
		replaySeen(t, s, replayTestKey(i), clock.Now().Add(time.Duration(i+1)*time.Millisecond))
	}
	// Key 0 has expired; the first sweep of the full store drops it.
	clock.Advance(time.Millisecond)
	if replaySeen(t, s, replayTestKey(n), clock.Now().Add(time.Hour)) {
		t.Fatal("first Seen = true")
	}
	// Key 1 expires; within the gap the store stays full.
	clock.Advance(time.Millisecond)
	if _, err := s.Seen(ctx, replayTestKey(n+1), clock.Now().Add(time.Hour)); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Seen within the sweep gap = %v, want ErrStoreUnavailable", err)
	}
	clock.Advance(replayFullSweepGap)
	if replaySeen(t, s, replayTestKey(n+1), clock.Now().Add(time.Hour)) {
		t.Fatal("first Seen = true")
	}
}

func TestMemoryReplayIgnoresContext(t *testing.T) {
	s, _ := newReplayTestStore(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := replayTestKey(1)
	for i, want := range []bool{false, true} {
		ok, err := s.Seen(ctx, k, replayTestStart.Add(time.Minute))
		if ok != want || err != nil {
			t.Errorf("call %d with a done context: Seen = %v, %v; want %v, nil", i, ok, err, want)
		}
	}
}

func TestMemoryReplayDefaultClock(t *testing.T) {
	s := NewMemoryReplayStore(MemoryReplayOptions{})
	k := replayTestKey(1)
	if replaySeen(t, s, k, time.Now().Add(time.Minute)) {
		t.Fatal("first Seen = true")
	}
	if !replaySeen(t, s, k, time.Now().Add(time.Minute)) {
		t.Fatal("second Seen = false")
	}
	if replaySeen(t, s, replayTestKey(2), time.Now().Add(-time.Second)) {
		t.Fatal("Seen of an expired key = true")
	}
}

// TestMemoryReplayConcurrentSameKey has 200 goroutines present one key at
// once: exactly one of them may see it as new.
func TestMemoryReplayConcurrentSameKey(t *testing.T) {
	s, _ := newReplayTestStore(0)
	ctx := context.Background()
	exp := replayTestStart.Add(time.Minute)
	for round := range uint64(20) {
		k := replayTestKey(round)
		var fresh, errs atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 200 {
			wg.Go(func() {
				<-start
				ok, err := s.Seen(ctx, k, exp)
				if err != nil {
					errs.Add(1)
				} else if !ok {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if fresh.Load() != 1 || errs.Load() != 0 {
			t.Fatalf("round %d: %d goroutines saw the key as new and %d failed, want 1 and 0",
				round, fresh.Load(), errs.Load())
		}
	}
}

// TestMemoryReplayConcurrentMixed runs Seen, Len and sweeps from several
// goroutines on overlapping keys, for the race detector.
func TestMemoryReplayConcurrentMixed(t *testing.T) {
	s, clock := newReplayTestStore(4096)
	ctx := context.Background()
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for g := range uint64(8) {
		wg.Go(func() {
			for i := range uint64(2000) {
				// Goroutines share keys in pairs.
				k := replayTestKey(g/2<<32 | i)
				ok, err := s.Seen(ctx, k, clock.Now().Add(time.Second))
				if err != nil && !errors.Is(err, ErrStoreUnavailable) {
					t.Error(err)
					return
				}
				if err == nil && !ok {
					fresh.Add(1)
				}
				if i%100 == 0 {
					_ = s.Len()
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			clock.Advance(50 * time.Millisecond)
			time.Sleep(10 * time.Microsecond)
		}
	})
	wg.Wait()
	if fresh.Load() == 0 {
		t.Error("no key was recorded")
	}
}

// replayBenchKey fills k from a counter, in the shard-picking byte too, the
// way distinct SHA-256 outputs would differ.
func replayBenchKey(k *ReplayKey, i uint64) {
	binary.LittleEndian.PutUint64(k[0:8], i*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(k[8:16], i)
}

// benchReplaySteady measures Seen on fresh keys in the steady state: each
// entry lives for live calls, so old entries expire as fast as new ones
// arrive and the store keeps its size. The clock is injected and moves by
// 100ns a call (in steps of 16 calls, as proofs share expiry times), so the
// size does not depend on the speed of the machine. The entries metric is the
// store's Len at the end, between live and 2*live as shards are swept when
// they double.
func benchReplaySteady(b *testing.B, live int) {
	const tick = 100 * time.Nanosecond
	now := replayTestStart
	s := NewMemoryReplayStore(MemoryReplayOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	window := time.Duration(live) * tick
	exp := now.Add(window)
	var k ReplayKey
	var i uint64
	seenOne := func() {
		i++
		if i%16 == 0 {
			now = now.Add(16 * tick)
			exp = now.Add(window)
		}
		replayBenchKey(&k, i)
		if ok, err := s.Seen(ctx, k, exp); ok || err != nil {
			b.Fatalf("Seen of a fresh key = %v, %v", ok, err)
		}
	}
	// Warm up: grow the maps to their steady-state size.
	for range 10 * live {
		seenOne()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		seenOne()
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Len()), "entries")
}

// BenchmarkReplayMemory keeps 10,000 live entries, a store that fits in the
// processor's caches.
func BenchmarkReplayMemory(b *testing.B) {
	benchReplaySteady(b, 10_000)
}

// BenchmarkReplayMemory100k keeps 100,000 live entries, which do not fit:
// most lookups of a fresh key miss the caches.
func BenchmarkReplayMemory100k(b *testing.B) {
	benchReplaySteady(b, 100_000)
}

// replayBenchWindow is how long entries live in the benchmarks that use the
// real clock.
const replayBenchWindow = 10 * time.Millisecond

// BenchmarkReplayMemoryRealClock is BenchmarkReplayMemory with time.Now as
// the clock, which costs a call per Seen; the store then holds about
// replayBenchWindow/(ns/op) live entries.
func BenchmarkReplayMemoryRealClock(b *testing.B) {
	s := NewMemoryReplayStore(MemoryReplayOptions{})
	ctx := context.Background()
	var k ReplayKey
	var i uint64
	exp := time.Now().Add(replayBenchWindow)
	seenOne := func() {
		i++
		if i%1024 == 0 {
			exp = time.Now().Add(replayBenchWindow)
		}
		replayBenchKey(&k, i)
		if ok, err := s.Seen(ctx, k, exp); ok || err != nil {
			b.Fatalf("Seen of a fresh key = %v, %v", ok, err)
		}
	}
	for end := time.Now().Add(5 * replayBenchWindow); time.Now().Before(end); {
		for range 1024 {
			seenOne()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		seenOne()
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Len()), "entries")
}

func BenchmarkReplayMemoryParallel(b *testing.B) {
	s := NewMemoryReplayStore(MemoryReplayOptions{})
	ctx := context.Background()
	// Warm up with goroutine number 0's counters.
	var k ReplayKey
	var i uint64
	for end := time.Now().Add(5 * replayBenchWindow); time.Now().Before(end); {
		exp := time.Now().Add(replayBenchWindow)
		for range 1024 {
			i++
			replayBenchKey(&k, i)
			_, _ = s.Seen(ctx, k, exp)
		}
	}
	var goroutines atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var k ReplayKey
		i := goroutines.Add(1) << 40 // a range of counters per goroutine
		exp := time.Now().Add(replayBenchWindow)
		for pb.Next() {
			i++
			if i%1024 == 0 {
				exp = time.Now().Add(replayBenchWindow)
			}
			replayBenchKey(&k, i)
			if ok, err := s.Seen(ctx, k, exp); ok || err != nil {
				b.Errorf("Seen of a fresh key = %v, %v", ok, err)
				return
			}
		}
	})
}
