package dpop

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"slices"
	"strings"
)

// Algorithm is a JWS signature algorithm name (RFC 7518, RFC 8037,
// RFC 9864) usable for DPoP proofs. Only asymmetric algorithms exist here:
// "none" and the HMAC algorithms cannot be expressed (RFC 9449 §4.2, §11.6).
type Algorithm string

// The supported algorithms.
const (
	ES256 Algorithm = "ES256" // ECDSA P-256 SHA-256, the default
	ES384 Algorithm = "ES384" // ECDSA P-384 SHA-384
	ES512 Algorithm = "ES512" // ECDSA P-521 SHA-512
	// EdDSA is the RFC 8037 name for Ed25519 signatures. Keys generated for
	// Ed25519 sign with this name by default, because it is the name every
	// deployed verifier and every dpop_signing_alg_values_supported list
	// knows.
	EdDSA Algorithm = "EdDSA"
	// Ed25519 is the fully specified RFC 9864 name for the same signatures.
	// Verifiers accept both names; a key made with this name sends it.
	Ed25519 Algorithm = "Ed25519"
	RS256   Algorithm = "RS256" // RSASSA-PKCS1-v1_5 SHA-256
	RS384   Algorithm = "RS384"
	RS512   Algorithm = "RS512"
	PS256   Algorithm = "PS256" // RSASSA-PSS SHA-256, salt length 32
	PS384   Algorithm = "PS384"
	PS512   Algorithm = "PS512"
)

// DefaultAlgorithms is the allow-list a [Verifier] uses when none is given:
// every supported algorithm, in order of preference. It is a function so
// that no caller can change the default for others.
func DefaultAlgorithms() []Algorithm {
	out := make([]Algorithm, len(algTable))
	for i := range algTable {
		out[i] = algTable[i].alg
	}
	return out
}

// RSA key size bounds, checked before any exponentiation.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

// keyFamily is a JWK key type (RFC 7518 §6.1, RFC 8037 §2).
type keyFamily uint8

const (
	familyEC keyFamily = iota + 1
	familyOKP
	familyRSA
)

// algInfo is every fact about one algorithm that the package uses. The
// table below is the only place these facts are stated: keys, JWKs,
// headers and signatures all read them from here, so adding an algorithm
// (of a key type the package knows) is adding a row.
type algInfo struct {
	alg    Algorithm
	family keyFamily
	kty    string         // JWK kty
	crv    string         // JWK crv, for EC and OKP
	curve  elliptic.Curve // EC only
	size   int            // EC: octets of a coordinate, and of r and of s
	hash   crypto.Hash    // 0 for Ed25519 (the message is signed as is)
	pss    bool           // RSASSA-PSS, salt as long as the hash
	// keyDefault marks the algorithm ParseKey picks for a JWK of this
	// kty and crv without an alg member.
	keyDefault bool
}

// algTable lists the supported algorithms in the order of
// [DefaultAlgorithms] (RFC 7518 §3.1, RFC 8037 §3.1, RFC 9864 §2.2).
var algTable = [...]algInfo{
	{alg: ES256, family: familyEC, kty: "EC", crv: "P-256", curve: elliptic.P256(), size: 32, hash: crypto.SHA256, keyDefault: true},
	{alg: EdDSA, family: familyOKP, kty: "OKP", crv: "Ed25519", keyDefault: true},
	{alg: Ed25519, family: familyOKP, kty: "OKP", crv: "Ed25519"},
	{alg: ES384, family: familyEC, kty: "EC", crv: "P-384", curve: elliptic.P384(), size: 48, hash: crypto.SHA384, keyDefault: true},
	{alg: ES512, family: familyEC, kty: "EC", crv: "P-521", curve: elliptic.P521(), size: 66, hash: crypto.SHA512, keyDefault: true},
	{alg: PS256, family: familyRSA, kty: "RSA", hash: crypto.SHA256, pss: true, keyDefault: true},
	{alg: PS384, family: familyRSA, kty: "RSA", hash: crypto.SHA384, pss: true},
	{alg: PS512, family: familyRSA, kty: "RSA", hash: crypto.SHA512, pss: true},
	{alg: RS256, family: familyRSA, kty: "RSA", hash: crypto.SHA256},
	{alg: RS384, family: familyRSA, kty: "RSA", hash: crypto.SHA384},
	{alg: RS512, family: familyRSA, kty: "RSA", hash: crypto.SHA512},
}

// Bounds over the table, for fixed-size buffers; TestAlgTable checks them.
const (
	maxECSize   = 66 // the largest algInfo.size
	maxHashSize = 64 // the largest algInfo.hash output
)

func (a Algorithm) info() (algInfo, bool) {
	for i := range algTable {
		if algTable[i].alg == a {
			return algTable[i], true
		}
	}
	return algInfo{}, false
}

// keyTypeOf returns the row of the default algorithm for a key of family f
// and JWK crv ("" for RSA), which carries the curve's facts.
func keyTypeOf(f keyFamily, crv string) (algInfo, bool) {
	for i := range algTable {
		if t := &algTable[i]; t.keyDefault && t.family == f && t.crv == crv {
			return *t, true
		}
	}
	return algInfo{}, false
}

// curveOf returns the row of the default algorithm for an elliptic curve.
func curveOf(c elliptic.Curve) (algInfo, bool) {
	for i := range algTable {
		if t := &algTable[i]; t.keyDefault && t.family == familyEC && t.curve == c {
			return *t, true
		}
	}
	return algInfo{}, false
}

// signatureSize is the length of a JWS signature of this algorithm by a
// key whose RSA modulus has rsaBits bits.
func (t *algInfo) signatureSize(rsaBits int) int {
	switch t.family {
	case familyEC:
		return 2 * t.size
	case familyOKP:
		return ed25519.SignatureSize
	default:
		return (rsaBits + 7) / 8
	}
}

// Supported reports whether a is an algorithm this package implements.
func (a Algorithm) Supported() bool {
	_, ok := a.info()
	return ok
}

// ParseAlgorithms parses a comma- or space-separated list of algorithm
// names, refusing unknown ones.
func ParseAlgorithms(list string) ([]Algorithm, error) {
	var out []Algorithm
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		a := Algorithm(f)
		if !a.Supported() {
			return nil, &unsupportedAlgError{name: f}
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

type unsupportedAlgError struct{ name string }

func (e *unsupportedAlgError) Error() string {
	return "dpop: unsupported algorithm " + strconvQuote(e.name)
}
func (e *unsupportedAlgError) Unwrap() error { return ErrUnsupportedAlg }

func strconvQuote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s) + `"`
}
