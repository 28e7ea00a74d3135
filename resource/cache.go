package resource

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of [TokenCacheOptions].
const (
	// DefaultTokenCacheSize is the number of tokens a [TokenCache] keeps.
	DefaultTokenCacheSize = 10000
	// DefaultTokenCacheTTL is the longest a validation result is reused. It
	// bounds how late a revoked token that is introspected is noticed.
	DefaultTokenCacheTTL = 5 * time.Minute
)

// TokenCacheOptions configure a [TokenCache].
type TokenCacheOptions struct {
	// MaxEntries bounds the number of cached tokens; 0 means
	// DefaultTokenCacheSize. When full, an arbitrary entry is dropped.
	MaxEntries int
	// TTL is the longest an entry lives; 0 means DefaultTokenCacheTTL. An entry
	// never outlives the token's own expiry.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenCache is a [TokenValidator] that remembers the valid tokens of another
// one, so a busy resource server validates each token once and pays, per
// request, only the proof's signature. Entries are keyed by the SHA-256 of
// the token (the token itself is not kept), live until min(exp, now+TTL),
// and the number of entries is bounded. Refusals are not cached. A token
// without an expiry lives TTL.
//
// A TokenCache is safe for concurrent use.
type TokenCache struct {
	next TokenValidator
	max  int
	ttl  time.Duration
	now  func() time.Time

	mu sync.RWMutex
	m  map[[sha256.Size]byte]cacheEntry
}

// evictScan is how many entries a full cache looks at to find one to drop.
const evictScan = 32

type cacheEntry struct {
	info    *TokenInfo
	expires time.Time
}

// NewCache returns a cache in front of next.
func NewTokenCache(next TokenValidator, opts TokenCacheOptions) *TokenCache {
	c := &TokenCache{next: next, max: opts.MaxEntries, ttl: opts.TTL, now: opts.Now}
	if c.max <= 0 {
		c.max = DefaultTokenCacheSize
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTokenCacheTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.m = make(map[[sha256.Size]byte]cacheEntry, min(c.max, 1024))
	return c
}

// ValidateToken returns the cached result for token, or validates it with
// the wrapped validator and caches a success.
func (c *TokenCache) ValidateToken(ctx context.Context, token string) (*TokenInfo, error) {
	k := sha256.Sum256([]byte(token))
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		if now.Before(e.expires) {
			return e.info, nil
		}
		c.mu.Lock()
		if cur, ok := c.m[k]; ok && !now.Before(cur.expires) {
			delete(c.m, k)
		}
		c.mu.Unlock()
	}
	info, err := c.next.ValidateToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, invalid("token", "a TokenInfo from the validator", "none")
	}
	exp := now.Add(c.ttl)
	if !info.Expiry.IsZero() && info.Expiry.Before(exp) {
		exp = info.Expiry
	}
	if !now.Before(exp) {
		return info, nil
	}
	c.mu.Lock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		// Look at a few entries (map order is random), dropping the
		// expired ones; if none was, drop the first seen. The map never
		// grows past max and an insert costs O(1).
		var victim [sha256.Size]byte
		seen, dropped := 0, false
		for old, oe := range c.m {
			if seen == 0 {
				victim = old
			}
			if !now.Before(oe.expires) {
				delete(c.m, old)
				dropped = true
			}
			if seen++; seen == evictScan {
				break
			}
		}
		if !dropped {
			delete(c.m, victim)
		}
	}
	c.m[k] = cacheEntry{info: info, expires: exp}
	c.mu.Unlock()
	return info, nil
}

// maxTokenSize is the limit of the wrapped validator, if it has one.
func (c *TokenCache) maxTokenSize() int {
	if l, ok := c.next.(tokenSizeLimiter); ok {
		return l.maxTokenSize()
	}
	return 0
}

// Len returns the number of entries, expired ones included.
func (c *TokenCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
