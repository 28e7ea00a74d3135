// Package inspect decodes what a DPoP (RFC 9449) developer holds in hand, a
// proof, a JWT access token (RFC 9068), a session file of "dpop token", a
// JWK or JWK Set (RFC 7517) or a PEM key, and tells which it got. It shows
// the header and claims, times absolute and relative, key thumbprints
// (RFC 7638) and a token's cnf.jkt (RFC 9449 §6.1), and, given the request
// the proof came with, runs every check of RFC 9449 §4.3 and reports each
// as passed or failed with the value expected and the value got.
//
// It backs "dpop inspect" and the "check a proof" form of the inspector
// page of "dpop serve". It never shows private key material or a whole
// refresh token.
package inspect
