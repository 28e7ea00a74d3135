package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

// Error is a request refused by [Middleware.Authenticate]: the HTTP status
// and WWW-Authenticate challenge to answer with, and the OAuth error
// ([dpop.Error]) it wraps, which carries the error code and description
// for the client, the nonce to send, and the evidence for the operator's
// logs (Check, Expected, Got). errors.As reaches the *dpop.Error through
// Unwrap, and errors.Is the sentinel naming the failed check
// ([ErrInvalidToken], [ErrUnavailable], the core's dpop.Err… values, and
// the ones of this package).
//
// [WriteError] writes an Error as the response.
type Error struct {
	// Status is the HTTP status: 400 (malformed request, RFC 6750 §3.1),
	// 401 (no or invalid credentials, RFC 9449 §7.1), 403 (insufficient
	// scope) or 503 (a dependency could not answer).
	Status int
	// Challenge is the whole WWW-Authenticate field value (RFC 9110
	// §11.6.1): every challenge this resource accepts (Bearer first when
	// allowed, then DPoP with algs), with realm, resource_metadata and,
	// where RFC 6750 §3 and RFC 9449 §7.1 call for them, error,
	// error_description and scope. Empty for 503.
	Challenge string
	// Err is the OAuth error. Its Code is empty when the request carried
	// no credentials for this resource (RFC 6750 §3.1: no error code).
	Err *dpop.Error
}

func (e *Error) Error() string {
	s := "resource: " + strconv.Itoa(e.Status)
	if e.Err != nil {
		if m := e.Err.Error(); m != "" {
			s += " " + m
		}
	}
	return s
}

// Unwrap returns the OAuth error.
func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// LogValue reports the refusal for a log record: its status and the
// fields of its OAuth error (code, description, check, expected, got,
// cause). It implements [slog.LogValuer].
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("status", e.Status)}
	if e.Err != nil {
		attrs = append(attrs, e.Err.LogValue().Group()...)
	}
	return slog.GroupValue(attrs...)
}

// Sentinel errors of the middleware's own refusals, wrapped by the
// [dpop.Error] of an [Error]. Token refusals wrap [ErrInvalidToken] or
// [ErrUnavailable]; proof refusals wrap the core's sentinels.
var (
	// ErrNoCredentials: no Authorization field, or one with a scheme this
	// resource does not accept (RFC 6750 §3.1, RFC 9449 §7.2).
	ErrNoCredentials = errors.New("resource: no credentials for this resource")
	// ErrMultipleMethods: the token came by more than one method
	// (RFC 6750 §2, §3.1).
	ErrMultipleMethods = errors.New("resource: access token sent by more than one method")
	// ErrMalformedAuthorization: the Authorization value is not a scheme
	// and one token68 (RFC 9110 §11.4).
	ErrMalformedAuthorization = errors.New("resource: malformed Authorization field")
	// ErrDowngrade: a DPoP-bound token under the Bearer scheme
	// (RFC 9449 §7.2).
	ErrDowngrade = errors.New("resource: DPoP-bound token presented with the Bearer scheme")
	// ErrNotBound: a token that is not DPoP-bound under the DPoP scheme.
	ErrNotBound = errors.New("resource: token is not DPoP-bound")
	// ErrRequestURL: the request URL cannot be rebuilt to check htu.
	ErrRequestURL = errors.New("resource: request URL cannot be checked")
	// ErrInsufficientScope: the token lacks a required scope
	// (RFC 6750 §3.1).
	ErrInsufficientScope = errors.New("resource: insufficient scope")
)

// invalid returns the refusal of a token with its evidence: an
// invalid_token [dpop.Error] wrapping [ErrInvalidToken].
func invalid(check, expected, got string) error {
	e := dpop.NewError(dpop.CodeInvalidToken, descInvalid, fmt.Errorf("%w: %s", ErrInvalidToken, check))
	e.Check, e.Expected, e.Got = check, expected, got
	return e
}

// unavailable returns the error of a validator that could not decide: a
// temporarily_unavailable [dpop.Error] wrapping [ErrUnavailable] and
// cause, with the cause as evidence.
func unavailable(check, expected string, cause error) error {
	e := dpop.NewError(dpop.CodeTemporarilyUnavailable, descUnavailable, fmt.Errorf("%w: %s: %w", ErrUnavailable, check, cause))
	e.Check, e.Expected, e.Got = check, expected, clip(cause.Error())
	return e
}

// clip bounds a value taken from a request or a response for the
// evidence: printable ASCII, at most 128 bytes.
func clip(s string) string {
	const max = 128
	s = syntax.CleanParam(s)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// timeEvidence formats an instant for the evidence.
func timeEvidence(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// errorBody is the JSON body of a refusal: the error and error_description
// of RFC 6750 §3, as in an RFC 6749 §5.2 error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError answers a request refused by [Middleware.Authenticate]: it
// sets WWW-Authenticate to the challenge, DPoP-Nonce to the error's nonce
// when there is one (RFC 9449 §8, §9), Cache-Control: no-store, writes the
// status, and, when the error has an OAuth code, a JSON body with error and
// error_description (RFC 6750 §3). Nothing from the request is echoed.
//
// An err that is not an *[Error] is answered with a bare 500: it is a
// program error, not a verdict on the request.
func WriteError(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	var re *Error
	if !errors.As(err, &re) || re.Status < 400 || re.Status > 599 {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if re.Challenge != "" {
		h.Set("WWW-Authenticate", re.Challenge)
	}
	var body []byte
	if oe := re.Err; oe != nil {
		if oe.Nonce != "" && dpop.IsValidNonce(oe.Nonce) {
			h.Set("DPoP-Nonce", oe.Nonce)
		}
		if oe.Code != "" {
			body, _ = json.Marshal(errorBody{Error: syntax.CleanParam(oe.Code), Description: syntax.CleanParam(oe.Description)})
		}
	}
	if body == nil {
		w.WriteHeader(re.Status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(re.Status)
	_, _ = w.Write(append(body, '\n'))
}
