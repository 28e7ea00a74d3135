package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
	"golang.org/x/oauth2"
)

// maxResponseBody caps the JSON documents read by this package (PAR
// responses, metadata).
const maxResponseBody = 1 << 20

// DPoPJKT returns the authorization request parameter dpop_jkt (RFC 9449
// §10) carrying the thumbprint of k, which binds the authorization code to
// k. Pass it to Config.AuthCodeURL or [PushAuthCodeURL]; with PAR it travels
// in the pushed request body (§10.1). It protects against code injection
// only when each authorization request uses a fresh key (§10).
func DPoPJKT(k *dpop.Key) oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("dpop_jkt", k.Thumbprint())
}

// PushedAuthorization is the result of [PushAuthCodeURL].
type PushedAuthorization struct {
	// URL is the authorization URL to send the user agent to: the
	// authorization endpoint with only client_id and request_uri.
	URL string
	// RequestURI is the request_uri the server returned.
	RequestURI string
	// ExpiresIn is how long the request_uri is valid.
	ExpiresIn time.Duration
}

// PushAuthCodeURL pushes the authorization request that cfg.AuthCodeURL
// would build for state and opts (PKCE, [DPoPJKT], …) to the pushed
// authorization request endpoint parEndpoint (RFC 9126), and returns the
// authorization URL made from the request_uri it answers with.
//
// The request goes through the *http.Client found in ctx under
// [oauth2.HTTPClient] (see [NewContext]), so it carries a DPoP proof and is
// retried once on use_dpop_nonce; without one, http.DefaultClient sends it
// without a proof. A confidential client authenticates as at the token
// endpoint: client_secret in the body for AuthStyleInParams, HTTP Basic
// otherwise.
func PushAuthCodeURL(ctx context.Context, cfg *oauth2.Config, parEndpoint, state string, opts ...oauth2.AuthCodeOption) (*PushedAuthorization, error) {
	authURL, err := url.Parse(cfg.Endpoint.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("dpop/client: authorization endpoint: %w", err)
	}
	full, err := url.Parse(cfg.AuthCodeURL(state, opts...))
	if err != nil {
		return nil, fmt.Errorf("dpop/client: building the authorization request: %w", err)
	}
	params := full.Query()
	for k := range authURL.Query() { // the endpoint's own query stays on the URL
		params.Del(k)
	}
	if cfg.ClientSecret != "" && cfg.Endpoint.AuthStyle == oauth2.AuthStyleInParams {
		params.Set("client_secret", cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, parEndpoint, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, fmt.Errorf("dpop/client: pushed authorization request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if cfg.ClientSecret != "" && cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	hc := contextClient(ctx)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dpop/client: pushed authorization request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("dpop/client: reading the pushed authorization response: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse("pushed authorization request", resp, body)
	}
	var ok struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil {
		return nil, fmt.Errorf("dpop/client: malformed pushed authorization response: %w", err)
	}
	if ok.RequestURI == "" {
		return nil, errors.New("dpop/client: pushed authorization response without request_uri")
	}
	q := authURL.Query()
	q.Set("client_id", cfg.ClientID)
	q.Set("request_uri", ok.RequestURI)
	authURL.RawQuery = q.Encode()
	return &PushedAuthorization{
		URL:        authURL.String(),
		RequestURI: ok.RequestURI,
		ExpiresIn:  time.Duration(ok.ExpiresIn) * time.Second,
	}, nil
}
