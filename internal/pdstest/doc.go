// Package pdstest runs the reference AT Protocol PDS (@atproto/pds, pinned
// by node/package-lock.json) with a PLC directory stand-in on loopback, for
// the tests that prove the client and the AT Protocol login against the
// real server: PAR with DPoP (RFC 9126, RFC 9449 §10.1), server nonces at
// the authorization server and the PDS (RFC 9449 §8, §9), private_key_jwt
// (RFC 7523 §2.2) with a client metadata document, the RFC 9207 iss
// parameter, refresh token rotation.
//
// [Start] starts one Node 22 process (node/pds.mjs) that serves the PDS and
// the PLC stand-in on 127.0.0.1 and stops it, by its process group, when
// the test ends. The PDS's issuer is http://localhost:<port>.
// [Server.CreateAccount] makes an account; [Server.SignIn] signs in and
// consents through the provider's own UI API (not a public protocol, so it
// lives here, in test code). [Server.ServeTLS] serves a client metadata
// document over https from a name under .internal that the PDS process
// resolves to 127.0.0.1, with a certificate from a CA the process trusts.
//
// Install the dependencies with internal/pdstest/install.sh (Node 22 from
// tools/node22, the npm packages of node/, and better-sqlite3 built for
// Node 22, cached). Without them the tests skip, saying how to install
// them, unless DPOP_REQUIRE_DEPS=1 (CI), where they fail. To run the tests
// against the reference PDS:
//
//	internal/pdstest/install.sh
//	go test -run 'ReferencePDS|TestLogin' ./internal/pdstest ./atproto ./cmd/dpop
//
// With LOG_ENABLED=true in the environment the PDS logs to its standard
// error, which [Server.Output] returns and failing tests print.
package pdstest
