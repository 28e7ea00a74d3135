package atproto

import (
	"fmt"
	"slices"

	"github.com/dpopkit/dpop/client"
)

// Client authentication methods of the profile.
const (
	AuthNone          = "none"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// CheckProfile checks an authorization server's metadata against the AT
// Protocol OAuth profile, for a client that authenticates with authMethod
// (AuthNone or AuthPrivateKeyJWT): pushed authorization requests required
// and an endpoint for them (RFC 9126 §5), the iss parameter in
// authorization responses (RFC 9207 §3), PKCE with S256, DPoP with ES256
// (RFC 9449 §5.1), the authentication method (and ES256 client assertions
// for private_key_jwt), the atproto scope, client ID metadata documents,
// and the authorization, token and PAR endpoints.
func CheckProfile(meta *client.Metadata, authMethod string) error {
	fail := func(expected, got string) error {
		return newErr(ErrProfile, "check "+meta.Issuer+" metadata", expected, got, nil)
	}
	switch {
	case meta.AuthorizationEndpoint == "" || meta.TokenEndpoint == "":
		return fail("authorization_endpoint and token_endpoint", "a missing endpoint")
	case !meta.RequirePushedAuthorizationRequests || meta.PushedAuthorizationRequestEndpoint == "":
		return fail("require_pushed_authorization_requests true with a pushed_authorization_request_endpoint",
			fmt.Sprintf("require %t, endpoint %q", meta.RequirePushedAuthorizationRequests, meta.PushedAuthorizationRequestEndpoint))
	case !meta.AuthorizationResponseIssParameterSupported:
		return fail("authorization_response_iss_parameter_supported true", "false")
	case !slices.Contains(meta.CodeChallengeMethodsSupported, "S256"):
		return fail("S256 in code_challenge_methods_supported", fmt.Sprintf("%q", meta.CodeChallengeMethodsSupported))
	case !slices.Contains(meta.DPoPSigningAlgValuesSupported, "ES256"):
		return fail("ES256 in dpop_signing_alg_values_supported", fmt.Sprintf("%q", meta.DPoPSigningAlgValuesSupported))
	case !slices.Contains(meta.ScopesSupported, "atproto"):
		return fail("atproto in scopes_supported", fmt.Sprintf("%q", meta.ScopesSupported))
	case !meta.ClientIDMetadataDocumentSupported:
		return fail("client_id_metadata_document_supported true", "false")
	}
	switch authMethod {
	case AuthNone:
		if !slices.Contains(meta.TokenEndpointAuthMethodsSupported, AuthNone) {
			return fail("none in token_endpoint_auth_methods_supported", fmt.Sprintf("%q", meta.TokenEndpointAuthMethodsSupported))
		}
	case AuthPrivateKeyJWT:
		if !slices.Contains(meta.TokenEndpointAuthMethodsSupported, AuthPrivateKeyJWT) {
			return fail("private_key_jwt in token_endpoint_auth_methods_supported", fmt.Sprintf("%q", meta.TokenEndpointAuthMethodsSupported))
		}
		if !slices.Contains(meta.TokenEndpointAuthSigningAlgValuesSupported, "ES256") {
			return fail("ES256 in token_endpoint_auth_signing_alg_values_supported", fmt.Sprintf("%q", meta.TokenEndpointAuthSigningAlgValuesSupported))
		}
	default:
		return newErr(ErrConfig, "check metadata", "none or private_key_jwt", quoteShort(authMethod), nil)
	}
	return nil
}
