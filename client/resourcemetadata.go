package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dpopkit/dpop/internal/syntax"
)

// ErrResourceMismatch is returned when protected resource metadata names
// another resource than the one it was fetched for (RFC 9728 §3.3).
var ErrResourceMismatch = errors.New("dpop/client: protected resource metadata names another resource")

// ErrNoAuthorizationServer is returned by
// [ResourceMetadata.AuthorizationServer] when the metadata names none.
var ErrNoAuthorizationServer = errors.New("dpop/client: protected resource metadata names no authorization server")

// ResourceMetadata is OAuth 2.0 protected resource metadata (RFC 9728 §2).
type ResourceMetadata struct {
	Resource                      string   `json:"resource"`
	AuthorizationServers          []string `json:"authorization_servers,omitempty"`
	JWKSURI                       string   `json:"jwks_uri,omitempty"`
	ScopesSupported               []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported        []string `json:"bearer_methods_supported,omitempty"`
	ResourceName                  string   `json:"resource_name,omitempty"`
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// ResourceMetadataURL returns the well-known URL of the protected resource
// metadata of resource (RFC 9728 §3.1): /.well-known/oauth-protected-resource
// inserted between the host and the path.
func ResourceMetadataURL(resource string) (string, error) {
	u, err := checkResourceURL(resource)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	u.Path, u.RawPath, u.RawQuery = "/.well-known/oauth-protected-resource"+path, "", ""
	return u.String(), nil
}

// DiscoverResource fetches the protected resource metadata of resource
// from its well-known URL ([ResourceMetadataURL]) and checks that it names
// exactly that resource (RFC 9728 §3.3). It uses the *http.Client found in
// ctx under [oauth2.HTTPClient], or http.DefaultClient. resource must be
// an https URL (http only on a loopback host) without fragment.
func DiscoverResource(ctx context.Context, resource string) (*ResourceMetadata, error) {
	mu, err := ResourceMetadataURL(resource)
	if err != nil {
		return nil, err
	}
	return FetchResourceMetadata(ctx, mu, resource)
}

// FetchResourceMetadata fetches protected resource metadata from
// metadataURL (a well-known URL, or the resource_metadata parameter of a
// WWW-Authenticate challenge, RFC 9728 §5.1) and checks that its resource
// is exactly resource: the resource identifier the URL was made from, or
// the URL of the request the challenge answered (§3.3). Without that check
// a resource could point a client at an authorization server of an
// attacker's choosing.
func FetchResourceMetadata(ctx context.Context, metadataURL, resource string) (*ResourceMetadata, error) {
	mu, err := url.Parse(metadataURL)
	if err != nil || mu.Host == "" || mu.Fragment != "" || mu.User != nil {
		return nil, fmt.Errorf("dpop/client: resource metadata URL %q is not an absolute URL", metadataURL)
	}
	if !syntax.IsSecureURL(mu) {
		return nil, fmt.Errorf("%w: resource metadata %s", ErrInsecureURL, metadataURL)
	}
	if _, err := checkResourceURL(resource); err != nil {
		return nil, err
	}
	hc := contextClient(ctx)
	body, status, err := fetchMetadata(ctx, hc, metadataURL)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("dpop/client: fetching resource metadata %s: HTTP %d", metadataURL, status)
	}
	var m ResourceMetadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("dpop/client: malformed resource metadata: %w", err)
	}
	if m.Resource != resource {
		return nil, fmt.Errorf("%w: expected %q, got %q", ErrResourceMismatch, resource, m.Resource)
	}
	return &m, nil
}

// ResourceMetadataFromChallenge reads the resource_metadata parameter of
// the challenges of a 401 response (RFC 9728 §5.1) and fetches that
// document, checking that it names the URL of the request the response
// answered (without fragment). It returns an error when no challenge
// carries the parameter.
func ResourceMetadataFromChallenge(ctx context.Context, resp *http.Response) (*ResourceMetadata, error) {
	if resp == nil || resp.Request == nil || resp.Request.URL == nil {
		return nil, errors.New("dpop/client: a response with its request is needed")
	}
	var mu string
	for _, c := range ChallengesFromHeader(resp.Header) {
		if v := c.Param("resource_metadata"); v != "" {
			mu = v
			break
		}
	}
	if mu == "" {
		return nil, errors.New("dpop/client: no WWW-Authenticate challenge carries resource_metadata")
	}
	u := *resp.Request.URL
	u.Fragment, u.RawFragment = "", ""
	return FetchResourceMetadata(ctx, mu, u.String())
}

// AuthorizationServer returns the issuer identifier of the authorization
// server to use: the first of authorization_servers (RFC 9728 §2). Fetch
// its metadata with [Discover], which checks the issuer.
func (m *ResourceMetadata) AuthorizationServer() (string, error) {
	if len(m.AuthorizationServers) == 0 || m.AuthorizationServers[0] == "" {
		return "", fmt.Errorf("%w: resource %s", ErrNoAuthorizationServer, m.Resource)
	}
	return m.AuthorizationServers[0], nil
}

func checkResourceURL(resource string) (*url.URL, error) {
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("dpop/client: resource %q is not an absolute URL without fragment", resource)
	}
	if !syntax.IsSecureURL(u) {
		return nil, fmt.Errorf("%w: resource %s", ErrInsecureURL, resource)
	}
	return u, nil
}
