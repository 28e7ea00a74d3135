package dpoptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/internal/syntax"
)

// MaxRegisteredClients bounds the clients registered dynamically; a
// registration beyond it is answered 503 temporarily_unavailable.
const MaxRegisteredClients = 1000

// maxRegistrationBody caps a registration request.
const maxRegistrationBody = 64 << 10

// RegistrationEndpoint returns URL() + "/register", the RFC 7591 dynamic
// client registration endpoint.
func (s *Server) RegistrationEndpoint() string { return s.asURL + "/register" }

// registration is an RFC 7591 §2 client metadata document, as received.
type registration struct {
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	ClientName              string          `json:"client_name,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
}

// registrationResponse is the RFC 7591 §3.2.1 answer.
type registrationResponse struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	ClientName              string          `json:"client_name,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens"`
}

func badMetadata(desc string) *authserver.Error {
	return oauthError(authserver.CodeInvalidClientMetadata, desc, http.StatusBadRequest)
}

// serveRegister is the RFC 7591 dynamic client registration endpoint, open
// to anyone (no initial access token): a JSON client metadata document in,
// 201 with the client_id (and client_secret) and the metadata as kept out.
func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "the body must be application/json", http.StatusBadRequest))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRegistrationBody+1))
	if err != nil || len(body) > maxRegistrationBody {
		s.refuse(w, r, badMetadata("the registration request is too large"))
		return
	}
	c, resp, err := s.register(body)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	s.clientsMu.Lock()
	full := len(s.clientOrder) >= builtinClients+MaxRegisteredClients
	s.clientsMu.Unlock()
	if full {
		s.refuse(w, r, oauthError(dpop.CodeTemporarilyUnavailable, "too many registered clients", http.StatusServiceUnavailable))
		return
	}
	s.addClient(c)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, resp)
}

// builtinClients is the number of clients registered by NewServer.
const builtinClients = 4

// register validates a registration request (RFC 7591 §2, RFC 9449 §5.2)
// and returns the client to add and the response.
func (s *Server) register(body []byte) (*Client, *registrationResponse, error) {
	dm, err := authserver.ParseClientMetadata(body)
	if err != nil {
		return nil, nil, err
	}
	var reg registration
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&reg); err != nil {
		return nil, nil, badMetadata("a client metadata member has the wrong type")
	}
	if reg.TokenEndpointAuthMethod == "" {
		reg.TokenEndpointAuthMethod = AuthClientSecretBasic // RFC 7591 §2
	}
	if len(reg.GrantTypes) == 0 {
		reg.GrantTypes = []string{grantAuthorizationCode}
	}
	if len(reg.ResponseTypes) == 0 {
		reg.ResponseTypes = []string{"code"}
	}
	c := &Client{ID: "dyn-" + randomToken()[:22], AuthMethod: reg.TokenEndpointAuthMethod, DPoPBound: dm.DPoPBoundAccessTokens, exactRedirects: true}
	switch reg.TokenEndpointAuthMethod {
	case AuthNone:
		c.Public = true
	case AuthClientSecretBasic, AuthClientSecretPost:
		c.Secret = randomToken()
	case AuthPrivateKeyJWT:
		if reg.JWKSURI != "" {
			return nil, nil, badMetadata("jwks_uri is not supported: send the keys as jwks")
		}
		if c.keys, err = assertionJWKS(reg.JWKS); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, badMetadata("token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt")
	}
	if reg.JWKSURI != "" && len(reg.JWKS) > 0 {
		return nil, nil, badMetadata("jwks and jwks_uri must not both be present")
	}
	for _, g := range reg.GrantTypes {
		switch g {
		case grantAuthorizationCode, grantRefreshToken:
		case grantClientCredentials:
			if c.Public {
				return nil, nil, badMetadata("a public client cannot use client_credentials")
			}
		default:
			return nil, nil, badMetadata("grant_types may hold authorization_code, refresh_token and client_credentials")
		}
	}
	if !slices.Equal(reg.ResponseTypes, []string{"code"}) {
		return nil, nil, badMetadata("response_types must be [\"code\"]")
	}
	if slices.Contains(reg.GrantTypes, grantAuthorizationCode) && len(reg.RedirectURIs) == 0 {
		return nil, nil, oauthError(authserver.CodeInvalidRedirectURI, "redirect_uris is required for authorization_code", http.StatusBadRequest)
	}
	if len(reg.RedirectURIs) > 16 {
		return nil, nil, oauthError(authserver.CodeInvalidRedirectURI, "too many redirect_uris", http.StatusBadRequest)
	}
	for _, u := range reg.RedirectURIs {
		if !validRedirectURI(u) {
			return nil, nil, evidence(oauthError(authserver.CodeInvalidRedirectURI, "each redirect URI must be https, or http on a loopback host, without a fragment", http.StatusBadRequest),
				"redirect_uri", "https, or http on localhost, 127.0.0.0/8 or [::1]", u)
		}
	}
	c.RedirectURIs = slices.Clone(reg.RedirectURIs)
	resp := &registrationResponse{
		ClientID:                c.ID,
		ClientSecret:            c.Secret,
		ClientIDIssuedAt:        s.now().Unix(),
		RedirectURIs:            reg.RedirectURIs,
		TokenEndpointAuthMethod: reg.TokenEndpointAuthMethod,
		GrantTypes:              reg.GrantTypes,
		ResponseTypes:           reg.ResponseTypes,
		ClientName:              reg.ClientName,
		Scope:                   reg.Scope,
		JWKS:                    reg.JWKS,
		DPoPBoundAccessTokens:   c.DPoPBound,
	}
	if c.Secret != "" {
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	return c, resp, nil
}

// validRedirectURI is the registration rule for redirect URIs: an absolute
// https URI, or http on a loopback host (RFC 8252 §7.3, §8.3), with no
// fragment and no userinfo (RFC 6749 §3.1.2).
func validRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || containsByte(raw, '#') {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return syntax.IsLoopbackHost(u.Hostname())
	}
	return false
}

// assertionJWKS reads the public keys of a private_key_jwt client (RFC
// 7591 §2 jwks): at least one EC P-256 public key, for ES256 assertions.
func assertionJWKS(raw json.RawMessage) ([]jose.JSONWebKey, error) {
	if len(raw) == 0 {
		return nil, badMetadata("private_key_jwt needs jwks")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, badMetadata("jwks is not a JWK Set")
	}
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, badMetadata("jwks must hold public keys only")
		}
		if pub, ok := k.Key.(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, badMetadata("jwks has no EC P-256 key for ES256")
	}
	if len(out) > 8 {
		return nil, badMetadata("jwks has too many keys")
	}
	return out, nil
}
