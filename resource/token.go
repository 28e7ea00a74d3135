package resource

import (
	"context"
	"errors"
	"time"
)

// TokenValidator checks an access token and says who it was issued to and
// which key, if any, it is bound to. It does not look at the DPoP proof:
// the [Middleware] does that with the JKT it returns.
//
// ValidateToken returns an error wrapping [ErrInvalidToken] for a token
// that must be refused (answered with invalid_token), and one wrapping
// [ErrUnavailable] when the validator cannot decide right now (the JWKS or
// the introspection endpoint cannot be reached; answered with 503). Any
// other error is treated as ErrInvalidToken.
type TokenValidator interface {
	ValidateToken(ctx context.Context, token string) (*TokenInfo, error)
}

// TokenValidatorFunc adapts a function to a [TokenValidator].
type TokenValidatorFunc func(ctx context.Context, token string) (*TokenInfo, error)

// ValidateToken calls f.
func (f TokenValidatorFunc) ValidateToken(ctx context.Context, token string) (*TokenInfo, error) {
	return f(ctx, token)
}

// TokenInfo is what a [TokenValidator] learned from a valid token. A
// TokenInfo may be shared between requests by a [TokenCache]: treat it as
// read-only.
type TokenInfo struct {
	// Subject is the sub claim (RFC 9068 §2.2, RFC 7662 §2.2).
	Subject string
	// ClientID is the client_id claim.
	ClientID string
	// Scopes are the values of the space-separated scope claim.
	Scopes []string
	// JKT is the RFC 7638 thumbprint the token is bound to (cnf.jkt,
	// RFC 9449 §6); empty for a token that is not DPoP-bound.
	JKT string
	// Expiry is the exp claim; the zero time when the token has none
	// (only possible with introspection).
	Expiry time.Time
	// Claims holds every claim of the token (JWT) or member of the
	// introspection response, as decoded by encoding/json.
	Claims map[string]any
}

// Errors of a [TokenValidator].
var (
	// ErrInvalidToken means the token is not acceptable: malformed,
	// badly signed, expired, for another audience, inactive...
	ErrInvalidToken = errors.New("resource: invalid access token")
	// ErrUnavailable means the validator could not reach what it needs
	// (key set, introspection endpoint). The request is answered with
	// 503, not blamed on the client.
	ErrUnavailable = errors.New("resource: token validation temporarily unavailable")
)
