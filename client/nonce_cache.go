package client

import (
	"maps"
	"net"
	"net/url"
	"strings"
	"sync"
)

// NonceCache holds the most recent DPoP-Nonce value of each server, keyed
// by origin (see [Origin]). RFC 9449 §8 and §9 let the authorization server
// and every resource server hand out their own nonces; a nonce is only ever
// sent back to the origin that issued it.
//
// Implementations must be safe for concurrent use. An application that wants
// nonces to survive a restart can back the interface with its own storage;
// [MemoryNonceCache] keeps them in memory.
type NonceCache interface {
	// Get returns the nonce stored for origin, or "" when there is none.
	Get(origin string) string
	// Set stores nonce as the current value for origin, replacing any
	// older one.
	Set(origin, nonce string)
}

// MemoryNonceCache is an in-memory [NonceCache]. The zero value is ready to
// use; it must not be copied after first use.
type MemoryNonceCache struct {
	mu sync.RWMutex
	m  map[string]string
}

// Get implements [NonceCache].
func (c *MemoryNonceCache) Get(origin string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[origin]
}

// Set implements [NonceCache].
func (c *MemoryNonceCache) Set(origin, nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string)
	}
	c.m[origin] = nonce
}

// Snapshot returns a copy of every stored origin and nonce, for saving with
// a [Session].
func (c *MemoryNonceCache) Snapshot() map[string]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return maps.Clone(c.m)
}

// Load stores every entry of m, as if Set had been called for each.
func (c *MemoryNonceCache) Load(m map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string, len(m))
	}
	maps.Copy(c.m, m)
}

// Origin returns the RFC 6454 origin of u as the nonce cache keys it:
// "scheme://host:port", with the scheme and host in lower case and the
// port always written out (443 for https, 80 for http when u has none).
// IPv6 hosts keep their brackets.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
