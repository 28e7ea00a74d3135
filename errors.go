package dpop

import "errors"

// OAuth error codes carried by [Error].
const (
	// CodeInvalidProof is the RFC 9449 §12.2 code for a proof that failed a
	// check of §4.3.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce is the RFC 9449 §12.2 code asking the client to retry
	// with the server nonce sent in the DPoP-Nonce header.
	CodeUseNonce = "use_dpop_nonce"
	// CodeInvalidToken is the RFC 6750 §3.1 code. The core uses it when the
	// proof's key is not the key the access token is bound to (RFC 9449
	// Figure 16).
	CodeInvalidToken = "invalid_token"
	// CodeInvalidRequest is the RFC 6750 §3.1 / RFC 6749 §5.2 code for a
	// malformed request. The core does not return it (two DPoP fields are
	// an invalid_dpop_proof); the HTTP layers use it, for example for a
	// token sent by two methods at once.
	CodeInvalidRequest = "invalid_request"
	// CodeTemporarilyUnavailable is used when a dependency of the verifier
	// (the replay store or the nonce source) cannot answer. It is not a
	// verdict on the proof: a server maps it to a 503-class response.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Sentinel errors, one per failed check. A rejection is always an *[Error]
// that wraps exactly one of these, so callers and tests use errors.Is.
var (
	ErrMissingProof     = errors.New("dpop: no DPoP header")
	ErrMultipleProofs   = errors.New("dpop: more than one DPoP header value")
	ErrProofTooLarge    = errors.New("dpop: proof exceeds the size limit")
	ErrMalformed        = errors.New("dpop: proof is not a well-formed compact JWS")
	ErrInvalidHeader    = errors.New("dpop: malformed JOSE header")
	ErrInvalidTyp       = errors.New("dpop: typ is not dpop+jwt")
	ErrUnsupportedAlg   = errors.New("dpop: alg is not allowed")
	ErrCrit             = errors.New("dpop: crit lists an extension that is not understood")
	ErrMissingJWK       = errors.New("dpop: header has no jwk")
	ErrInvalidJWK       = errors.New("dpop: invalid JWK")
	ErrPrivateKey       = errors.New("dpop: jwk contains private key material")
	ErrAlgKeyMismatch   = errors.New("dpop: alg does not fit the jwk")
	ErrInvalidClaims    = errors.New("dpop: malformed claims")
	ErrMissingClaim     = errors.New("dpop: a required claim is missing")
	ErrInvalidSignature = errors.New("dpop: signature does not verify")
	ErrHTMMismatch      = errors.New("dpop: htm does not match the request method")
	ErrHTUMismatch      = errors.New("dpop: htu does not match the request URI")
	ErrIATTooOld        = errors.New("dpop: iat is outside the acceptance window")
	ErrIATInFuture      = errors.New("dpop: iat is in the future")
	ErrNonceRequired    = errors.New("dpop: a server nonce is required")
	ErrNonceInvalid     = errors.New("dpop: nonce is not valid")
	ErrATHMismatch      = errors.New("dpop: ath does not match the access token")
	ErrKeyMismatch      = errors.New("dpop: proof key is not the key the token is bound to")
	ErrReplay           = errors.New("dpop: proof was already used")
	ErrStoreUnavailable = errors.New("dpop: replay store or nonce source unavailable")
)

// Error is the error returned for every rejected proof. Code is the OAuth
// error code to send to the client, Description a message that is safe to
// show to it (it never echoes attacker-controlled input), and Nonce a fresh
// server nonce when one is due (Code is [CodeUseNonce], or the server sends
// nonces with every rejection).
type Error struct {
	Code        string
	Description string
	Nonce       string
	err         error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the sentinel error naming the failed check.
func (e *Error) Unwrap() error { return e.err }

// ErrorCode returns the OAuth error code of err: the Code of an *[Error] in its
// chain, or "" when err carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func reject(sentinel error, desc string) *Error {
	return &Error{Code: CodeInvalidProof, Description: desc, err: sentinel}
}
