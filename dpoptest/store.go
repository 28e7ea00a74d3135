package dpoptest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"sync"
	"time"
)

// maxEntries bounds each in-memory store. A test that fills one is told
// with temporarily_unavailable rather than growing the process.
const maxEntries = 100000

var errStoreFull = errors.New("dpoptest: store full")

// codeGrant is what an authorization code stands for.
type codeGrant struct {
	clientID      string
	redirectURI   string
	codeChallenge string
	scope         string
	subject       string
	jkt           string
	resources     []string // RFC 8707 resources of the authorization request
	expires       time.Time
}

// pushedRequest is what a request_uri stands for.
type pushedRequest struct {
	clientID string
	params   url.Values
	jkt      string
	expires  time.Time
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	clientID  string
	scope     string
	subject   string
	jkt       string
	resources []string // RFC 8707 resources of the grant
	expires   time.Time
}

// accessGrant is what an access token stands for, kept for introspection.
type accessGrant struct {
	clientID string
	scope    string
	subject  string
	jkt      string
	jti      string
	aud      []string
	issued   time.Time
	expires  time.Time
}

// store keeps the server's state in memory under one mutex. Every entry
// expires; expired entries are swept when a map grows.
type store struct {
	mu         sync.Mutex
	codes      map[string]*codeGrant
	requests   map[string]*pushedRequest
	refresh    map[string]*refreshGrant
	access     map[[32]byte]*accessGrant // keyed by the SHA-256 of the token
	assertions map[string]time.Time      // client_id + " " + jti → exp
}

func newStore() store {
	return store{
		codes:      map[string]*codeGrant{},
		requests:   map[string]*pushedRequest{},
		refresh:    map[string]*refreshGrant{},
		access:     map[[32]byte]*accessGrant{},
		assertions: map[string]time.Time{},
	}
}

// randomToken returns 256 bits from crypto/rand, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// room makes room for one more entry in m, sweeping the expired ones when
// the map has grown, and reports whether there is room.
func room[K comparable, V any](m map[K]V, now time.Time, expires func(V) time.Time) bool {
	if len(m) < 1024 || len(m)&1023 != 0 && len(m) < maxEntries {
		return true
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	return len(m) < maxEntries
}

func (st *store) putCode(code string, g *codeGrant, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !room(st.codes, now, func(g *codeGrant) time.Time { return g.expires }) {
		return errStoreFull
	}
	st.codes[code] = g
	return nil
}

// peekCode returns the live grant of code without using it up.
func (st *store) peekCode(code string, now time.Time) *codeGrant {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.codes[code]
	if g == nil || !now.Before(g.expires) {
		return nil
	}
	c := *g
	return &c
}

// takeCode uses code up; it reports false when another request did first.
func (st *store) takeCode(code string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.codes[code]
	delete(st.codes, code)
	return g != nil && now.Before(g.expires)
}

func (st *store) putRequest(uri string, p *pushedRequest, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !room(st.requests, now, func(p *pushedRequest) time.Time { return p.expires }) {
		return errStoreFull
	}
	st.requests[uri] = p
	return nil
}

// takeRequest uses a request_uri up and returns its request, or nil.
func (st *store) takeRequest(uri string, now time.Time) *pushedRequest {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.requests[uri]
	delete(st.requests, uri)
	if p == nil || !now.Before(p.expires) {
		return nil
	}
	return p
}

func (st *store) putRefresh(token string, g *refreshGrant, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !room(st.refresh, now, func(g *refreshGrant) time.Time { return g.expires }) {
		return errStoreFull
	}
	st.refresh[token] = g
	return nil
}

func (st *store) peekRefresh(token string, now time.Time) *refreshGrant {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.refresh[token]
	if g == nil || !now.Before(g.expires) {
		return nil
	}
	c := *g
	return &c
}

// takeRefresh revokes a refresh token; it reports false when another
// request used it first.
func (st *store) takeRefresh(token string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.refresh[token]
	delete(st.refresh, token)
	return g != nil && now.Before(g.expires)
}

func (st *store) putAccess(token string, g *accessGrant, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !room(st.access, now, func(g *accessGrant) time.Time { return g.expires }) {
		return errStoreFull
	}
	st.access[sha256.Sum256([]byte(token))] = g
	return nil
}

func (st *store) lookupAccess(token string, now time.Time) *accessGrant {
	st.mu.Lock()
	defer st.mu.Unlock()
	g := st.access[sha256.Sum256([]byte(token))]
	if g == nil || !now.Before(g.expires) {
		return nil
	}
	c := *g
	return &c
}

// assertionSeen reports whether a client assertion's jti was used.
func (st *store) assertionSeen(key string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	exp, ok := st.assertions[key]
	return ok && now.Before(exp)
}

// useAssertion records a client assertion's jti until exp; it reports
// false when the jti was already used (or the store is full).
func (st *store) useAssertion(key string, exp, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.assertions[key]; ok && now.Before(old) {
		return false
	}
	if !room(st.assertions, now, func(t time.Time) time.Time { return t }) {
		return false
	}
	st.assertions[key] = exp
	return true
}
