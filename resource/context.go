package resource

import (
	"context"
	"slices"
	"time"
)

// Scheme names an HTTP authentication scheme the middleware accepts.
type Scheme string

// The schemes.
const (
	SchemeDPoP   Scheme = "DPoP"   // RFC 9449 §7.1
	SchemeBearer Scheme = "Bearer" // RFC 6750 §2.1
)

// Caller is the verified caller of a request, put in the request context
// by the [Middleware]. Its slices and map may be shared with other
// requests: treat them as read-only.
type Caller struct {
	// Subject, ClientID and Scopes come from the access token.
	Subject  string
	ClientID string
	Scopes   []string
	// JKT is the thumbprint of the key of the verified DPoP proof; empty
	// for a Bearer request.
	JKT string
	// Scheme is the scheme the token came with.
	Scheme Scheme
	// Expiry is the token's expiry; zero when unknown.
	Expiry time.Time
	// Claims are all claims of the token (or of the introspection
	// response).
	Claims map[string]any
	// Nonce, when set, is a fresh resource-server nonce to send in a
	// DPoP-Nonce field (with Cache-Control: no-store) of the response to
	// this request (Options.NonceOnSuccess, RFC 9449 §8.2). Wrap sends it.
	Nonce string
}

// HasScope reports whether the token grants scope.
func (c *Caller) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

type callerKey struct{}

// CallerFromContext returns the caller that the [Middleware] verified for
// the request whose context is ctx.
func CallerFromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}

// NewContext returns a copy of ctx carrying c, for tests of handlers that
// read [CallerFromContext].
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}
