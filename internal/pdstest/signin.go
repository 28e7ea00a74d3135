package pdstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiPrefix is where the reference provider's sign-in page sends its
// requests.
const apiPrefix = "/@atproto/oauth-provider/~api"

// SignIn signs acct in and gives consent at the authorization URL authURL
// (the authorization endpoint with client_id and request_uri, as a pushed
// authorization request returns it), as the provider's own page would, and
// returns the redirect URI the provider then sends the browser to, with
// code, state and iss.
//
// It is four requests to the provider's UI API, which is not a public
// protocol: (1) the authorization page, which sets the dev-id, ses-id and
// csrf-token cookies; (2) POST sign-in with the password; (3) POST consent;
// (4) the URL consent answers with, which redirects (303) to the client.
// The cookies are marked Secure, so a cookie jar would not send them to
// http://localhost: they are carried by hand.
func (s *Server) SignIn(ctx context.Context, authURL string, acct Account) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookies := map[string]string{}

	do := func(method, u string, body any, header map[string]string) (*http.Response, []byte, error) {
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return nil, nil, err
			}
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, r)
		if err != nil {
			return nil, nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		var jar []string
		for k, v := range cookies {
			jar = append(jar, k+"="+v)
		}
		if len(jar) > 0 {
			req.Header.Set("Cookie", strings.Join(jar, "; "))
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return nil, nil, err
		}
		for _, c := range resp.Cookies() {
			cookies[c.Name] = c.Value
		}
		return resp, data, nil
	}

	// (1) The authorization page, as a browser navigates to it.
	resp, page, err := do(http.MethodGet, authURL, nil, map[string]string{
		"Accept":         "text/html",
		"Sec-Fetch-Mode": "navigate",
		"Sec-Fetch-Dest": "document",
		"Sec-Fetch-Site": "cross-site",
	})
	if err != nil {
		return nil, fmt.Errorf("pdstest: authorization page: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pdstest: authorization page: HTTP %d %s", resp.StatusCode, snippet(page))
	}
	if cookies["csrf-token"] == "" {
		return nil, fmt.Errorf("pdstest: authorization page set no csrf-token cookie (cookies: %v)", names(cookies))
	}
	api := func(path string, body any, bearer string) ([]byte, error) {
		h := map[string]string{
			"Accept":         "application/json",
			"Origin":         s.URL,
			"Referer":        authURL,
			"Sec-Fetch-Mode": "same-origin",
			"Sec-Fetch-Site": "same-origin",
			"Sec-Fetch-Dest": "empty",
			"X-Csrf-Token":   cookies["csrf-token"],
		}
		if bearer != "" {
			h["Authorization"] = "Bearer " + bearer
		}
		resp, data, err := do(http.MethodPost, s.URL+apiPrefix+path, body, h)
		if err != nil {
			return nil, fmt.Errorf("pdstest: %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("pdstest: %s: HTTP %d %s", path, resp.StatusCode, snippet(data))
		}
		return data, nil
	}

	// (2) Sign in. Without "remember", the session is not kept on the
	// device: the answer carries an ephemeral token, bound to the account,
	// the device and this authorization request, that authenticates the
	// consent.
	data, err := api("/sign-in", map[string]any{
		"locale": "en", "username": acct.Handle, "password": acct.Password, "remember": false,
	}, "")
	if err != nil {
		return nil, err
	}
	var signIn struct {
		EphemeralToken string `json:"ephemeralToken"`
	}
	if err := json.Unmarshal(data, &signIn); err != nil {
		return nil, fmt.Errorf("pdstest: sign-in answered %s", snippet(data))
	}
	// (3) Consent.
	data, err = api("/consent", map[string]any{"did": acct.DID}, signIn.EphemeralToken)
	if err != nil {
		return nil, err
	}
	var consent struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(data, &consent); err != nil || consent.URL == "" {
		return nil, fmt.Errorf("pdstest: consent answered %s, want {\"url\": ...}", snippet(data))
	}
	next, err := url.Parse(consent.URL)
	if err != nil {
		return nil, fmt.Errorf("pdstest: consent url: %w", err)
	}
	next = mustParse(s.URL).ResolveReference(next)

	// (4) The redirect to the client.
	resp, data, err = do(http.MethodGet, next.String(), nil, map[string]string{
		"Accept":         "text/html",
		"Referer":        authURL,
		"Sec-Fetch-Mode": "navigate",
		"Sec-Fetch-Dest": "document",
		"Sec-Fetch-Site": "same-origin",
	})
	if err != nil {
		return nil, fmt.Errorf("pdstest: redirect: %w", err)
	}
	if resp.StatusCode/100 != 3 {
		return nil, fmt.Errorf("pdstest: redirect: HTTP %d %s, want a redirect to the client", resp.StatusCode, snippet(data))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("pdstest: redirect: %w", err)
	}
	return loc, nil
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func names(m map[string]string) []string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	return l
}

func snippet(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}
