package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// MaxClientMetadataSize caps a client metadata document that
// [ParseClientMetadata] reads.
const MaxClientMetadataSize = 64 << 10

// ErrClientMetadata is wrapped by every refusal of
// [ClientMetadata.Validate] and [ParseClientMetadata].
var ErrClientMetadata = errors.New("dpop/client: invalid client metadata document")

// ClientMetadata is a client metadata document: RFC 7591 §2 client
// metadata published at the https URL that is the client's client_id
// (draft-ietf-oauth-client-id-metadata-document), with RFC 9449 §5.2's
// dpop_bound_access_tokens. Serve it with its ServeHTTP method.
type ClientMetadata struct {
	ClientID                    string          `json:"client_id"`
	ClientName                  string          `json:"client_name,omitempty"`
	ClientURI                   string          `json:"client_uri,omitempty"`
	LogoURI                     string          `json:"logo_uri,omitempty"`
	TOSURI                      string          `json:"tos_uri,omitempty"`
	PolicyURI                   string          `json:"policy_uri,omitempty"`
	ApplicationType             string          `json:"application_type,omitempty"`
	RedirectURIs                []string        `json:"redirect_uris"`
	GrantTypes                  []string        `json:"grant_types,omitempty"`
	ResponseTypes               []string        `json:"response_types,omitempty"`
	Scope                       string          `json:"scope,omitempty"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	DPoPBoundAccessTokens       bool            `json:"dpop_bound_access_tokens"`
}

// NewClientMetadata returns the document of a client that uses the
// authorization code grant with refresh tokens and DPoP-bound tokens. With
// keys it authenticates by private_key_jwt (their public JWKs in jwks, the
// first key's algorithm as token_endpoint_auth_signing_alg); without, it
// is a public client (token_endpoint_auth_method none).
func NewClientMetadata(clientID string, redirectURIs []string, scope string, keys ...*ClientKey) *ClientMetadata {
	m := &ClientMetadata{
		ClientID:                clientID,
		ApplicationType:         "web",
		RedirectURIs:            slices.Clone(redirectURIs),
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scope:                   scope,
		TokenEndpointAuthMethod: "none",
		DPoPBoundAccessTokens:   true,
	}
	if len(keys) > 0 {
		m.TokenEndpointAuthMethod = "private_key_jwt"
		m.TokenEndpointAuthSigningAlg = string(keys[0].Algorithm())
		m.JWKS = JWKS(keys...)
	}
	return m
}

// ParseClientMetadata reads a client metadata document fetched from
// clientID and validates it ([ClientMetadata.Validate]).
func ParseClientMetadata(data []byte, clientID string) (*ClientMetadata, error) {
	if len(data) > MaxClientMetadataSize {
		return nil, fmt.Errorf("%w: expected at most %d bytes, got %d", ErrClientMetadata, MaxClientMetadataSize, len(data))
	}
	var m ClientMetadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClientMetadata, err)
	}
	var secret struct {
		Secret *json.RawMessage `json:"client_secret"`
	}
	if json.Unmarshal(data, &secret) == nil && secret.Secret != nil {
		return nil, fmt.Errorf("%w: expected no client_secret, got one", ErrClientMetadata)
	}
	if m.ClientID != clientID {
		return nil, fmt.Errorf("%w: expected client_id %q (the document's URL), got %q", ErrClientMetadata, clientID, m.ClientID)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the document: client_id an https URL with a path and
// without fragment, user information or dot segments; at least one
// redirect URI, each absolute and without fragment; the code response type
// and the authorization_code grant when they are listed; an
// authentication method without a shared secret (none or private_key_jwt:
// a document is public, so client_secret_* are refused), and for
// private_key_jwt either jwks (a JWK Set with at least one key) or
// jwks_uri, not both.
func (m *ClientMetadata) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrClientMetadata}, args...)...)
	}
	u, err := url.Parse(m.ClientID)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(m.ClientID, "#"):
		return bad("expected client_id an https URL without fragment or user information, got %q", m.ClientID)
	case u.Path == "" || u.Path == "/":
		return bad("expected client_id with a path, got %q", m.ClientID)
	case slices.ContainsFunc(strings.Split(u.Path, "/"), func(s string) bool { return s == "." || s == ".." }):
		return bad("expected client_id without dot segments, got %q", m.ClientID)
	case len(m.RedirectURIs) == 0:
		return bad("expected at least one redirect_uri, got none")
	}
	for _, r := range m.RedirectURIs {
		ru, err := url.Parse(r)
		if err != nil || !ru.IsAbs() || ru.Fragment != "" || strings.Contains(r, "#") {
			return bad("expected absolute redirect URIs without fragment, got %q", r)
		}
	}
	if len(m.ResponseTypes) > 0 && !slices.Contains(m.ResponseTypes, "code") {
		return bad("expected response_types with code, got %q", m.ResponseTypes)
	}
	if len(m.GrantTypes) > 0 && !slices.Contains(m.GrantTypes, "authorization_code") {
		return bad("expected grant_types with authorization_code, got %q", m.GrantTypes)
	}
	switch m.TokenEndpointAuthMethod {
	case "", "none":
		if len(m.JWKS) > 0 || m.JWKSURI != "" {
			return bad("expected no keys for token_endpoint_auth_method none, got jwks or jwks_uri")
		}
	case "private_key_jwt":
		switch {
		case len(m.JWKS) > 0 && m.JWKSURI != "":
			return bad("expected jwks or jwks_uri, got both")
		case m.JWKSURI != "":
			if ju, err := url.Parse(m.JWKSURI); err != nil || ju.Scheme != "https" || ju.Host == "" {
				return bad("expected an https jwks_uri, got %q", m.JWKSURI)
			}
		case len(m.JWKS) > 0:
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(m.JWKS, &set); err != nil || len(set.Keys) == 0 {
				return bad("expected jwks a JWK Set with at least one key")
			}
			for _, k := range set.Keys {
				if _, private := k["d"]; private {
					return bad("expected public keys in jwks, got a private one")
				}
			}
		default:
			return bad("expected jwks or jwks_uri for private_key_jwt, got neither")
		}
	default:
		return bad("expected token_endpoint_auth_method none or private_key_jwt, got %q", m.TokenEndpointAuthMethod)
	}
	return nil
}

// ServeHTTP serves the document as JSON to GET and HEAD requests, so a
// *ClientMetadata can be registered at its client_id path.
func (m *ClientMetadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(m)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=600")
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
