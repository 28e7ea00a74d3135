package keyfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
)

// Kind is what a key file (or any small input of the tool) holds.
type Kind int

// The kinds Detect tells apart.
const (
	Unknown        Kind = iota // none of the others
	Empty                      // nothing but white space
	PrivateJWK                 // a JSON object with "kty" and "d"
	PublicJWK                  // a JSON object with "kty" and no private member
	JWKSet                     // a JSON object with "keys"
	Session                    // a session file of "dpop token" (client.Session)
	JSON                       // another JSON value
	PEMPrivate                 // a PEM private key block
	PEMPublic                  // a PEM public key block
	PEMCertificate             // a PEM certificate
	PEMOther                   // another PEM block
	Compact                    // a JWS in compact form: a proof or a JWT
)

// String describes k for a message, as "a JWK Set".
func (k Kind) String() string {
	switch k {
	case Empty:
		return "empty"
	case PrivateJWK:
		return "a private JWK"
	case PublicJWK:
		return "a public JWK"
	case JWKSet:
		return "a JWK Set"
	case Session:
		return "a session file (dpop token -session)"
	case JSON:
		return "JSON, but not a JWK"
	case PEMPrivate:
		return "a PEM private key"
	case PEMPublic:
		return "a PEM public key"
	case PEMCertificate:
		return "a PEM certificate"
	case PEMOther:
		return "PEM, but not a key"
	case Compact:
		return "a JWS in compact form (a DPoP proof or a JWT)"
	}
	return "not a key, a JWS or JSON"
}

// MaxSize is the largest input Detect and ParseKey look at.
const MaxSize = 64 << 10

// Detect tells what data holds, from its shape; it does not validate the
// key material.
func Detect(data []byte) Kind {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return Empty
	case len(data) > MaxSize:
		return Unknown
	case bytes.HasPrefix(data, []byte("-----BEGIN ")):
		b, _ := pem.Decode(data)
		if b == nil {
			return PEMOther
		}
		switch {
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return PEMPrivate
		case strings.HasSuffix(b.Type, "PUBLIC KEY"):
			return PEMPublic
		case b.Type == "CERTIFICATE":
			return PEMCertificate
		}
		return PEMOther
	case data[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return Unknown
		}
		_, kty := m["kty"]
		_, d := m["d"]
		_, keys := m["keys"]
		_, token := m["token"]
		_, version := m["version"]
		switch {
		case kty && d:
			return PrivateJWK
		case kty:
			return PublicJWK
		case keys:
			return JWKSet
		case token && version:
			return Session
		}
		return JSON
	case data[0] == '[' || data[0] == '"':
		if json.Valid(data) {
			return JSON
		}
		return Unknown
	}
	if isCompact(data) {
		return Compact
	}
	return Unknown
}

// isCompact reports whether data has the shape of a compact JWS: three
// base64url segments, the first a JSON object.
func isCompact(data []byte) bool {
	parts := bytes.Split(data, []byte("."))
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	h, err := base64.RawURLEncoding.DecodeString(string(parts[0]))
	return err == nil && len(h) > 0 && h[0] == '{'
}

// ParseKey reads a private key: a private JWK (as dpop.ParseKey) or a
// PEM private key in PKCS #8, SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA
// PRIVATE KEY"). A PEM key's algorithm is ES256, ES384 or ES512 by curve,
// EdDSA for Ed25519 and PS256 for RSA. Anything else is an error that
// names what data is and what was expected.
func ParseKey(data []byte) (*dpop.Key, error) {
	data = bytes.TrimSpace(data)
	switch k := Detect(data); k {
	case PrivateJWK:
		return dpop.ParseKey(data)
	case PEMPrivate:
		signer, err := ParsePEMPrivateKey(data)
		if err != nil {
			return nil, err
		}
		alg, err := algorithmFor(signer.Public())
		if err != nil {
			return nil, err
		}
		return dpop.NewKey(signer, alg)
	case PublicJWK, PEMPublic, PEMCertificate:
		return nil, fmt.Errorf("this is %s; a private key is expected (a private JWK, as dpop keygen writes, or a PEM private key)", k)
	case Session:
		return nil, errors.New("this is a session file; a private key is expected here (give the session with -session, or a private JWK or PEM key with -key)")
	default:
		return nil, fmt.Errorf("this is %s; a private key is expected (a private JWK, as dpop keygen writes, or a PEM private key in PKCS #8, SEC 1 or PKCS #1)", k)
	}
}

// ParsePEMPrivateKey reads the first PEM block of data as a PKCS #8,
// SEC 1 or PKCS #1 private key.
func ParsePEMPrivateKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("this is not PEM")
	}
	if _, ok := b.Headers["Proc-Type"]; ok {
		return nil, errors.New("this PEM private key is encrypted; decrypt it first (openssl pkey -in FILE)")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("this PEM private key is encrypted; decrypt it first (openssl pkey -in FILE)")
	default:
		return nil, fmt.Errorf("this is a PEM %q block; a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY is expected", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the PEM %s: %w", strings.ToLower(b.Type), err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the PEM %s holds a %T, which cannot sign", strings.ToLower(b.Type), key)
	}
	return signer, nil
}

// ParsePEMPublicKey reads a public key from a PEM "PUBLIC KEY" (PKIX),
// "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE" block, or the public half of
// a PEM private key.
func ParsePEMPublicKey(data []byte) (crypto.PublicKey, error) {
	b, _ := pem.Decode(bytes.TrimSpace(data))
	if b == nil {
		return nil, errors.New("this is not PEM")
	}
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	s, err := ParsePEMPrivateKey(data)
	if err != nil {
		return nil, err
	}
	return s.Public(), nil
}

// algorithmFor picks the JWS algorithm of a PEM key.
func algorithmFor(pub crypto.PublicKey) (dpop.Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return dpop.ES256, nil
		case elliptic.P384():
			return dpop.ES384, nil
		case elliptic.P521():
			return dpop.ES512, nil
		}
		return "", fmt.Errorf("the EC key's curve %s is not one DPoP signs with (P-256, P-384, P-521)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return dpop.EdDSA, nil
	case *rsa.PublicKey:
		return dpop.PS256, nil
	}
	return "", fmt.Errorf("a %T key cannot sign DPoP proofs", pub)
}

// PublicKeyJWK returns the public JWK of an EC, Ed25519 or RSA public key,
// for dpop.Thumbprint.
func PublicKeyJWK(pub crypto.PublicKey) ([]byte, error) {
	return jose.JSONWebKey{Key: pub}.MarshalJSON()
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public or
// private JWK, or of a PEM key or certificate.
func Thumbprint(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	switch k := Detect(data); k {
	case PrivateJWK, PublicJWK:
		return dpop.Thumbprint(data)
	case PEMPrivate, PEMPublic, PEMCertificate:
		pub, err := ParsePEMPublicKey(data)
		if err != nil {
			return "", err
		}
		jwk, err := PublicKeyJWK(pub)
		if err != nil {
			return "", err
		}
		return dpop.Thumbprint(jwk)
	case JWKSet:
		return "", errors.New("this is a JWK Set; one JWK is expected (jq '.keys[0]' picks the first)")
	default:
		return "", fmt.Errorf("this is %s; a JWK or a PEM key is expected", k)
	}
}

// ParseSigner reads a private key as ParseKey does and returns it as a
// crypto.Signer with its algorithm, for signing other than DPoP proofs
// (private_key_jwt client assertions, RFC 7523 §2.2).
func ParseSigner(data []byte) (crypto.Signer, dpop.Algorithm, error) {
	data = bytes.TrimSpace(data)
	k, err := ParseKey(data) // checks the kind and the key
	if err != nil {
		return nil, "", err
	}
	if Detect(data) == PEMPrivate {
		s, err := ParsePEMPrivateKey(data)
		return s, k.Algorithm(), err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, "", err
	}
	s, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("the JWK holds a %T, which cannot sign", jwk.Key)
	}
	return s, k.Algorithm(), nil
}
