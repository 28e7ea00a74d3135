package dpop

import (
	"crypto/sha256"
	"sync"
)

// headerCacheEntryBytes is the memory budget per entry of a header cache
// of n entries: the cache holds at most n*headerCacheEntryBytes bytes
// (by [headerCost]'s estimate), whichever bound is reached first.
const headerCacheEntryBytes = 1024

// headerKey names an encoded JOSE header in the cache: its SHA-256, so an
// entry costs the same whatever the size of the header (a header padded
// with ignored members buys no memory).
type headerKey [sha256.Size]byte

// headerCache is a bounded map from the digest of an encoded header to the
// header it decoded to. The verifier puts a header in only after a
// signature made with its key verified, so unsigned input never reaches
// it. When a bound is reached, arbitrary entries are dropped: a client
// cycling keys can only make the cache miss, never grow it.
type headerCache struct {
	mu       sync.RWMutex
	max      int // entries
	maxBytes int
	bytes    int
	m        map[headerKey]*header
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, maxBytes: max * headerCacheEntryBytes, m: make(map[headerKey]*header, min(max, 1024))}
}

// headerCost estimates the memory an entry holds: the map slot and key,
// the header and its parsed key, and the canonical JWK (kept) plus the
// decoded key material (about as long again). Measured live heap per
// entry: about 680 bytes for ES256 keys (estimate 680), 110 for Ed25519
// (585), 1,040 for RSA-2048 (1,170).
func headerCost(h *header) int {
	return 384 + len(h.key.jkt) + 2*len(h.key.jwk)
}

func (c *headerCache) get(k *headerKey) *header {
	c.mu.RLock()
	h := c.m[*k]
	c.mu.RUnlock()
	return h
}

func (c *headerCache) put(k *headerKey, h *header) {
	cost := headerCost(h)
	if cost > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[*k]; ok {
		c.bytes -= headerCost(old)
		delete(c.m, *k)
	}
	for old, oh := range c.m {
		if len(c.m) < c.max && c.bytes+cost <= c.maxBytes {
			break
		}
		c.bytes -= headerCost(oh)
		delete(c.m, old)
	}
	c.m[*k] = h
	c.bytes += cost
}
