package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
	"golang.org/x/oauth2"
)

// ErrIssuerMismatch is returned by [Discover] when the metadata names an
// issuer other than the one it was fetched for (RFC 8414 §3.3).
var ErrIssuerMismatch = errors.New("dpop/client: metadata issuer does not match the requested issuer")

// ErrNoCommonAlgorithm is returned when a server accepts none of the
// algorithms a key can sign with.
var ErrNoCommonAlgorithm = errors.New("dpop/client: the server accepts no algorithm the key can sign with")

// Metadata is the part of RFC 8414 authorization server metadata a DPoP
// client uses.
type Metadata struct {
	Issuer                             string   `json:"issuer"`
	AuthorizationEndpoint              string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                      string   `json:"token_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint string   `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests,omitempty"`
	CodeChallengeMethodsSupported      []string `json:"code_challenge_methods_supported,omitempty"`
	// DPoPSigningAlgValuesSupported is the RFC 9449 §5.1 list. Empty means
	// the server did not advertise it, not that it lacks DPoP.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported says the server puts iss
	// in its authorization responses (RFC 9207 §3); the client must then
	// require and check it ([CheckAuthorizationResponse]).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// TokenEndpointAuthMethodsSupported lists the client authentication
	// methods (RFC 8414 §2), such as "none" and "private_key_jwt".
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// TokenEndpointAuthSigningAlgValuesSupported lists the algorithms of
	// client assertions the server accepts (RFC 8414 §2).
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	// ProtectedResources lists the resources this server issues tokens
	// for (RFC 9728 §4). Empty means the server does not say.
	ProtectedResources []string `json:"protected_resources,omitempty"`
	// ClientIDMetadataDocumentSupported says the server accepts an https
	// URL of a client metadata document as client_id
	// (draft-ietf-oauth-client-id-metadata-document).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
}

// Discover fetches the metadata of issuer from its RFC 8414 well-known URL
// (/.well-known/oauth-authorization-server, with the issuer's path, if any,
// appended after it). When that answers 404, it tries the OpenID Connect
// Discovery location (the issuer followed by
// /.well-known/openid-configuration), which many OpenID providers publish
// alone. Either way the document must name exactly that issuer. It uses
// the *http.Client found in ctx under [oauth2.HTTPClient], or
// http.DefaultClient. The issuer must be an https URL (http only on a
// loopback host) without query or fragment.
func Discover(ctx context.Context, issuer string) (*Metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("dpop/client: issuer %q is not an absolute URL without query and fragment", issuer)
	}
	if !syntax.IsSecureURL(u) {
		return nil, fmt.Errorf("%w: issuer %s", ErrInsecureURL, issuer)
	}
	hc := contextClient(ctx)
	path := strings.TrimSuffix(u.Path, "/")
	rfc8414, oidc := *u, *u
	rfc8414.Path, rfc8414.RawPath = "/.well-known/oauth-authorization-server"+path, ""
	oidc.Path, oidc.RawPath = path+"/.well-known/openid-configuration", ""
	body, status, err := fetchMetadata(ctx, hc, rfc8414.String())
	if err == nil && status == http.StatusNotFound {
		body, status, err = fetchMetadata(ctx, hc, oidc.String())
	}
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("dpop/client: fetching metadata: HTTP %d", status)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("dpop/client: malformed metadata: %w", err)
	}
	if m.Issuer != issuer {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrIssuerMismatch, m.Issuer, issuer)
	}
	return &m, nil
}

// fetchMetadata GETs a metadata document and returns its body (when the
// status is 200) and status.
func fetchMetadata(ctx context.Context, hc *http.Client, u string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("dpop/client: fetching metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, 0, fmt.Errorf("dpop/client: reading metadata: %w", err)
	}
	return body, resp.StatusCode, nil
}

// Endpoint returns the oauth2.Endpoint of the metadata.
func (m *Metadata) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint, TokenURL: m.TokenEndpoint}
}

// Algorithms returns dpop_signing_alg_values_supported as algorithms, in
// the server's order, skipping names this package does not implement.
func (m *Metadata) Algorithms() []dpop.Algorithm {
	var out []dpop.Algorithm
	for _, s := range m.DPoPSigningAlgValuesSupported {
		if a := dpop.Algorithm(s); a.Supported() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// ChooseAlgorithm picks the algorithm for a new key from a server's list
// (metadata [Metadata.Algorithms] or a challenge's
// [Challenge.Algorithms]): the first of [dpop.DefaultAlgorithms] (ES256
// first) that the server lists. An empty list means "not advertised"
// (RFC 8414 as used by RFC 9449 §5.1) and gives ES256.
func ChooseAlgorithm(server []dpop.Algorithm) (dpop.Algorithm, error) {
	if len(server) == 0 {
		return dpop.ES256, nil
	}
	for _, a := range dpop.DefaultAlgorithms() {
		if slices.Contains(server, a) {
			return a, nil
		}
	}
	return "", ErrNoCommonAlgorithm
}

// KeyFor returns k, or k with another algorithm that fits its key type
// (for example PS256 for an RS256 key, or Ed25519 for EdDSA), so that it
// signs with an algorithm from the server's list. An empty list returns k.
// The key itself never changes, so a refresh token bound to it stays
// usable (RFC 9449 §5).
func KeyFor(k *dpop.Key, server []dpop.Algorithm) (*dpop.Key, error) {
	if len(server) == 0 || slices.Contains(server, k.Algorithm()) {
		return k, nil
	}
	for _, a := range server {
		if k2, err := k.WithAlgorithm(a); err == nil {
			return k2, nil
		}
	}
	return nil, ErrNoCommonAlgorithm
}
