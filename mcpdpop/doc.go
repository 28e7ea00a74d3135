// Package mcpdpop brings OAuth 2.0 DPoP (RFC 9449) to Model Context
// Protocol clients and servers written with the Go MCP SDK
// (github.com/modelcontextprotocol/go-sdk), following the MCP DPoP profile
// (SEP-1932): DPoP exactly as RFC 9449, on top of the MCP authorization
// rules (RFC 9728 protected resource metadata, RFC 8414 discovery, RFC 8707
// resource indicators, RFC 7591 dynamic registration, PKCE).
//
// It is a module of its own, so that the dpop module never depends on the
// SDK.
//
// # Client
//
// [NewOAuthHandler] turns a key and go-sdk's authorization code
// configuration into an [auth.OAuthHandler] whose tokens are DPoP-bound:
// the token request carries a proof (RFC 9449 §5), and every MCP request
// — the POSTs, the GET stream, the DELETE that ends a session — carries
// "Authorization: DPoP <token>" and a fresh proof with ath (§7.1). Nonces
// of the authorization server (§8) and of the MCP server (§9) are answered.
// A token the server did not bind is refused unless the Bearer fallback is
// allowed (§5). [HeadlessFetcher] completes the authorization step without
// a browser for servers that approve at once.
//
// # Server
//
// [Protect] puts the resource package's middleware in front of go-sdk's
// streamable handler: RFC 9728 metadata at its well-known path, 401
// challenges with resource_metadata (RFC 9728 §5.1), and the verified
// caller handed to tools as go-sdk's [auth.TokenInfo], with the key
// thumbprint in its UserID so that a session stays with the key that
// opened it. [VerifierOptions] is the profile's preset for the proof
// verifier.
//
// docs/mcp.md in the repository shows both halves and records the choices
// made where the profile leaves one.
package mcpdpop
