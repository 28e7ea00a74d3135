package dpoptest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
)

const redirectURI = "http://127.0.0.1:7777/callback"

func newServer(t *testing.T, opts dpoptest.Options) *dpoptest.Server {
	t.Helper()
	srv := dpoptest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// clientContext returns a context whose x/oauth2 requests go through a DPoP
// Transport signing with key.
func clientContext(t *testing.T, key *dpop.Key) (context.Context, *client.Transport) {
	t.Helper()
	tr := &client.Transport{Key: key, Base: newBaseTransport(t)}
	return client.NewContext(t.Context(), tr), tr
}

func newBaseTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// config returns an oauth2.Config for a registered client of srv.
func config(srv *dpoptest.Server, clientID string, style oauth2.AuthStyle) *oauth2.Config {
	c, _ := srv.RegisteredClient(clientID)
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.URL() + "/authorize",
			TokenURL:  srv.URL() + "/token",
			AuthStyle: style,
		},
		RedirectURL: redirectURI,
		Scopes:      []string{"read", "write"},
	}
}

// authorize sends the user agent to authURL, which must answer 302 to the
// redirect URI, and returns the redirect's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	hc := &http.Client{
		Transport:     newBaseTransport(t),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, body %s", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %q, want %q", got, redirectURI)
	}
	return loc.Query()
}

// code runs the authorization request and returns the code.
func code(t *testing.T, srv *dpoptest.Server, authURL, state string) string {
	t.Helper()
	q := authorize(t, authURL)
	if q.Get("error") != "" {
		t.Fatalf("authorize: error %q (%s)", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != srv.URL() {
		t.Fatalf("iss %q, want %q", q.Get("iss"), srv.URL())
	}
	if q.Get("code") == "" {
		t.Fatal("no code")
	}
	return q.Get("code")
}

// callResource calls the resource endpoint with hc and decodes the echo.
func callResource(t *testing.T, srv *dpoptest.Server, hc *http.Client) dpoptest.ResourceResponse {
	t.Helper()
	resp, err := hc.Get(srv.ResourceEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resource: status %d, WWW-Authenticate %q, body %s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), b)
	}
	var rr dpoptest.ResourceResponse
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatalf("resource body %s: %v", b, err)
	}
	return rr
}

// oauthErr extracts the RFC 6749 error code from an x/oauth2 error.
func oauthErr(t *testing.T, err error) (int, string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *oauth2.RetrieveError", err)
	}
	return re.Response.StatusCode, re.ErrorCode
}

// challenge returns the value of param in the challenge of scheme.
func challenge(t *testing.T, h http.Header, scheme, param string) string {
	t.Helper()
	for _, c := range client.ChallengesFromHeader(h) {
		if strings.EqualFold(c.Scheme, scheme) {
			return c.Param(param)
		}
	}
	t.Fatalf("no %s challenge in %q", scheme, h.Values("WWW-Authenticate"))
	return ""
}

// ccToken obtains an access token for the confidential client with
// client_credentials, bound to key.
func ccToken(t *testing.T, srv *dpoptest.Server, key *dpop.Key) *oauth2.Token {
	t.Helper()
	ctx, _ := clientContext(t, key)
	cfg := clientcredentials.Config{
		ClientID:     dpoptest.ConfidentialClientID,
		ClientSecret: dpoptest.ConfidentialClientSecret,
		TokenURL:     srv.URL() + "/token",
		Scopes:       []string{"read"},
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// send sends req with a plain client and returns the response and its body.
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	hc := &http.Client{Transport: newBaseTransport(t), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// resourceRequest builds a GET of the resource endpoint with token under
// scheme and, when proof is not empty, a DPoP header.
func resourceRequest(t *testing.T, srv *dpoptest.Server, scheme, token, proof string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.ResourceEndpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", scheme+" "+token)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

// tokenRequest builds a POST to the token endpoint with form and, when
// proof is not empty, a DPoP header.
func tokenRequest(t *testing.T, srv *dpoptest.Server, form url.Values, proof string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return req
}

// jsonError decodes an RFC 6749 §5.2 error body.
func jsonError(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Error
}

// contextWithClient returns ctx under which x/oauth2 uses hc.
func contextWithClient(ctx context.Context, hc *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// jwtClientContext returns a context whose x/oauth2 requests go through a
// DPoP Transport signing with key over a private_key_jwt layer that adds a
// fresh assertion of the jwt-client to each request to endpoints.
func jwtClientContext(t *testing.T, srv *dpoptest.Server, key *dpop.Key, endpoints ...string) context.Context {
	t.Helper()
	c, _ := srv.RegisteredClient(dpoptest.JWTClientID)
	ck, err := client.NewClientKey(c.Signer, dpop.ES256, "")
	if err != nil {
		t.Fatal(err)
	}
	tr := &client.Transport{Key: key, Base: &client.PrivateKeyJWT{
		Key: ck, ClientID: c.ID, Audience: srv.URL(), Endpoints: endpoints, Base: newBaseTransport(t)}}
	return client.NewContext(t.Context(), tr)
}
