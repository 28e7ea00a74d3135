// Package redisstore is a [dpop.ReplayStore] kept in Redis (or Valkey), so
// that a fleet of servers accepts each DPoP proof once between them, not
// once per server (RFC 9449 §11.1).
//
// A [Store] works with any [redis.UniversalClient]: a single server
// (redis.NewClient), Sentinel (redis.NewFailoverClient) or Cluster
// (redis.NewClusterClient). Each check is one atomic command,
//
//	SET <prefix><key> <check id> PX <ms> NX GET
//
// where key is the unpadded base64url form of the 32-byte [dpop.ReplayKey]
// (a hash of the proof key's thumbprint and the jti; the raw jti is never
// sent to Redis), the check id names this one check, and ms is the time
// left until the proof stops being acceptable, rounded up. The reply (the
// old value, if any) says whether the key was new; an old value that is the
// check's own id means the Redis client retried after a lost reply, and the
// proof is still new. This needs Redis 7.0 or later (a SET NX fallback
// serves older servers, see [ErrLegacyServer]). Checks that arrive while a
// round trip is in flight are sent together as one pipeline. Redis drops
// each key when it expires, so the store needs no cleaning.
//
// Options.MinReplicas makes a check wait until replicas have the key
// (WAIT), for deployments where a failover must not forget a proof.
//
// # Failures
//
// When Redis does not answer within Options.Timeout or the caller's
// deadline, whichever comes first, Seen returns an error wrapping
// [dpop.ErrStoreUnavailable]. The verifier then refuses the proof with the
// code temporarily_unavailable, which the resource middleware answers with
// 503 Service Unavailable and no challenge: the client did nothing wrong and
// may retry with a new proof. Options.FailOpen chooses the other policy
// (accept without a replay check while Redis is down); see its
// documentation for what that gives up.
//
// The client must honour context deadlines on the socket
// (ContextTimeoutEnabled: true in its options); [New] refuses a client that
// is known not to, since its requests could then wait for the client's
// ReadTimeout instead of the request's deadline.
//
// # Fleets
//
// docs/fleet.md in the repository describes a deployment: the shared
// Redis, the shared HMAC nonce keyring and how to rotate it, what is
// guaranteed and what is not (a Redis failover can lose the most recent
// keys), and measured costs. The program in example/fleet runs two
// resource-server instances on one Redis.
package redisstore
