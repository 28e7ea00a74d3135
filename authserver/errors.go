package authserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

// OAuth error codes of an authorization server, besides the core's
// dpop.CodeInvalidProof, dpop.CodeUseNonce, dpop.CodeInvalidRequest and
// dpop.CodeTemporarilyUnavailable.
const (
	// CodeInvalidGrant (RFC 6749 §5.2): the code or refresh token is
	// unknown, expired, issued to another client, or bound to another DPoP
	// key than the proof's.
	CodeInvalidGrant = "invalid_grant"
	// CodeInvalidClient (RFC 6749 §5.2): client authentication failed.
	CodeInvalidClient = "invalid_client"
	// CodeUnauthorizedClient (RFC 6749 §5.2): the client may not use this
	// grant type.
	CodeUnauthorizedClient = "unauthorized_client"
	// CodeUnsupportedGrantType (RFC 6749 §5.2).
	CodeUnsupportedGrantType = "unsupported_grant_type"
	// CodeInvalidScope (RFC 6749 §5.2): the scope exceeds the grant's.
	CodeInvalidScope = "invalid_scope"
	// CodeUnsupportedResponseType (RFC 6749 §4.1.2.1).
	CodeUnsupportedResponseType = "unsupported_response_type"
	// CodeInvalidRequestURI (RFC 9126 §4): the request_uri is unknown,
	// used or expired.
	CodeInvalidRequestURI = "invalid_request_uri"
	// CodeInvalidTarget (RFC 8707 §2): the resource parameter names a
	// resource the server does not issue tokens for.
	CodeInvalidTarget = "invalid_target"
	// CodeInvalidRedirectURI (RFC 7591 §3.2.2): a registered redirect URI
	// is not acceptable.
	CodeInvalidRedirectURI = "invalid_redirect_uri"
	// CodeInvalidClientMetadata (RFC 7591 §3.2.2): a registration or client
	// metadata document that is not acceptable.
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// CodeServerError is what [WriteError] sends for an error that carries
	// no OAuth code: the cause is the server's, not the client's.
	CodeServerError = "server_error"
)

// Sentinel errors of this package. An [*Error] wraps a *[dpop.Error] that
// wraps one of them, or a sentinel of the core, so errors.Is works for
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

// Error is a refusal of the authorization server, ready to be written as
// an RFC 6749 §5.2 error response by [WriteError]. It is the toolkit's OAuth
// error, a *[dpop.Error] (code, description safe to show, nonce for
// use_dpop_nonce, and the evidence for logs: Check, Expected, Got), with
// the one thing an authorization server adds: the HTTP status (400, 401 for
// invalid_client, 503 for temporarily_unavailable).
//
// Unwrap returns the *[dpop.Error], whose Unwrap returns the sentinel
// naming the failed check, so errors.Is(err, dpop.ErrReplay),
// errors.Is(err, ErrProofRequired) and errors.As(err, new(*dpop.Error))
// all work.
type Error struct {
	Status int
	Err    *dpop.Error
}

// NewError returns an [*Error] with the HTTP status, OAuth code and safe
// description, wrapping cause (a sentinel naming the refusal, or nil).
// Set evidence on the returned Err before logging it.
func NewError(status int, code, description string, cause error) *Error {
	return &Error{Status: status, Err: dpop.NewError(code, description, cause)}
}

// Code returns the OAuth error code, "" when the error has none.
func (e *Error) Code() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Code
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "authserver: " + http.StatusText(e.Status)
	}
	return "authserver: " + e.Err.Error()
}

// Unwrap returns the *[dpop.Error], or nil.
func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// LogValue reports the refusal for a log record: the status, then the
// OAuth error's code, description and evidence. It implements
// [slog.LogValuer].
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("status", e.Status)}
	if e.Err != nil {
		attrs = append(attrs, e.Err.LogValue().Group()...)
	}
	return slog.GroupValue(attrs...)
}

// withEvidence sets the evidence of e's OAuth error and returns e.
func (e *Error) withEvidence(check, expected, got string) *Error {
	e.Err.Check, e.Err.Expected, e.Err.Got = check, expected, got
	return e
}

// Descriptions of use_dpop_nonce errors. The first is the text of RFC 9449
// Figure 20.
const (
	descNonceRequired = "Authorization server requires nonce in DPoP proof"
	descNonceInvalid  = "Authorization server requires a current nonce in DPoP proof"
)

// fromProofError turns a refusal of the core verifier into the error the
// authorization server sends. A key that is not the one the grant or
// dpop_jkt names becomes mismatchCode (invalid_grant at the token
// endpoint, invalid_dpop_proof at PAR), with expected and got thumbprints
// as evidence. The verifier's error is copied, never changed.
func fromProofError(err error, mismatchCode, mismatchDesc, boundJKT, proof string) *Error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		e := NewError(http.StatusServiceUnavailable, dpop.CodeTemporarilyUnavailable, "DPoP proof could not be checked", err)
		return e
	}
	c := *de
	e := &Error{Status: http.StatusBadRequest, Err: &c}
	switch {
	case errors.Is(de, dpop.ErrKeyMismatch):
		c.Code, c.Description = mismatchCode, mismatchDesc
		c.Check, c.Expected = "jkt", boundJKT
		if c.Got == "" {
			c.Got = proofJKT(proof)
		}
	case c.Code == dpop.CodeUseNonce:
		c.Description = descNonceRequired
		if errors.Is(de, dpop.ErrNonceInvalid) {
			c.Description = descNonceInvalid
		}
	case c.Code == dpop.CodeTemporarilyUnavailable:
		e.Status = http.StatusServiceUnavailable
	default:
		// Every other refusal of a proof is invalid_dpop_proof (RFC 9449
		// §5), whatever code the core chose for a resource server.
		c.Code = dpop.CodeInvalidProof
	}
	return e
}

// proofJKT returns the RFC 7638 thumbprint of the jwk in a proof's header,
// for evidence only: it is called after the verifier checked the signature
// with that key. "" when the header cannot be read.
func proofJKT(proof string) string {
	i := strings.IndexByte(proof, '.')
	if i <= 0 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(proof[:i])
	if err != nil {
		return ""
	}
	var h struct {
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(b, &h) != nil || len(h.JWK) == 0 {
		return ""
	}
	t, err := dpop.Thumbprint(h.JWK)
	if err != nil {
		return ""
	}
	return t
}

// errorBody is the RFC 6749 §5.2 JSON object, members in the RFC's order.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError writes err as an RFC 6749 §5.2 error response: a JSON object
// with error and error_description, Content-Type application/json and
// Cache-Control: no-store. The status is the [*Error]'s; a missing or
// out-of-range one is 503 for temporarily_unavailable and 400 otherwise.
// When the error carries a nonce, exactly one DPoP-Nonce header field is
// set (RFC 9449 §8), replacing any already set; otherwise a DPoP-Nonce
// already set (by [AS.IssueNonce]) is left as is.
//
// A bare *[dpop.Error] is written with its own code and description, with
// status 400 (503 for temporarily_unavailable): WriteError does not guess
// which endpoint it came from; [AS.TokenRequest] and [AS.PARRequest] return
// errors already worded for theirs. Any other error is answered with 500
// server_error and no description, so internal details never reach the
// client. The evidence (Check, Expected, Got) is never written.
func WriteError(w http.ResponseWriter, err error) {
	var (
		de     *dpop.Error
		status int
	)
	var e *Error
	switch {
	case errors.As(err, &e) && e.Err != nil:
		de, status = e.Err, e.Status
	case errors.As(err, &de):
	default:
		de, status = dpop.NewError(CodeServerError, "", nil), http.StatusInternalServerError
	}
	code := de.Code
	if !syntax.IsNQChars(code) {
		code = CodeServerError
	}
	switch {
	case status >= 400 && status <= 599:
	case code == dpop.CodeTemporarilyUnavailable:
		status = http.StatusServiceUnavailable
	case code == CodeServerError:
		status = http.StatusInternalServerError
	default:
		status = http.StatusBadRequest
	}
	body, _ := json.Marshal(errorBody{Error: code, Description: syntax.CleanParam(de.Description)})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if de.Nonce != "" && dpop.IsValidNonce(de.Nonce) {
		h.Set("DPoP-Nonce", de.Nonce)
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
