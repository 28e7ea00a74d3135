package dpop

import "sync"

// headerCache is a bounded map from an encoded header to its parsed form.
// When full, an arbitrary entry is dropped: an attacker cycling keys can
// only make the cache miss, never grow it.
type headerCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]*header
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, m: make(map[string]*header, min(max, 1024))}
}

func (c *headerCache) get(k string) *header {
	c.mu.RLock()
	h := c.m[k]
	c.mu.RUnlock()
	return h
}

func (c *headerCache) put(k string, h *header) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = h
	c.mu.Unlock()
}
