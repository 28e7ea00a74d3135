package client

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
)

// Errors of [CheckAuthorizationResponse]. Each is wrapped with what was
// expected and what came.
var (
	// ErrStateMismatch: the response's state is not the one the request
	// was sent with (RFC 6749 §10.12: a forged or mixed-up response).
	ErrStateMismatch = errors.New("dpop/client: authorization response state does not match the request")
	// ErrResponseIssuer: the response's iss is missing where the server
	// promised it, or names another issuer than the one the flow started
	// with (RFC 9207 §2.4: a mix-up attack).
	ErrResponseIssuer = errors.New("dpop/client: authorization response iss is not the issuer the flow started with")
	// ErrNoCode: a successful response without a code.
	ErrNoCode = errors.New("dpop/client: authorization response without a code")
)

// CheckAuthorizationResponse checks the parameters of an authorization
// response (the query of the redirect to the client's redirect URI) and
// returns the authorization code.
//
// meta is the metadata of the authorization server the request was sent
// to. When it advertises authorization_response_iss_parameter_supported,
// iss is required; whenever iss is present it must equal meta.Issuer
// exactly (RFC 9207 §2.4). Then state must equal the state the request
// was sent with. Only then is an error response (RFC 6749 §4.1.2.1)
// believed: it is returned as an [*Error] with Endpoint "authorization".
// The checks come in this order so that a response from another server
// is never mistaken for an answer of this one.
func CheckAuthorizationResponse(query url.Values, state string, meta *Metadata) (code string, err error) {
	if meta == nil || meta.Issuer == "" {
		return "", errors.New("dpop/client: CheckAuthorizationResponse needs the authorization server's metadata")
	}
	if state == "" {
		return "", errors.New("dpop/client: CheckAuthorizationResponse needs the state the request was sent with")
	}
	iss, hasIss := query["iss"]
	switch {
	case hasIss && (len(iss) != 1 || iss[0] != meta.Issuer):
		return "", fmt.Errorf("%w: expected %q, got %q", ErrResponseIssuer, meta.Issuer, iss)
	case !hasIss && meta.AuthorizationResponseIssParameterSupported:
		return "", fmt.Errorf("%w: expected %q, got no iss although the server advertises authorization_response_iss_parameter_supported", ErrResponseIssuer, meta.Issuer)
	}
	got := query["state"]
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(state)) != 1 {
		return "", fmt.Errorf("%w: expected the request's state, got %d state value(s)%s", ErrStateMismatch, len(got), describeState(got))
	}
	if e := query.Get("error"); e != "" {
		return "", newError("authorization", 0, e, query.Get("error_description"), query.Get("error_uri"), "")
	}
	codes := query["code"]
	if len(codes) != 1 || codes[0] == "" {
		return "", fmt.Errorf("%w: expected one code, got %d", ErrNoCode, len(codes))
	}
	return codes[0], nil
}

// describeState says how a wrong state differs without echoing it.
func describeState(got []string) string {
	if len(got) == 1 {
		return fmt.Sprintf(" of %d bytes that differs", len(got[0]))
	}
	return ""
}
