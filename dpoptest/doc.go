// Package dpoptest runs a complete, strict OAuth 2.0 authorization server
// and a resource server with DPoP (RFC 9449) on loopback, for tests, in
// the manner of net/http/httptest: start it, point a client at its URLs,
// close it.
//
//	srv := dpoptest.NewServer(dpoptest.Options{})
//	defer srv.Close()
//
// The authorization server (under URL) serves RFC 8414 metadata, a JWKS,
// an authorization endpoint that approves Options.User at once (code flow
// with PKCE S256 and dpop_jkt, RFC 9449 §10), pushed authorization
// requests (RFC 9126, RFC 9449 §10.1), a token endpoint for
// authorization_code, refresh_token (rotating) and client_credentials
// grants (RFC 9449 §5), and token introspection (RFC 7662, RFC 9449 §6.2).
// The resource server (under ResourceURL, another origin) serves a
// protected /resource that echoes the verified caller, and RFC 9728
// metadata.
//
// Both servers are built only from the public APIs of the dpop,
// authserver and resource packages. Secrets, codes and tokens come from
// crypto/rand; codes and request_uris are single use and live 60 seconds;
// everything is kept in memory. Options choose the nonce policy of each
// server, JWT (RFC 9068) or opaque access tokens, the Bearer fallback,
// the algorithms, the lifetimes and the clock, and Observe sees every
// HTTP exchange.
//
// It also serves RFC 7591 dynamic client registration (with RFC 9449 §5.2
// dpop_bound_access_tokens) and honours RFC 8707 resource indicators
// against an allow-list (Options.Resources, Options.Audience), so that it
// can be the authorization server of a local MCP server. Server.MintToken
// issues a bound access token in one call, for tests of a resource server.
// Options.Profile set to ProfileATProto runs the AT Protocol profile: PAR
// with DPoP required, nonces at both servers, client ID metadata documents
// (through authserver.ClientIDResolver), loopback development clients and
// RFC 9207 iss. Options.Logger receives every refusal with its evidence.
//
// Four clients are registered (see Client and Server.RegisteredClient):
// "public-client", "confidential-client", "jwt-client" and
// "bearer-client"; more register at /register.
package dpoptest
