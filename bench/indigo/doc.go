// Package indigo benchmarks DPoP proof creation by the OAuth client of
// github.com/bluesky-social/indigo. It is a package of its own because
// indigo registers its own "ES256" signing method with golang-jwt when it is
// loaded, which would change what the golang-jwt implementation in the
// parent package verifies with.
package indigo
