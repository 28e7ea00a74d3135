package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/redis/go-redis/v9"
)

// Defaults of [Options].
const (
	// DefaultPrefix is the prefix of every key when Options.Prefix is
	// empty.
	DefaultPrefix = "dpop:jti:"
	// DefaultTimeout caps one check when Options.Timeout is zero. A check
	// on a healthy Redis nearby takes well under a millisecond.
	DefaultTimeout = 250 * time.Millisecond
)

// keyEncoding writes the 32-byte replay key in 43 characters.
var keyEncoding = base64.RawURLEncoding

// Options configure a [Store].
type Options struct {
	// Prefix starts every key the store writes, so that several stores
	// (or other data) can share a database. Empty means DefaultPrefix.
	// With Redis Cluster, do not put a hash tag ({...}) in it: that would
	// send every key to the same shard.
	Prefix string
	// Timeout caps the time one Seen call waits for Redis, retries
	// included; the context passed to Seen can only make it shorter. Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// FailOpen makes Seen report a proof as new, with no error, when Redis
	// cannot answer, so that requests keep being served while it is down.
	// While it is down, a replayed proof is accepted as long as its iat
	// is in the verifier's window. The default (false) fails closed:
	// Seen returns an error and the proof is refused with
	// temporarily_unavailable (503 at the resource middleware).
	FailOpen bool
	// OnError, when set, is called with every error Seen meets, whichever
	// the policy, before Seen returns. It is the way to count or log
	// failures when FailOpen hides them. It must be safe for concurrent
	// use and return quickly.
	OnError func(error)
	// Now returns the current time; nil means time.Now. It turns the
	// expiry Seen is given into a time to live.
	Now func() time.Time
	// MinReplicas, when above zero, makes every check wait (Redis WAIT)
	// until that many replicas have the write, for at most ReplicaTimeout,
	// in the same round trip as the SET. A proof is accepted only then;
	// when fewer replicas confirm in time, the check fails as unavailable
	// (subject to FailOpen). With asynchronous replication alone, a
	// failover can lose the last keys written and a proof accepted just
	// before it can be accepted once more (docs/fleet.md measures both).
	// For a primary with replicas (directly or through Sentinel), not for
	// Redis Cluster: New refuses it with a *redis.ClusterClient.
	MinReplicas int
	// ReplicaTimeout bounds the wait for MinReplicas; zero means
	// DefaultReplicaTimeout. The store's Timeout still bounds the whole
	// check.
	ReplicaTimeout time.Duration
}

// DefaultReplicaTimeout is the wait for replicas when
// Options.ReplicaTimeout is zero.
const DefaultReplicaTimeout = 100 * time.Millisecond

// Store is a [dpop.ReplayStore] on Redis. Its methods are safe for
// concurrent use. It does not own the client: closing the client is the
// caller's job, after the last call to Seen.
type Store struct {
	client   redis.UniversalClient
	prefix   string
	timeout  time.Duration
	failOpen bool
	onError  func(error)
	now      func() time.Time

	minReplicas    int
	replicaTimeout time.Duration

	// id starts every value the store writes and checks counts them, so
	// that a value names one check of one store: a retry of a check finds
	// its own value and knows the key is its own (see Seen).
	id     string
	checks atomic.Uint64
	// legacy is set once the server has refused SET with both NX and GET
	// (Redis before 7.0): the store then writes with SET NX alone.
	legacy atomic.Bool

	co coalescer
	// uncoalesced sends each check on its own (tests compare both).
	uncoalesced bool
}

var _ dpop.ReplayStore = (*Store)(nil)

// New returns a store that keeps its keys in the database client talks to.
//
// It returns an error when client is nil, when Timeout is negative, and when
// client is a *redis.Client, *redis.ClusterClient or *redis.Ring made
// without ContextTimeoutEnabled (a client of another type cannot be checked:
// make sure it honours context deadlines).
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if opts.Timeout < 0 {
		return nil, errors.New("redisstore: negative Timeout")
	}
	if opts.MinReplicas < 0 || opts.ReplicaTimeout < 0 {
		return nil, errors.New("redisstore: negative MinReplicas or ReplicaTimeout")
	}
	if _, cluster := client.(*redis.ClusterClient); cluster && opts.MinReplicas > 0 {
		return nil, errors.New("redisstore: MinReplicas needs a primary with replicas; Redis Cluster's WAIT cannot follow a key's slot")
	}
	if !honoursContext(client) {
		return nil, errors.New("redisstore: the redis client must be created with ContextTimeoutEnabled: true, " +
			"or a stalled server holds requests past their deadline")
	}
	s := &Store{
		client:   client,
		prefix:   opts.Prefix,
		timeout:  opts.Timeout,
		failOpen: opts.FailOpen,
		onError:  opts.OnError,
		now:      opts.Now,

		minReplicas:    opts.MinReplicas,
		replicaTimeout: opts.ReplicaTimeout,
	}
	if s.replicaTimeout == 0 {
		s.replicaTimeout = DefaultReplicaTimeout
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s.id = keyEncoding.EncodeToString(id[:]) + "."
	return s, nil
}

// honoursContext reports false for the clients of go-redis whose options
// say that socket reads and writes ignore context deadlines.
func honoursContext(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Key returns the Redis key under which the store records k.
func (s *Store) Key(k dpop.ReplayKey) string {
	buf := make([]byte, len(s.prefix)+keyEncoding.EncodedLen(len(k)))
	n := copy(buf, s.prefix)
	keyEncoding.Encode(buf[n:], k[:])
	return string(buf)
}

// Seen records key until expires and reports whether it was already recorded
// and not expired, in one round trip:
//
//	SET <key> <check id> PX <ms> NX GET
//
// The value names this one check (the store's random id and a counter).
// When the reply to a first attempt is lost and the Redis client sends the
// command again, the retry finds the key holding its own check id and Seen
// reports the proof as new, as it was: a lost reply never turns an honest
// proof into a replay. Any other value means another check recorded the key
// first. The time to live is the time left until expires, rounded up to a
// whole millisecond.
//
// SET with both NX and GET needs Redis 7.0 or later (Valkey 7.2 or later).
// On an older server, which refuses the pair as a syntax error, the store
// calls OnError once with [ErrLegacyServer] and from then on writes with
// SET NX alone: correct, but a retried check may then report a replay.
//
// Like [dpop.MemoryReplayStore], Seen records nothing for an expires that is
// not after the current time; it then only asks whether key is recorded
// (EXISTS).
//
// When Redis cannot answer within the store's Timeout and ctx's deadline,
// Seen returns false and an error wrapping [dpop.ErrStoreUnavailable], or,
// with FailOpen, false and nil. A ctx that is already done is such a
// failure, and sends nothing.
func (s *Store) Seen(ctx context.Context, key dpop.ReplayKey, expires time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return s.fail(err)
	}
	ttl := expires.Sub(s.now())
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	if ttl <= 0 {
		n, err := s.client.Exists(ctx, s.Key(key)).Result()
		if err != nil {
			return s.fail(err)
		}
		return n > 0, nil
	}
	// Round up, so that the key never expires before the proof does.
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	if s.legacy.Load() {
		return s.seenLegacy(ctx, key, ms)
	}
	check := s.id + strconv.FormatUint(s.checks.Add(1), 36)
	cmd := redis.NewStringCmd(ctx, "set", s.Key(key), check, "px", ms, "nx", "get")
	if s.minReplicas > 0 {
		return s.seenReplicated(ctx, cmd, check)
	}
	var err error
	if s.uncoalesced {
		err = s.client.Process(ctx, cmd)
	} else {
		err = s.co.process(ctx, s.client, s.timeout, cmd)
	}
	switch {
	case err == redis.Nil:
		// No old value: the key is ours, set by this command.
		return false, nil
	case err != nil:
		if isSyntaxError(err) {
			s.legacy.Store(true)
			if s.onError != nil {
				s.onError(fmt.Errorf("%w: %w", ErrLegacyServer, err))
			}
			return s.seenLegacy(ctx, key, ms)
		}
		return s.fail(err)
	}
	// An old value: ours when an earlier attempt of this very check was
	// executed but its reply lost; else another check's.
	return cmd.Val() != check, nil
}

// ErrReplicas wraps the failure of a check whose write fewer than
// Options.MinReplicas replicas confirmed in time.
var ErrReplicas = errors.New("redisstore: too few replicas confirmed the write")

// seenReplicated is Seen with MinReplicas: SET and WAIT in one pipeline.
func (s *Store) seenReplicated(ctx context.Context, set *redis.StringCmd, check string) (bool, error) {
	wait := redis.NewIntCmd(ctx, "wait", s.minReplicas, s.replicaTimeout.Milliseconds())
	pipe := s.client.Pipeline()
	_ = pipe.Process(ctx, set)
	_ = pipe.Process(ctx, wait)
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return s.fail(err)
	}
	if err := set.Err(); err != nil && err != redis.Nil {
		return s.fail(err)
	}
	if set.Err() == nil && set.Val() != check {
		// Recorded by another check: a replay, whatever the replicas say.
		return true, nil
	}
	if n, err := wait.Result(); err != nil || n < int64(s.minReplicas) {
		if err == nil {
			err = fmt.Errorf("%w: %d of %d within %v", ErrReplicas, n, s.minReplicas, s.replicaTimeout)
		}
		return s.fail(err)
	}
	return false, nil
}

// ErrLegacyServer is passed to Options.OnError, once per store, when the
// server does not accept SET with both NX and GET (Redis before 7.0).
var ErrLegacyServer = errors.New("redisstore: the server refuses SET NX GET (Redis < 7.0); " +
	"falling back to SET NX, where a retried check may report a replay")

// seenLegacy is Seen for servers before Redis 7.0: SET NX alone.
func (s *Store) seenLegacy(ctx context.Context, key dpop.ReplayKey, ms int64) (bool, error) {
	cmd := redis.NewBoolCmd(ctx, "set", s.Key(key), "1", "px", ms, "nx")
	if err := s.client.Process(ctx, cmd); err != nil {
		return s.fail(err)
	}
	// The reply is OK (true) when the key was set, nil (false) when it
	// was already there.
	return !cmd.Val(), nil
}

// isSyntaxError reports whether err is the server's answer to a SET whose
// options it does not know.
func isSyntaxError(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "ERR syntax error")
}

// fail applies the failure policy to err.
func (s *Store) fail(err error) (bool, error) {
	err = fmt.Errorf("%w: redisstore: %w", dpop.ErrStoreUnavailable, err)
	if s.onError != nil {
		s.onError(err)
	}
	if s.failOpen {
		return false, nil
	}
	return false, err
}
