package client

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxFormBody caps the form body PrivateKeyJWT reads to add the assertion.
// A token or pushed authorization request is far smaller.
const maxFormBody = 1 << 20

// PrivateKeyJWT is an [http.RoundTripper] that authenticates a
// confidential client with private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2):
// to every form POST it sends to one of Endpoints (the token endpoint, the
// pushed authorization request endpoint) it adds client_assertion_type and
// a new client_assertion signed by Key, with a new jti and a short life.
//
// Put it under a [Transport] (as its Base): the Transport's nonce retry
// then passes through it again and the retried request carries a new
// assertion too, as a server that records assertion jtis requires (AT
// Protocol, RFC 7523 §3 item 7). With [NewContext], x/oauth2's
// Config.Exchange, its refreshes (Config.TokenSource) and
// clientcredentials.Config, and [PushAuthCodeURL], all authenticate this
// way:
//
//	t := &client.Transport{Key: dpopKey, Base: &client.PrivateKeyJWT{
//		Key: clientKey, ClientID: id, Audience: meta.Issuer,
//		Endpoints: []string{meta.TokenEndpoint, meta.PushedAuthorizationRequestEndpoint},
//	}}
//	ctx = client.NewContext(ctx, t)
//
// Leave oauth2.Config.ClientSecret empty. x/oauth2 then sends client_id in
// the body (AuthStyleInParams) or as HTTP Basic with an empty password
// (AuthStyleInHeader, and the first try of AuthStyleAutoDetect); such an
// empty-password Basic header is removed and its client_id moved into the
// body, since RFC 6749 §2.3 allows one authentication method per request.
// A request that already carries a client_secret or a client_assertion, or
// Basic credentials with a password, is sent as it is.
type PrivateKeyJWT struct {
	// Key signs the assertions. Required.
	Key *ClientKey
	// ClientID is the client's client_id: the assertion's iss and sub.
	// Required.
	ClientID string
	// Audience is the assertion's aud: the authorization server's issuer
	// identifier (RFC 7523 §3 allows it; the AT Protocol requires it), or
	// its token endpoint URL. Required.
	Audience string
	// Endpoints are the URLs (compared without query and fragment) of the
	// requests that get an assertion. Required: an assertion is never
	// sent anywhere else.
	Endpoints []string
	// Lifetime is each assertion's lifetime; zero means
	// DefaultAssertionLifetime.
	Lifetime time.Duration
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RoundTrip implements [http.RoundTripper]. It never modifies the caller's
// request.
func (p *PrivateKeyJWT) RoundTrip(req *http.Request) (*http.Response, error) {
	base := p.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if !isFormPostTo(req, p.Endpoints) {
		return base.RoundTrip(req)
	}
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if p.Key == nil || p.ClientID == "" || p.Audience == "" {
		closeBody()
		return nil, errors.New("dpop/client: PrivateKeyJWT needs Key, ClientID and Audience")
	}
	user, pass, basic := req.BasicAuth()
	added := false
	r, err := rewriteForm(req, func(form url.Values) error {
		if (basic && pass != "") || form.Has("client_secret") || form.Has("client_assertion") {
			return nil // another method already authenticates the request
		}
		if basic {
			if id, err := url.QueryUnescape(user); err != nil || id != p.ClientID {
				return fmt.Errorf("dpop/client: request authenticates client %q, PrivateKeyJWT is for %q", user, p.ClientID)
			}
		}
		if id := form.Get("client_id"); id != "" && id != p.ClientID {
			return fmt.Errorf("dpop/client: request names client_id %q, PrivateKeyJWT is for %q", id, p.ClientID)
		}
		now := time.Now()
		if p.Now != nil {
			now = p.Now()
		}
		a, err := p.Key.Assertion(p.ClientID, p.Audience, now, p.Lifetime)
		if err != nil {
			return err
		}
		form.Set("client_id", p.ClientID)
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", a)
		added = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if added && basic {
		r.Header.Del("Authorization") // the empty-password Basic header x/oauth2 sent
	}
	return base.RoundTrip(r)
}

// isFormPostTo reports whether req is a form POST to one of endpoints
// (compared without query and fragment).
func isFormPostTo(req *http.Request, endpoints []string) bool {
	if req.Method != http.MethodPost || req.Body == nil || req.Body == http.NoBody || req.URL == nil {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return false
	}
	return slices.ContainsFunc(endpoints, func(e string) bool { return withoutQuery(e) == withoutQuery(req.URL.String()) })
}

// withoutQuery returns u without its query and fragment.
func withoutQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
