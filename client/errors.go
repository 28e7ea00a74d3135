package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dpopkit/dpop"
	"golang.org/x/oauth2"
)

// Error is an OAuth error answer from a server: an error response of a
// pushed authorization request endpoint (RFC 9126 §2.3) or a token
// endpoint (RFC 6749 §5.2), or an error authorization response (RFC 6749
// §4.1.2.1). Code and Description are what the server sent, StatusCode
// its HTTP status (0 for an authorization response, which arrives through
// the user agent).
//
// Unwrap returns the same answer as a *[dpop.Error], the toolkit's one
// error model, with the DPoP-Nonce the response carried, so
// errors.As(err, new(*dpop.Error)) and [dpop.ErrorCode] work on it.
type Error struct {
	StatusCode  int
	Code        string
	Description string
	// URI is the error_uri, if the server sent one.
	URI string
	// Endpoint names where the answer came from: "pushed authorization
	// request", "token" or "authorization".
	Endpoint string

	err *dpop.Error
}

func (e *Error) Error() string {
	s := "dpop/client: " + e.Endpoint + " endpoint answered"
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap returns the answer as a *[dpop.Error].
func (e *Error) Unwrap() error { return e.err }

func newError(endpoint string, status int, code, desc, uri, nonce string) *Error {
	de := dpop.NewError(code, desc, nil)
	de.Nonce = nonce
	return &Error{StatusCode: status, Code: code, Description: desc, URI: uri, Endpoint: endpoint, err: de}
}

// errorFromResponse reads an RFC 6749 §5.2 error body.
func errorFromResponse(endpoint string, resp *http.Response, body []byte) *Error {
	var j struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	_ = json.Unmarshal(body, &j)
	return newError(endpoint, resp.StatusCode, j.Error, j.Description, j.URI, resp.Header.Get("DPoP-Nonce"))
}

// AsError returns the OAuth error answer in err's chain: an [*Error], or
// an *[oauth2.RetrieveError] (what x/oauth2's Exchange and refreshes
// return) turned into one. It returns nil when err holds neither.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status, nonce := 0, ""
		if re.Response != nil {
			status, nonce = re.Response.StatusCode, re.Response.Header.Get("DPoP-Nonce")
		}
		return newError("token", status, re.ErrorCode, re.ErrorDescription, re.ErrorURI, nonce)
	}
	return nil
}
