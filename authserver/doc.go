// Package authserver holds the DPoP rules of an OAuth 2.0 authorization
// server (RFC 9449), apart from any framework, storage or token format.
//
// An authorization server keeps its own handlers, client registry, code and
// token stores; at each point where DPoP changes the outcome it asks this
// package for the decision:
//
//   - Token endpoint (RFC 9449 §5, §10): [AS.TokenRequest] verifies the
//     request's proof against the token endpoint URL and the grant's stored
//     key, and returns a [Binding]: the thumbprint to put in the access
//     token's cnf.jkt, the token_type to return (DPoP, or Bearer when a
//     policy falls back, §5), and the thumbprint to store with a new refresh
//     token (public clients only, §5). It never stores anything itself.
//   - Authorization endpoint (§10): [AuthorizationJKT] reads dpop_jkt, to be
//     stored with the authorization code.
//   - PAR endpoint (§10.1, RFC 9126): [AS.PARRequest] verifies an optional
//     proof against the PAR endpoint URL, checks it against dpop_jkt, and
//     returns the thumbprint to store with the request_uri and, later, the
//     code.
//   - Errors (RFC 6749 §5.2): every refusal is an [*Error]: the toolkit's
//     OAuth error, a *[dpop.Error] (code, description safe to show, nonce
//     for use_dpop_nonce, and the evidence for logs: the check that failed,
//     expected and got), with the HTTP status. [WriteError] writes it as
//     JSON with Cache-Control: no-store and a single DPoP-Nonce header (§8),
//     never the evidence. [Options.Logger] logs each refusal with its
//     evidence. [AS.IssueNonce] and [WriteNonce] put a fresh nonce on a
//     successful response (§8.2).
//   - Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document,
//     RFC 7591 §2 metadata): [ParseClientIDURL], [ParseClientMetadataDocument]
//     and a [ClientIDResolver] that fetches a client_id URL's document with
//     the checks an SSRF surface needs (every address checked at dial
//     time, no redirects by default, size and time caps) and a bounded
//     cache.
//   - Published data: [AS.Metadata] (RFC 8414
//     dpop_signing_alg_values_supported, §5.1), [ParseClientMetadata]
//     (dpop_bound_access_tokens, §5.2), [SetConfirmation] and
//     [Confirmation] (the cnf.jkt claim of a JWT access token, §6.1), and
//     [SetIntrospection] and [Introspection] (cnf.jkt and token_type DPoP in
//     an RFC 7662 response, §6.2).
//
// # Decisions
//
// Where the RFC leaves the choice open, this package decides as follows
// (docs/authserver.md gives the reasons):
//
//   - A token request without a DPoP header is refused with
//     invalid_dpop_proof when the client is registered with
//     dpop_bound_access_tokens, when [Options.RequireDPoP] is set, or when
//     the grant (code or refresh token) is bound to a key. A proof for
//     another key than the grant's is refused with invalid_grant.
//   - At the PAR endpoint, proof errors are answered exactly as at the token
//     endpoint (400 invalid_dpop_proof, or use_dpop_nonce with DPoP-Nonce); a
//     proof whose key is not dpop_jkt is invalid_dpop_proof; a malformed or
//     repeated dpop_jkt is invalid_request.
//   - Nonces are all or nothing per verifier: when the [dpop.Verifier] has a
//     NonceSource every proof needs a current nonce. Give the authorization
//     server its own nonce scope, so that a resource server's nonce is
//     refused here.
//   - The Bearer fallback is never applied to a client registered with
//     dpop_bound_access_tokens.
//   - Endpoint URLs must be https, except on a loopback host.
package authserver
