package atproto

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every refusal of this package is an [*Error] that wraps
// one of them (errors.Is works), and, where the refusal is a server's
// OAuth answer, the [client.Error] behind it too.
var (
	ErrInvalidHandle = errors.New("atproto: not a valid handle")
	ErrInvalidDID    = errors.New("atproto: not a valid DID")
	// ErrHandleNotFound: neither DNS nor HTTPS names a DID for the handle.
	ErrHandleNotFound = errors.New("atproto: the handle resolves to no DID")
	// ErrHandleConflict: DNS and HTTPS name different DIDs, or one of
	// them names several.
	ErrHandleConflict = errors.New("atproto: the handle's DNS and HTTPS answers disagree")
	// ErrDIDDocument: a DID document that cannot be read, or that is not
	// the document of the DID asked for.
	ErrDIDDocument = errors.New("atproto: malformed DID document")
	// ErrNoPDS: the DID document names no usable #atproto_pds service.
	ErrNoPDS = errors.New("atproto: the DID document names no PDS")
	// ErrFetch: a document could not be fetched: an HTTP error status, a
	// redirect, a timeout, or a body over its size cap.
	ErrFetch = errors.New("atproto: fetching a document failed")
	// ErrProfile: the authorization server's metadata breaks the AT
	// Protocol OAuth profile, or the PDS's does.
	ErrProfile = errors.New("atproto: the server does not follow the AT Protocol OAuth profile")
	// ErrPDSNotListed: the authorization server lists the resources it
	// serves (RFC 9728 §4 protected_resources) and the PDS is not one of
	// them.
	ErrPDSNotListed = errors.New("atproto: the authorization server does not list the PDS")
	// ErrSubMismatch: the token's sub is not the DID the login resolved,
	// or (for a login started from a server) the account's PDS does not
	// use this authorization server.
	ErrSubMismatch = errors.New("atproto: the token is for another account")
	// ErrScope: the granted scope does not include atproto.
	ErrScope = errors.New("atproto: the granted scope does not include atproto")
	// ErrSessionDead: the refresh token was refused (replayed, revoked
	// or expired). The session cannot be revived: log in again.
	ErrSessionDead = errors.New("atproto: the session is dead; log in again")
	// ErrNoSession: the store holds no session for the DID.
	ErrNoSession = errors.New("atproto: no saved session")
	// ErrConfig: the App's configuration is unusable.
	ErrConfig = errors.New("atproto: invalid configuration")
)

// Error is a refusal of this package: Op names the step ("resolve handle",
// "resolve DID", "discover", "callback", "refresh", ...), Expected and Got
// what was compared (either may be empty), and Unwrap returns the sentinel
// and the underlying cause.
type Error struct {
	Op       string
	Expected string
	Got      string
	sentinel error
	cause    error
}

func (e *Error) Error() string {
	s := e.sentinel.Error()
	if e.Op != "" {
		s += " (" + e.Op + ")"
	}
	if e.Expected != "" || e.Got != "" {
		s += fmt.Sprintf(": expected %s, got %s", orNothing(e.Expected), orNothing(e.Got))
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func newErr(sentinel error, op, expected, got string, cause error) *Error {
	return &Error{Op: op, Expected: expected, Got: got, sentinel: sentinel, cause: cause}
}
