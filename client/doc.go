// Package client is the proving side of OAuth 2.0 DPoP (RFC 9449): an
// http.RoundTripper that signs requests, the glue that makes
// golang.org/x/oauth2 obtain and use DPoP-bound tokens, pushed
// authorization requests, metadata discovery and sessions that survive a
// restart.
//
// # Pieces
//
//   - [Transport] adds a new proof to each request (RFC 9449 §4, §7), with
//     ath for "Authorization: DPoP" tokens, keeps server nonces per origin
//     in a [NonceCache] (§8, §9), retries once on use_dpop_nonce, refuses
//     plain http except to loopback hosts (§2), and can correct for a
//     server whose clock disagrees with the local one.
//   - [NewContext] puts a Transport where x/oauth2 looks for its HTTP
//     client, so Config.Exchange, refreshes and clientcredentials send
//     proofs (§5). [CheckToken], [TokenSource] and [NewClient] check the
//     token_type the server returned: DPoP, or Bearer only when the caller
//     accepts the server's choice not to bind the token (§5).
//   - [PushAuthCodeURL] sends the authorization request to a pushed
//     authorization request endpoint (RFC 9126, RFC 9449 §10.1) with a
//     proof; [DPoPJKT] binds the authorization code to the key (§10).
//   - [Discover] reads RFC 8414 metadata and checks its issuer;
//     [ChooseAlgorithm] and [KeyFor] pick a signing algorithm the server
//     accepts (§5.1, §7.1 algs).
//   - [PrivateKeyJWT] authenticates a confidential client with a new
//     RFC 7523 §2.2 client assertion, signed by a [ClientKey], on every
//     token and pushed authorization request, nonce retries and
//     refreshes included.
//   - [ParseChallenges] reads WWW-Authenticate fields (RFC 9110 §11.6.1).
//   - [Session] saves a token with its key (by reference, or as a private
//     JWK only on request) and optionally the nonces.
//
// docs/client.md in the repository records the decisions this package
// makes where the RFCs leave a choice.
package client
