package dpoptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// Profile selects a deployment profile: the rules it adds to OAuth 2.0
// with DPoP.
type Profile int

const (
	// ProfileDefault is the server described in the package doc.
	ProfileDefault Profile = iota
	// ProfileATProto is the AT Protocol (Bluesky) OAuth profile:
	//   - PAR is required (RFC 9126 §5: require_pushed_authorization_requests),
	//     and a pushed request needs a DPoP proof;
	//   - both servers demand DPoP nonces (Nonces is NoncesBoth);
	//   - an https client_id is a client ID metadata document URL
	//     (draft-ietf-oauth-client-id-metadata-document), fetched through
	//     authserver.ClientIDResolver with Options.ClientIDs (its jwks_uri
	//     too), and must say
	//     dpop_bound_access_tokens: true; its requested scope must be among
	//     the document's;
	//   - "http://localhost" with redirect_uri and scope query parameters is
	//     a public loopback client without a document, the profile's
	//     development exception (redirect URIs http://127.0.0.1 or
	//     http://[::1] on any port; default scope "atproto");
	//   - the redirect carries iss (RFC 9207) and the metadata says
	//     authorization_response_iss_parameter_supported (as always here),
	//     client_id_metadata_document_supported and the auth methods none
	//     and private_key_jwt; a private_key_jwt assertion's jti is single
	//     use, so each request needs a fresh one;
	//   - token responses carry sub, and the default User is
	//     ATProtoDefaultUser, a DID.
	ProfileATProto
)

// ATProtoDefaultUser is Options.User under ProfileATProto when none is
// given: a did:plc identifier.
const ATProtoDefaultUser = "did:plc:dpoptestaliceaaaaaaaaaaa"

// ATProtoScope is the scope every AT Protocol session must have.
const ATProtoScope = "atproto"

// atprotoLoopbackClient is the client_id prefix of the loopback
// development clients.
const atprotoLoopbackClient = "http://localhost"

// lookupClient returns the client with that ID: a registered one, a
// client ID metadata document's (when enabled), or an AT Protocol loopback
// client. nil with a nil error when there is none; an error when a
// document could not be had or is not acceptable.
func (s *Server) lookupClient(ctx context.Context, id string) (*Client, error) {
	if c := s.client(id); c != nil {
		return c, nil
	}
	switch {
	case s.clientIDs != nil && strings.HasPrefix(id, "https://"):
		doc, err := s.clientIDs.Resolve(ctx, id)
		if err != nil {
			return nil, err
		}
		return s.clientFromDocument(ctx, doc)
	case s.opts.Profile == ProfileATProto && isLoopbackClientID(id):
		return loopbackClient(id)
	}
	return nil, nil
}

// isLoopbackClientID reports whether id has the form of the AT Protocol
// loopback client_id ("http://localhost" then nothing, a port, a path or a
// query), to be validated by loopbackClient.
func isLoopbackClientID(id string) bool {
	rest, ok := strings.CutPrefix(id, atprotoLoopbackClient)
	return ok && (rest == "" || strings.ContainsAny(rest[:1], ":/?"))
}

// clientFromDocument makes the client a metadata document describes.
func (s *Server) clientFromDocument(ctx context.Context, d *authserver.ClientMetadataDocument) (*Client, error) {
	bad := func(member, expected, got string) (*Client, error) {
		return nil, evidence(oauthError(authserver.CodeInvalidClientMetadata, "client metadata document: "+member+" is not acceptable here", http.StatusBadRequest), member, expected, got)
	}
	if s.opts.Profile == ProfileATProto && !d.DPoPBoundAccessTokens {
		return bad("dpop_bound_access_tokens", "true", "false")
	}
	c := &Client{ID: d.ClientID, Public: d.Public(), AuthMethod: d.TokenEndpointAuthMethod, RedirectURIs: d.RedirectURIs,
		DPoPBound: d.DPoPBoundAccessTokens, exactRedirects: true, scope: d.Scope, declaredScope: true}
	if d.TokenEndpointAuthMethod == AuthPrivateKeyJWT {
		jwks, err := s.clientIDs.ResolveJWKS(ctx, d)
		if err != nil {
			return nil, err
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(jwks, &set); err != nil {
			return bad("jwks", "a JWK Set", "another value")
		}
		for _, k := range set.Keys {
			if pub, ok := k.Key.(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() && k.IsPublic() {
				c.keys = append(c.keys, k)
			}
		}
		if len(c.keys) == 0 {
			return bad("jwks", "an EC P-256 key for ES256", "none")
		}
	}
	return c, nil
}

// loopbackClient makes the AT Protocol development client of a
// "http://localhost?redirect_uri=…&scope=…" client_id.
func loopbackClient(id string) (*Client, error) {
	bad := func(expected string) (*Client, error) {
		return nil, evidence(oauthError(authserver.CodeInvalidClient, "invalid loopback client_id", http.StatusBadRequest), "client_id", expected, id)
	}
	// A client_id is compared as a string: the development exception is
	// the literal http://localhost, not a case variant of its scheme.
	if !strings.HasPrefix(id, "http://localhost") {
		return bad("http://localhost without port or path")
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "http" || u.Host != "localhost" || (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.User != nil {
		return bad("http://localhost without port or path")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("a well-formed query")
	}
	for k, vs := range q {
		if k != "redirect_uri" && k != "scope" || k == "scope" && len(vs) > 1 {
			return bad("only redirect_uri and one scope")
		}
	}
	c := &Client{ID: id, Public: true, AuthMethod: AuthNone, DPoPBound: true, exactRedirects: true, scope: ATProtoScope, declaredScope: true}
	if q.Has("scope") {
		c.scope = q.Get("scope")
	}
	c.RedirectURIs = q["redirect_uri"]
	if len(c.RedirectURIs) == 0 {
		c.RedirectURIs = []string{"http://127.0.0.1/", "http://[::1]/"}
	}
	for _, r := range c.RedirectURIs {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" || (ru.Hostname() != "127.0.0.1" && ru.Hostname() != "::1") || ru.Fragment != "" {
			return bad("redirect_uri on http://127.0.0.1 or http://[::1]")
		}
	}
	return c, nil
}

// scopeAllowed reports whether a requested scope is among the client's
// declared scopes (a metadata document's or a loopback client's).
func (c *Client) scopeAllowed(requested string) bool {
	return !c.declaredScope || subset(requested, c.scope)
}

// atprotoMetadata adds the profile's members to the AS metadata.
func atprotoMetadata(m map[string]any) {
	m["require_pushed_authorization_requests"] = true
	m["client_id_metadata_document_supported"] = true
	m["token_endpoint_auth_methods_supported"] = []string{AuthNone, AuthPrivateKeyJWT}
	m["scopes_supported"] = []string{ATProtoScope, "transition:generic"}
	m["grant_types_supported"] = []string{grantAuthorizationCode, grantRefreshToken}
}

// parProofRequired refuses a pushed request without a proof under the AT
// Protocol profile, where DPoP starts at PAR.
func (s *Server) parProofRequired(r *http.Request) error {
	if s.opts.Profile != ProfileATProto || len(r.Header.Values("DPoP")) > 0 {
		return nil
	}
	return evidence(authserver.NewError(http.StatusBadRequest, dpop.CodeInvalidProof, "DPoP proof required", authserver.ErrProofRequired),
		"proof", "a proof at the PAR endpoint (AT Protocol profile)", "no DPoP header")
}
