package dpop

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ReplayKey is the fixed-size key a [ReplayStore] records: the SHA-256 of the
// proof key's thumbprint and the jti. The raw jti is never stored.
type ReplayKey [32]byte

// ReplayStore remembers the proofs a verifier has accepted so that each is
// accepted once (RFC 9449 §11.1).
type ReplayStore interface {
	// Seen atomically records key until expires and reports whether it was
	// already recorded and not yet expired. An error means the store could
	// not answer; the verifier then refuses the proof (fails closed).
	Seen(ctx context.Context, key ReplayKey, expires time.Time) (bool, error)
}

const (
	// defaultReplayMaxEntries is MemoryReplayOptions.MaxEntries when zero.
	defaultReplayMaxEntries = 1 << 20
	// replayMaxShards is the number of shards of a large store. It is a
	// power of two so that a shard is picked with a mask.
	replayMaxShards = 64
	// replayMinShardLen is the number of entries per shard below which a
	// store uses fewer shards: a small store gains nothing from them.
	replayMinShardLen = 1024
	// replayMinSweepLen is the size below which a shard is not swept for
	// having grown.
	replayMinSweepLen = 64
	// replaySweepInterval is how often a shard is swept even if it has not
	// grown, so that memory held by expired entries is given back.
	replaySweepInterval = time.Minute
	// replayFullSweepGap is the shortest time between two sweeps of a full
	// store. It bounds the work a store at its limit does per request.
	replayFullSweepGap = 100 * time.Millisecond
)

// errReplayFull is returned when the store is at its bound. It is allocated
// once: the store is full under load, which is no time to allocate.
var errReplayFull = fmt.Errorf("%w: memory replay store is full", ErrStoreUnavailable)

// MemoryReplayOptions configures [NewMemoryReplayStore].
type MemoryReplayOptions struct {
	// MaxEntries bounds the number of proofs remembered; zero or less means
	// 1<<20. A full store takes about 100 bytes of memory per entry.
	// When the store is full even after dropping expired entries,
	// Seen returns an error wrapping [ErrStoreUnavailable]: it fails closed
	// and never forgets a proof that has not expired.
	//
	// The bound is on the whole store, not on each of its shards: the
	// first refusal comes at exactly MaxEntries live entries however the
	// keys fall, so a client that chooses its jti cannot fill the store
	// early by aiming its proofs at one shard.
	MaxEntries int
	// Now returns the current time; nil means [time.Now].
	Now func() time.Time
}

// MemoryReplayStore is a [ReplayStore] that keeps proofs in the memory of one
// process. A fleet of servers needs a shared store instead, or each server
// accepts each proof once.
//
// Entries are kept in shards, each a map under its own mutex. The shard of a
// key is chosen by a hash seeded with a secret drawn when the store is made,
// so a client cannot aim its keys at one shard, and the bound counts the
// entries of all shards together. Expired entries are dropped by Seen itself:
// a shard is swept when it has doubled in size since its last sweep or when a
// minute has passed, and every shard when the store is full (at most ten
// times a second). There is no background goroutine, so a store needs no
// closing and is freed by the garbage collector like any value.
//
// The methods of a MemoryReplayStore are safe for concurrent use.
type MemoryReplayStore struct {
	shards []replayShard
	mask   uint64
	// seed keys the hash that picks a shard. It is secret and drawn per
	// store, so the shard of a key cannot be predicted from the key.
	seed       maphash.Seed
	maxEntries int64
	now        func() time.Time
	// count is the number of entries in all shards; an entry is added
	// only after count was raised below maxEntries.
	count atomic.Int64
	// lastFullSweep is when every shard was last swept because the store
	// was full, in Unix nanoseconds.
	lastFullSweep atomic.Int64
}

type replayShard struct {
	mu sync.Mutex
	// m maps a key to its expiry in Unix nanoseconds. An entry whose
	// expiry is not after now counts as absent.
	m map[ReplayKey]int64
	// minExp is at most the smallest expiry in m (math.MaxInt64 when m is
	// empty), so a sweep is skipped while nothing can have expired.
	minExp int64
	// lastSweep is the time of the last sweep in Unix nanoseconds.
	lastSweep int64
	// nextSweepLen is the size at which the shard is swept next.
	nextSweepLen int
	// Keep each shard's hot fields on a cache line of their own.
	_ [64]byte
}

// NewMemoryReplayStore returns an empty [MemoryReplayStore] configured by
// opts.
func NewMemoryReplayStore(opts MemoryReplayOptions) *MemoryReplayStore {
	maxEntries := opts.MaxEntries
	if maxEntries <= 0 {
		maxEntries = defaultReplayMaxEntries
	}
	shards := replayMaxShards
	for shards > 1 && maxEntries/shards < replayMinShardLen {
		shards /= 2
	}
	s := &MemoryReplayStore{
		shards:     make([]replayShard, shards),
		mask:       uint64(shards - 1),
		seed:       maphash.MakeSeed(),
		maxEntries: int64(maxEntries),
		now:        opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.lastFullSweep.Store(math.MinInt64)
	// An empty shard counts as just swept.
	created := s.now().UnixNano()
	for i := range s.shards {
		s.shards[i].m = make(map[ReplayKey]int64)
		s.shards[i].minExp = math.MaxInt64
		s.shards[i].lastSweep = created
		s.shards[i].nextSweepLen = replayMinSweepLen
	}
	return s
}

// Seen records key until expires and reports whether it was already recorded
// with an expiry after the current time. An expires that is not after the
// current time records nothing. When the store is full, Seen returns false
// and an error wrapping [ErrStoreUnavailable].
//
// Seen never waits for anything but a short critical section, so it does not
// use ctx: it answers even when ctx is already done.
func (s *MemoryReplayStore) Seen(ctx context.Context, key ReplayKey, expires time.Time) (bool, error) {
	nowTime := s.now()
	now := nowTime.UnixNano()
	// Sub saturates, and the sum is clamped, so an expires far in the past
	// or the future cannot overflow.
	exp := int64(math.MaxInt64)
	if d := int64(expires.Sub(nowTime)); d <= 0 {
		exp = now
	} else if now < 0 || d <= math.MaxInt64-now {
		exp = now + d
	}

	// The key is a SHA-256 output, but its input is chosen by the client
	// (its own thumbprint and any jti), so no fixed part of it may pick the
	// shard: a few dozen tries per proof would aim every proof at one. The
	// seeded hash makes the shard as unpredictable as the seed.
	sh := &s.shards[s.shardIndex(key)]
	sh.mu.Lock()
	seen, err := s.seenLocked(sh, key, exp, now)
	sh.mu.Unlock()
	if err == errReplayFull && s.sweepAll(now) {
		sh.mu.Lock()
		seen, err = s.seenLocked(sh, key, exp, now)
		sh.mu.Unlock()
	}
	return seen, err
}

// shardIndex returns the index of the shard that holds key.
func (s *MemoryReplayStore) shardIndex(key ReplayKey) uint64 {
	return maphash.Comparable(s.seed, key) & s.mask
}

// seenLocked is Seen within one shard, whose lock the caller holds.
func (s *MemoryReplayStore) seenLocked(sh *replayShard, key ReplayKey, exp, now int64) (bool, error) {
	if e, ok := sh.m[key]; ok {
		if e > now {
			return true, nil
		}
		if exp > now {
			sh.m[key] = exp
			sh.minExp = min(sh.minExp, exp)
		} else {
			delete(sh.m, key)
			s.count.Add(-1)
		}
		return false, nil
	}
	if exp <= now {
		return false, nil
	}

	if sh.minExp <= now && (len(sh.m) >= sh.nextSweepLen || sh.lastSweep <= now-int64(replaySweepInterval)) {
		s.count.Add(-int64(sh.sweep(now)))
	}
	if !s.reserve() {
		return false, errReplayFull
	}
	sh.m[key] = exp
	sh.minExp = min(sh.minExp, exp)
	return false, nil
}

// reserve counts one more entry if the store has room for it.
func (s *MemoryReplayStore) reserve() bool {
	for {
		n := s.count.Load()
		if n >= s.maxEntries {
			return false
		}
		if s.count.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweepAll sweeps every shard that may hold an expired entry, unless the
// store was swept so in the last replayFullSweepGap, and reports whether it
// dropped anything. It is called without any shard lock held.
func (s *MemoryReplayStore) sweepAll(now int64) bool {
	last := s.lastFullSweep.Load()
	if last > now-int64(replayFullSweepGap) || !s.lastFullSweep.CompareAndSwap(last, now) {
		return false
	}
	dropped := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.minExp <= now {
			d := sh.sweep(now)
			s.count.Add(-int64(d))
			dropped += d
		}
		sh.mu.Unlock()
	}
	return dropped > 0
}

// sweep drops the expired entries of the shard and returns how many it
// dropped. The caller holds sh.mu.
func (sh *replayShard) sweep(now int64) int {
	n := len(sh.m)
	minExp := int64(math.MaxInt64)
	for k, e := range sh.m {
		if e <= now {
			delete(sh.m, k)
		} else if e < minExp {
			minExp = e
		}
	}
	sh.minExp = minExp
	sh.lastSweep = now
	sh.nextSweepLen = max(2*len(sh.m), replayMinSweepLen)
	return n - len(sh.m)
}

// Len returns the number of entries held, counting expired entries that have
// not been swept yet. It is meant for tests and metrics.
func (s *MemoryReplayStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
