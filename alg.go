package dpop

import (
	"crypto"
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
	return []Algorithm{ES256, EdDSA, Ed25519, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512}
}

// RSA key size bounds, checked before any exponentiation.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

type keyFamily uint8

const (
	familyEC keyFamily = iota + 1
	familyOKP
	familyRSA
)

type algInfo struct {
	family keyFamily
	hash   crypto.Hash    // 0 for Ed25519 (the message is signed as is)
	curve  elliptic.Curve // EC only
	crv    string         // JWK crv for EC and OKP
	size   int            // EC: octets of one coordinate and of r and s
	pss    bool
}

func (a Algorithm) info() (algInfo, bool) {
	switch a {
	case ES256:
		return algInfo{family: familyEC, hash: crypto.SHA256, curve: elliptic.P256(), crv: "P-256", size: 32}, true
	case ES384:
		return algInfo{family: familyEC, hash: crypto.SHA384, curve: elliptic.P384(), crv: "P-384", size: 48}, true
	case ES512:
		return algInfo{family: familyEC, hash: crypto.SHA512, curve: elliptic.P521(), crv: "P-521", size: 66}, true
	case EdDSA, Ed25519:
		return algInfo{family: familyOKP, crv: "Ed25519"}, true
	case RS256:
		return algInfo{family: familyRSA, hash: crypto.SHA256}, true
	case RS384:
		return algInfo{family: familyRSA, hash: crypto.SHA384}, true
	case RS512:
		return algInfo{family: familyRSA, hash: crypto.SHA512}, true
	case PS256:
		return algInfo{family: familyRSA, hash: crypto.SHA256, pss: true}, true
	case PS384:
		return algInfo{family: familyRSA, hash: crypto.SHA384, pss: true}, true
	case PS512:
		return algInfo{family: familyRSA, hash: crypto.SHA512, pss: true}, true
	}
	return algInfo{}, false
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
