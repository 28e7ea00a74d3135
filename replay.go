package dpop

import (
	"context"
	"fmt"
	"math"
	"sync"
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
	// replayMinShardCap is the smallest per-shard bound worth sharding
	// for; smaller stores use fewer shards so that the bound stays close to
	// MaxEntries however the keys fall.
	replayMinShardCap = 1024
	// replayMinSweepLen is the size below which a shard is not swept for
	// having grown.
	replayMinSweepLen = 64
	// replaySweepInterval is how often a shard is swept even if it has not
	// grown, so that memory held by expired entries is given back.
	replaySweepInterval = time.Minute
	// replayFullSweepGap is the shortest time between two sweeps of a full
	// shard. It bounds the work a store at its limit does per request.
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
	// The bound is split evenly over the store's shards. A store of 65536
	// entries or more has 64 shards, and since keys spread over them at
	// random, the first refusal may come a little before MaxEntries is
	// reached (around 2% before it for the default). Smaller stores have
	// fewer shards, and below 2048 entries a single one, where the bound is
	// exact.
	MaxEntries int
	// Now returns the current time; nil means [time.Now].
	Now func() time.Time
}

// MemoryReplayStore is a [ReplayStore] that keeps proofs in the memory of one
// process. A fleet of servers needs a shared store instead, or each server
// accepts each proof once.
//
// Entries are kept in shards, each a map under its own mutex. Expired entries
// are dropped by Seen itself: a shard is swept when it has doubled in size
// since its last sweep, when a minute has passed, or when it is full (at most
// ten times a second). There is no background goroutine, so a store needs no
// closing and is freed by the garbage collector like any value.
//
// The methods of a MemoryReplayStore are safe for concurrent use.
type MemoryReplayStore struct {
	shards   []replayShard
	mask     uint8
	shardCap int
	now      func() time.Time
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
	for shards > 1 && maxEntries/shards < replayMinShardCap {
		shards /= 2
	}
	s := &MemoryReplayStore{
		shards:   make([]replayShard, shards),
		mask:     uint8(shards - 1),
		shardCap: maxEntries / shards,
		now:      opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.shards {
		s.shards[i].m = make(map[ReplayKey]int64)
		s.shards[i].minExp = math.MaxInt64
		s.shards[i].lastSweep = math.MinInt64
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

	// The key is a SHA-256 output, so any of its bytes picks a shard at
	// random; the map hashes the whole key with its own seed.
	sh := &s.shards[key[0]&s.mask]
	sh.mu.Lock()
	seen, err := sh.seen(key, exp, now, s.shardCap)
	sh.mu.Unlock()
	return seen, err
}

// seen is Seen within one shard, whose lock the caller holds.
func (sh *replayShard) seen(key ReplayKey, exp, now int64, shardCap int) (bool, error) {
	if e, ok := sh.m[key]; ok {
		if e > now {
			return true, nil
		}
		if exp > now {
			sh.m[key] = exp
			sh.minExp = min(sh.minExp, exp)
		} else {
			delete(sh.m, key)
		}
		return false, nil
	}
	if exp <= now {
		return false, nil
	}

	if n := len(sh.m); sh.minExp <= now &&
		(n >= sh.nextSweepLen ||
			sh.lastSweep <= now-int64(replaySweepInterval) ||
			n >= shardCap && sh.lastSweep <= now-int64(replayFullSweepGap)) {
		sh.sweep(now)
	}
	if len(sh.m) >= shardCap {
		return false, errReplayFull
	}
	sh.m[key] = exp
	sh.minExp = min(sh.minExp, exp)
	return false, nil
}

// sweep drops the expired entries of the shard. The caller holds sh.mu.
func (sh *replayShard) sweep(now int64) {
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
