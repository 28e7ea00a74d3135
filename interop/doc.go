// Package interop holds the interoperability tests of the dpop module
// against independent npm implementations of OAuth 2.0 DPoP (RFC 9449):
// the "dpop" and "jose" packages for proofs, "oidc-provider" as an
// authorization server for our client, and "oauth4webapi" as a client of
// our test servers.
//
// The package has no API; its tests run node scripts from this directory.
// They need node, npm and the dependencies pinned in package-lock.json
// (npm ci). Without them the tests are skipped, unless DPOP_REQUIRE_DEPS
// is set to 1, when they fail. README.md in this directory and
// docs/interop.md in the repository describe what is covered.
package interop
