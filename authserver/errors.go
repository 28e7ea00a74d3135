package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/dpopkit/dpop"
)

// OAuth error codes this package returns, besides dpop.CodeInvalidProof,
// dpop.CodeUseNonce and dpop.CodeTemporarilyUnavailable.
const (
	// CodeInvalidGrant (RFC 6749 §5.2): the code or refresh token is bound
	// to another DPoP key than the proof's.
	CodeInvalidGrant = "invalid_grant"
	// CodeInvalidRequest (RFC 6749 §5.2, §4.1.2.1): a malformed or repeated
	// dpop_jkt parameter.
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidClientMetadata (RFC 7591 §3.2.2): a registration whose
	// dpop_bound_access_tokens is not a boolean.
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// CodeServerError is what [WriteError] sends for an error that carries
	// no OAuth code: the cause is the server's, not the client's.
	CodeServerError = "server_error"
)

// Sentinel errors of this package. An [*Error] wraps one of them, or an
// *[dpop.Error] that wraps a sentinel of the core, so errors.Is works for
// both.
var (
	// ErrProofRequired: a token request without a DPoP header, from a client
	// or for a grant that needs one. It wraps dpop.ErrMissingProof.
	ErrProofRequired = errors.New("authserver: DPoP proof required")
	// ErrInvalidJKT: dpop_jkt is not a SHA-256 JWK thumbprint, or appears
	// more than once.
	ErrInvalidJKT = errors.New("authserver: invalid dpop_jkt")
	// ErrNotConfigured: the endpoint's URL was not given in [Options].
	ErrNotConfigured = errors.New("authserver: endpoint URL not configured")
)

// Error is a refusal, ready to be written as an RFC 6749 §5.2 error
// response by [WriteError]. Code is the OAuth error code, Description a
// fixed text that never repeats client input, Status the HTTP status (400,
// or 503 for temporarily_unavailable) and Nonce, for use_dpop_nonce, the
// nonce to send in the DPoP-Nonce header.
//
// Unwrap returns the cause: an *[dpop.Error] for a proof the verifier
// refused (so errors.Is(err, dpop.ErrReplay) and errors.As(err,
// new(*dpop.Error)) work), or a sentinel of this package.
type Error struct {
	Code        string
	Description string
	Status      int
	Nonce       string
	err         error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return "authserver: " + e.Code
	}
	return "authserver: " + e.Code + ": " + e.Description
}

// Unwrap returns the cause of the refusal.
func (e *Error) Unwrap() error { return e.err }

// Descriptions of use_dpop_nonce errors. The first is the text of RFC 9449
// Figure 20.
const (
	descNonceRequired = "Authorization server requires nonce in DPoP proof"
	descNonceInvalid  = "Authorization server requires a current nonce in DPoP proof"
)

// fromProofError turns a refusal of the core verifier into the error the
// authorization server sends. A key that is not the one the grant or
// dpop_jkt names becomes mismatchCode (invalid_grant at the token
// endpoint, invalid_dpop_proof at PAR).
func fromProofError(err error, mismatchCode, mismatchDesc string) *Error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		return &Error{Code: dpop.CodeTemporarilyUnavailable, Description: "DPoP proof could not be checked", Status: http.StatusServiceUnavailable, err: err}
	}
	e := &Error{Code: de.Code, Description: de.Description, Status: http.StatusBadRequest, err: de}
	switch {
	case errors.Is(de, dpop.ErrKeyMismatch):
		e.Code, e.Description = mismatchCode, mismatchDesc
	case de.Code == dpop.CodeUseNonce:
		e.Nonce = de.Nonce
		e.Description = descNonceRequired
		if errors.Is(de, dpop.ErrNonceInvalid) {
			e.Description = descNonceInvalid
		}
	case de.Code == dpop.CodeTemporarilyUnavailable:
		e.Status = http.StatusServiceUnavailable
	default:
		// Every other refusal of a proof is invalid_dpop_proof (RFC 9449
		// §5), whatever code the core chose for a resource server.
		e.Code = dpop.CodeInvalidProof
	}
	return e
}

// errorBody is the RFC 6749 §5.2 JSON object, members in the RFC's order.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError writes err as an RFC 6749 §5.2 error response: a JSON object
// with error and error_description, Content-Type application/json and
// Cache-Control: no-store. The status is the [*Error]'s (400, or 503 for
// temporarily_unavailable); a missing one is 503 for
// temporarily_unavailable and 400 otherwise. When the error carries a
// nonce, exactly one DPoP-Nonce header field is set (RFC 9449 §8),
// replacing any already set; otherwise a DPoP-Nonce already set (by
// [AS.IssueNonce]) is left as is.
//
// An *[dpop.Error] from the verifier is converted as [AS.TokenRequest]
// would convert it. Any other error is answered with 500 server_error and
// no description, so internal details never reach the client.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		var de *dpop.Error
		if errors.As(err, &de) {
			e = fromProofError(de, CodeInvalidGrant, descGrantKeyMismatch)
		} else {
			e = &Error{Code: CodeServerError, Status: http.StatusInternalServerError}
		}
	}
	code := e.Code
	if code == "" || !isErrorText(code, false) {
		code = CodeServerError
	}
	status := e.Status
	switch {
	case status >= 400 && status <= 599:
	case code == dpop.CodeTemporarilyUnavailable:
		status = http.StatusServiceUnavailable
	default:
		status = http.StatusBadRequest
	}
	body, _ := json.Marshal(errorBody{Error: code, Description: cleanDescription(e.Description)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.Nonce != "" && dpop.IsValidNonce(e.Nonce) {
		h.Set("DPoP-Nonce", e.Nonce)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteNonce sets a DPoP-Nonce header field (exactly one) and Cache-Control:
// no-store on a response the caller is about to write, to hand the client
// the nonce for its next request (RFC 9449 §8.2). A value that is not
// 1*NQCHAR (§8.1) is not sent; WriteNonce then reports false.
func WriteNonce(w http.ResponseWriter, nonce string) bool {
	if !dpop.IsValidNonce(nonce) {
		return false
	}
	w.Header().Set("DPoP-Nonce", nonce)
	w.Header().Set("Cache-Control", "no-store")
	return true
}

// isErrorText reports whether s uses only the characters RFC 6749 §5.2
// allows in error (space excluded) or error_description (space allowed):
// %x20-21 / %x23-5B / %x5D-7E.
func isErrorText(s string, space bool) bool {
	for i := 0; i < len(s); i++ {
		if !errorChar(s[i], space) {
			return false
		}
	}
	return true
}

func errorChar(c byte, space bool) bool {
	switch {
	case c == ' ':
		return space
	case c < 0x20 || c > 0x7e, c == '"', c == '\\':
		return false
	}
	return true
}

// cleanDescription replaces each character RFC 6749 §5.2 does not allow in
// error_description by a space.
func cleanDescription(s string) string {
	if isErrorText(s, true) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if errorChar(s[i], true) {
			b.WriteByte(s[i])
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}
