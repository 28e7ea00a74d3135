package mcpdpop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// ErrAuthorizationDenied is returned by the [HeadlessFetcher] when the
// authorization server redirects back with an error (RFC 6749 §4.1.2.1).
var ErrAuthorizationDenied = errors.New("mcpdpop: the authorization server refused the authorization request")

// HeadlessFetcher returns a go-sdk [auth.AuthorizationCodeFetcher] for
// authorization servers that approve at once, such as dpoptest, `dpop serve`
// and the MCP conformance suite: it requests the authorization URL, does not
// follow the redirect, and reads code, state and iss (RFC 9207) from the
// Location, which must point at redirectURL (same scheme, host and path,
// RFC 6749 §3.1.2). It is meant for tests and CI; a real user approves in
// a browser.
//
// hc sends the request (nil means a client with a 30 second timeout); its
// redirect policy is replaced by one that stops at the first response.
func HeadlessFetcher(redirectURL string, hc *http.Client) auth.AuthorizationCodeFetcher {
	c := &http.Client{Timeout: 30 * time.Second}
	if hc != nil {
		*c = http.Client{Transport: hc.Transport, Timeout: hc.Timeout, Jar: hc.Jar}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		want, err := url.Parse(redirectURL)
		if err != nil || want.Scheme == "" || want.Host == "" {
			return nil, fmt.Errorf("mcpdpop: redirect URL %q is not absolute", redirectURL)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
		if err != nil {
			return nil, fmt.Errorf("mcpdpop: authorization URL: %w", err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			return nil, fmt.Errorf("mcpdpop: the authorization endpoint answered %d, expected a redirect", resp.StatusCode)
		}
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("mcpdpop: authorization redirect: %w", err)
		}
		if loc.Scheme != want.Scheme || loc.Host != want.Host || loc.Path != want.Path {
			return nil, fmt.Errorf("mcpdpop: the authorization server redirected to %s://%s%s, expected %s://%s%s",
				loc.Scheme, loc.Host, loc.Path, want.Scheme, want.Host, want.Path)
		}
		q := loc.Query()
		if e := q.Get("error"); e != "" {
			return nil, fmt.Errorf("%w: %q", ErrAuthorizationDenied, e)
		}
		if q.Get("code") == "" {
			return nil, errors.New("mcpdpop: the authorization redirect has no code")
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}
