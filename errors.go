package dpop

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
)

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

// Error is the OAuth error of the whole toolkit: every rejected proof, and
// every refusal of the packages built on the core (which wrap it and add
// only what their protocol needs, such as an HTTP status). Code is the
// OAuth error code to send to the client, Description a message that is
// safe to show to it (it never echoes attacker-controlled input), and Nonce
// a fresh server nonce when one is due (Code is [CodeUseNonce], or the
// server sends nonces with every rejection).
//
// Check, Expected and Got are the evidence for the operator's logs: which
// check failed and the two values it compared (normalised as compared).
// They are never sent to a client, and never hold a private key or a whole
// token ([Fingerprint] stands in for a token). Log an Error as a value: it
// implements [slog.LogValuer].
type Error struct {
	Code        string
	Description string
	Nonce       string

	// Check names the failed check with a short stable name: "htm",
	// "htu", "iat", "ath", "jkt" (the token's key binding), "nonce",
	// "signature", "typ", "alg", "jwk", "claims", "replay", "size",
	// "header", and above the core "aud", "iss", "exp", "scheme", "token"
	// and the like.
	Check string
	// Expected is what the server expected, Got what came; either may be
	// empty where it does not apply.
	Expected string
	Got      string

	err error
}

// NewError returns an [Error] with the given OAuth code and safe
// description whose Unwrap returns cause (a sentinel naming the failed
// check), for packages that refuse requests on grounds of their own.
func NewError(code, description string, cause error) *Error {
	return &Error{Code: code, Description: description, err: cause}
}

// LogValue reports the error for a log record: its code, description and
// evidence, leaving out empty fields. It implements [slog.LogValuer].
func (e *Error) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("code", e.Code))
	for _, kv := range [...][2]string{
		{"description", e.Description},
		{"check", e.Check},
		{"expected", e.Expected},
		{"got", e.Got},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if e.err != nil {
		attrs = append(attrs, slog.String("cause", e.err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Fingerprint returns a short, non-reversible name for a secret such as an
// access token or a refresh token, for logs and evidence that must tell two
// tokens apart without holding either: "sha256:" and the first 8 bytes of
// its SHA-256 digest in base64url.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:8])
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the sentinel error naming the failed check.
func (e *Error) Unwrap() error { return e.err }

// errPrefix begins the text of every error the package returns other than
// an *[Error] (whose text is the OAuth code and description, shared by the
// packages built on the core): "dpop: " once, then what failed, so that a
// program can print the error as is.
const errPrefix = "dpop: "

// chain joins two of the package's errors: outer's text, ": ", then inner's
// without its prefix, so that errPrefix appears once. It unwraps to both.
func chain(outer, inner error) error { return &chainError{outer, inner} }

type chainError struct{ outer, inner error }

func (e *chainError) Error() string {
	return e.outer.Error() + ": " + strings.TrimPrefix(e.inner.Error(), errPrefix)
}

func (e *chainError) Unwrap() []error { return []error{e.outer, e.inner} }

// ErrorCode returns the OAuth error code of err: the Code of an *[Error] in its
// chain, or "" when err carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// refuse is an invalid_dpop_proof [Error] with the evidence of the failed
// check.
func refuse(sentinel error, desc, check, expected, got string) *Error {
	return &Error{Code: CodeInvalidProof, Description: desc, Check: check, Expected: expected, Got: got, err: sentinel}
}

// maxEvidence is the longest value taken from a request into evidence.
const maxEvidence = 64

// clip returns a copy of s fit for evidence: a byte outside printable
// ASCII becomes '?', and a value longer than maxEvidence bytes is cut
// there and marked with "...". The copy never shares memory with s.
func clip(s string) string {
	n := min(len(s), maxEvidence)
	b := make([]byte, n, n+3)
	for i := 0; i < n; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b[i] = c
	}
	if len(s) > maxEvidence {
		b = append(b, "..."...)
	}
	return string(b)
}

// clipOrAbsent is clip, or "absent" for a value that was not sent.
func clipOrAbsent(s string, present bool) string {
	if !present {
		return "absent"
	}
	return clip(s)
}
