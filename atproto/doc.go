// Package atproto logs a user in to an AT Protocol (Bluesky) account with
// OAuth, as the AT Protocol OAuth profile requires: DPoP with server nonces
// at the authorization server and at the PDS (RFC 9449), pushed
// authorization requests (RFC 9126), PKCE S256 (RFC 7636), the iss check
// of the authorization response (RFC 9207), discovery of the authorization
// server from the PDS (RFC 9728, RFC 8414), and for confidential clients
// private_key_jwt (RFC 7523 §2.2) with a client metadata document as
// client_id (draft-ietf-oauth-client-id-metadata-document).
//
// # Pieces
//
//   - [Resolver] turns a handle into a DID (DNS TXT _atproto.<handle> and
//     HTTPS /.well-known/atproto-did, both asked, a disagreement refused),
//     a DID into its DID document (did:plc through a PLC directory,
//     did:web), the document into the account's PDS, and the PDS into its
//     authorization server, whose metadata [CheckProfile] holds to the
//     profile.
//   - [App] is a client application: [App.Start] resolves what the user
//     typed and pushes an authorization request with a new DPoP key;
//     [App.Callback] checks the authorization response and the token
//     response (the sub must be the resolved DID, the scope must hold
//     atproto) and returns a [Session].
//   - [Session] holds the tokens, the session's own DPoP key and the
//     nonces of each server; [Session.Client] is an *http.Client for the
//     PDS that sends the token with proofs and refreshes it when due.
//     A [Store] keeps sessions across restarts; [FileStore] writes one
//     file atomically with mode 0600.
//
// Everything the package fetches is size-capped and time-limited, no
// redirect is followed during resolution, and each refusal is an [*Error]
// naming what was expected and what came. The resolver's DNS lookup, HTTP
// client and PLC directory URL, and the clock, can be replaced, so tests
// run on loopback.
//
// docs/atproto.md in the repository maps each rule of the profile to the
// tests that cover it.
package atproto
