// Package resource is the resource-server side of DPoP (RFC 9449): net/http
// middleware that accepts DPoP-bound access tokens, and optionally Bearer
// tokens, checks them, and hands the verified caller to the handler.
//
// A [Middleware] reads the Authorization header (RFC 9449 §7.1, RFC 6750
// §2.1), validates the access token with a [TokenValidator], verifies the
// DPoP proof with the core [dpop.Verifier] (RFC 9449 §4.3, with ath and the
// token's cnf.jkt, §6 and §7), refuses downgrades (§7.2), and answers
// failures with 400, 401 or 403 and the WWW-Authenticate challenges of
// RFC 6750 §3 and RFC 9449 §7.1 (with algs, error, error_description and,
// for use_dpop_nonce, a DPoP-Nonce header, §9). Handlers read the caller
// with [CallerFromContext].
//
// [Middleware.Wrap] is built on two exported steps that an adapter for
// another router or framework uses directly: [Middleware.Authenticate]
// runs every check and returns the [Caller] or an *[Error] (the HTTP
// status, the WWW-Authenticate challenge, and the [dpop.Error] with the
// OAuth code, the nonce and the evidence), and [WriteError] writes that
// error on an http.ResponseWriter. With Options.Logger each refusal is
// logged with its evidence: the check that failed and the values it
// compared, never a whole token or a secret.
//
// Token validators:
//   - [JWTValidator]: JWT access tokens (RFC 9068 §4) with the issuer's
//     JWKS, fetched over HTTPS, cached and refreshed on an unknown kid at
//     most once per refresh interval.
//   - [Introspector]: opaque tokens by token introspection (RFC 7662, RFC
//     9449 §6.2) with client_secret_basic.
//   - [TokenCache]: a bounded cache in front of either, keyed by the token's
//     SHA-256 and never kept past the token's exp, so a busy server pays
//     one signature check per request: the proof's.
//
// [MetadataHandler] serves RFC 9728 protected resource metadata.
//
// # Decisions
//
// Where the RFCs leave a choice, this package decides as follows;
// docs/resource.md gives the reasons and the tests.
//
//   - No credentials (no Authorization field, or one with a scheme this
//     resource does not accept): 401 with every challenge and no error
//     parameter (RFC 6750 §3.1, RFC 9449 §7.2).
//   - Two Authorization fields, or a token in the header and in the query
//     (its name percent-encoded or not) or in a form body: 400
//     invalid_request in every challenge (RFC 6750 §3.1, RFC 9449 Figure
//     19). The form body (RFC 6750 §2.2) is looked at only once the
//     credentials passed, and only its first [MaxFormPeek] bytes, which
//     are put back for the handler.
//   - A malformed Authorization value (no token, not a token68): 400
//     invalid_request in the challenge of the scheme named.
//   - A token the validator refuses: 401 invalid_token in the challenge of
//     the scheme used; the description never repeats the request. A JWT is
//     refused on or after exp (RFC 7519 §4.1.4) and before nbf, each moved
//     by the leeway, and when a segment is not canonical base64url.
//   - A DPoP-bound token under Bearer: 401 Bearer invalid_token (§7.2).
//   - A token that is not DPoP-bound under DPoP: 401 DPoP invalid_token,
//     since the key binding of RFC 9449 §6 cannot be checked.
//   - Authorization: DPoP without a DPoP field: 401 invalid_dpop_proof
//     (a failed check 1 of RFC 9449 §4.3).
//   - A proof bound to another key: 401 invalid_token, "Invalid DPoP
//     key binding" (RFC 9449 Figure 16); any other proof failure, ath
//     included: 401 invalid_dpop_proof.
//   - A missing or stale resource-server nonce: 401 use_dpop_nonce with a
//     fresh DPoP-Nonce and Cache-Control: no-store.
//   - A token lacking a required scope: 403 insufficient_scope with scope.
//   - A replay store, nonce source, JWKS or introspection endpoint that
//     cannot answer: 503 with no challenge, since the client did nothing
//     wrong.
//
// The htu of a proof is compared with Options.BaseURL joined with the
// request's escaped path. Without BaseURL the URL is rebuilt from r.Host
// and r.TLS, which is right only when clients reach this server directly:
// behind a proxy or load balancer, set BaseURL.
package resource
