package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// DefaultAssertionLifetime is the lifetime of a client assertion when
// [PrivateKeyJWT.Lifetime] is zero. Each assertion is used once, right
// after it is made, so a short life costs nothing.
const DefaultAssertionLifetime = time.Minute

// ClientKey is the key a confidential client authenticates with by
// private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): any
// [crypto.Signer] (a key in memory, or one held by an HSM or a KMS), its JWS
// algorithm and its key ID. It is not a DPoP key: RFC 9449 §11.1 and the
// AT Protocol profile keep the two apart.
//
// A ClientKey is immutable and safe for concurrent use.
type ClientKey struct {
	signer crypto.Signer
	alg    dpop.Algorithm
	kid    string
	jwk    json.RawMessage // public JWK with kid, alg and use
	header string          // base64url JOSE header followed by '.'
}

// NewClientKey wraps signer for signing client assertions with alg. kid is
// the key ID the assertions name in their header and the published JWK
// carries; empty means the RFC 7638 thumbprint of the public key. The
// signer's public key must fit alg, as for [dpop.NewKey].
func NewClientKey(signer crypto.Signer, alg dpop.Algorithm, kid string) (*ClientKey, error) {
	k, err := dpop.NewKey(signer, alg) // checks that the key fits alg
	if err != nil {
		return nil, fmt.Errorf("dpop/client: client key: %w", err)
	}
	if kid == "" {
		kid = k.Thumbprint()
	}
	var pub map[string]any
	if err := json.Unmarshal(k.PublicJWK(), &pub); err != nil {
		return nil, fmt.Errorf("dpop/client: client key: %w", err)
	}
	pub["kid"], pub["alg"], pub["use"] = kid, string(alg), "sig"
	jwk, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("dpop/client: client key: %w", err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("dpop/client: client key: %w", err)
	}
	return &ClientKey{
		signer: signer,
		alg:    alg,
		kid:    kid,
		jwk:    jwk,
		header: base64.RawURLEncoding.EncodeToString(hdr) + ".",
	}, nil
}

// GenerateClientKey makes a new client key for alg (ES256 when empty) with
// the given key ID (the thumbprint when empty). RSA keys are 2048 bits.
func GenerateClientKey(alg dpop.Algorithm, kid string) (*ClientKey, error) {
	if alg == "" {
		alg = dpop.ES256
	}
	var signer crypto.Signer
	var err error
	switch alg {
	case dpop.ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case dpop.ES384:
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case dpop.ES512:
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case dpop.EdDSA, dpop.Ed25519:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		signer, err = rsa.GenerateKey(rand.Reader, dpop.MinRSABits)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop/client: generating a client key: %w", err)
	}
	return NewClientKey(signer, alg, kid)
}

// ParseClientKey reads a private JWK (RFC 7517) as a client key. Its "alg"
// names the algorithm (ES256 when absent); kid overrides its "kid", and
// when both are empty the thumbprint is used.
func ParseClientKey(privateJWK []byte, kid string) (*ClientKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(privateJWK); err != nil {
		return nil, fmt.Errorf("dpop/client: client key: %w", err)
	}
	signer, ok := k.Key.(crypto.Signer)
	if !ok || k.IsPublic() {
		return nil, errors.New("dpop/client: client key: a private JWK is needed to sign client assertions")
	}
	alg := dpop.Algorithm(k.Algorithm)
	if alg == "" {
		alg = dpop.ES256
	}
	if kid == "" {
		kid = k.KeyID
	}
	return NewClientKey(signer, alg, kid)
}

// KeyID returns the key ID.
func (k *ClientKey) KeyID() string { return k.kid }

// Algorithm returns the JWS algorithm of the assertions.
func (k *ClientKey) Algorithm() dpop.Algorithm { return k.alg }

// Public returns the public key.
func (k *ClientKey) Public() crypto.PublicKey { return k.signer.Public() }

// PublicJWK returns the public key as a JWK (RFC 7517) with "kid", "alg"
// and "use":"sig", as a client publishes it in its jwks (RFC 7591 §2).
func (k *ClientKey) PublicJWK() json.RawMessage {
	return append(json.RawMessage(nil), k.jwk...)
}

// JWKS returns a JWK Set (RFC 7517 §5) holding the public keys, for the
// jwks member of client metadata or a jwks_uri document.
func JWKS(keys ...*ClientKey) json.RawMessage {
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: make([]json.RawMessage, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk)
	}
	b, _ := json.Marshal(set) // raw messages that are valid JSON
	return b
}

// Assertion returns a new client assertion (RFC 7523 §3): iss and sub the
// clientID, aud the audience (the authorization server's issuer identifier,
// or its token endpoint), a new random jti, iat now and exp now plus
// lifetime (DefaultAssertionLifetime when zero). Every call makes a new one;
// an assertion must never be sent twice.
func (k *ClientKey) Assertion(clientID, audience string, now time.Time, lifetime time.Duration) (string, error) {
	if clientID == "" || audience == "" {
		return "", errors.New("dpop/client: a client assertion needs a client_id and an audience")
	}
	if lifetime <= 0 {
		lifetime = DefaultAssertionLifetime
	}
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Jti string `json:"jti"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{clientID, clientID, audience, rand.Text(), now.Unix(), now.Add(lifetime).Unix()})
	if err != nil {
		return "", err
	}
	input := k.header + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := k.sign([]byte(input))
	if err != nil {
		return "", fmt.Errorf("dpop/client: signing the client assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// sign makes the JWS signature (RFC 7518 §3) of input.
func (k *ClientKey) sign(input []byte) ([]byte, error) {
	var hash crypto.Hash
	var ecSize int
	pss := false
	switch k.alg {
	case dpop.EdDSA, dpop.Ed25519:
		sig, err := k.signer.Sign(rand.Reader, input, crypto.Hash(0))
		if err == nil && len(sig) != ed25519.SignatureSize {
			err = errors.New("Ed25519 signature of the wrong length")
		}
		return sig, err
	case dpop.ES256:
		hash, ecSize = crypto.SHA256, 32
	case dpop.ES384:
		hash, ecSize = crypto.SHA384, 48
	case dpop.ES512:
		hash, ecSize = crypto.SHA512, 66
	case dpop.RS256, dpop.PS256:
		hash, pss = crypto.SHA256, k.alg == dpop.PS256
	case dpop.RS384, dpop.PS384:
		hash, pss = crypto.SHA384, k.alg == dpop.PS384
	case dpop.RS512, dpop.PS512:
		hash, pss = crypto.SHA512, k.alg == dpop.PS512
	default:
		return nil, fmt.Errorf("algorithm %s", k.alg)
	}
	h := hash.New()
	h.Write(input)
	var opts crypto.SignerOpts = hash
	if pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: hash}
	}
	sig, err := k.signer.Sign(rand.Reader, h.Sum(nil), opts)
	if err != nil || ecSize == 0 {
		return sig, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*ecSize || rs.S.BitLen() > 8*ecSize {
		return nil, errors.New("signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 2*ecSize)
	rs.R.FillBytes(out[:ecSize])
	rs.S.FillBytes(out[ecSize:])
	return out, nil
}
