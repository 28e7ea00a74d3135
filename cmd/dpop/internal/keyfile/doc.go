// Package keyfile reads the key files the dpop command accepts wherever it
// takes a key: a private JWK (RFC 7517) or a PEM private key (PKCS #8,
// SEC 1 or PKCS #1, RFC 7468), and tells what a file is when it is not the
// kind expected ("this is a JWK Set", "this is a session file").
//
// Thumbprints are those of RFC 7638, as a DPoP proof's jwk and a bound
// token's cnf.jkt carry them (RFC 9449 §6.1).
package keyfile
