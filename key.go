package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// ErrKeyNotExportable is returned by [Key.MarshalPrivateJWK] for a key whose
// private part is not in memory (an HSM, KMS or TPM signer).
var ErrKeyNotExportable = errors.New("dpop: the key's private part cannot be exported")

// Key is a DPoP signing key: a [crypto.Signer] with its JWS algorithm, the
// public JWK and its RFC 7638 thumbprint, computed once.
//
// A Key never reveals its private part by accident: String and Format print
// only the algorithm and thumbprint, and MarshalJSON fails. Save a key with
// the explicit [Key.MarshalPrivateJWK].
//
// A Key is immutable and safe for concurrent use.
type Key struct {
	signer crypto.Signer
	alg    Algorithm
	info   algInfo
	pub    *publicKey
	// header is the base64url encoding of the proof's JOSE header
	// followed by '.': the same for every proof made with this key.
	header []byte
}

// GenerateKey makes a new key for alg (ES256 when alg is empty). RSA keys
// are 2048 bits.
func GenerateKey(alg Algorithm) (*Key, error) {
	if alg == "" {
		alg = ES256
	}
	info, ok := alg.info()
	if !ok {
		return nil, &unsupportedAlgError{name: string(alg)}
	}
	var signer crypto.Signer
	var err error
	switch info.family {
	case familyEC:
		signer, err = ecdsa.GenerateKey(info.curve, rand.Reader)
	case familyOKP:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case familyRSA:
		signer, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop: generating key: %w", err)
	}
	return NewKey(signer, alg)
}

// NewKey wraps any crypto.Signer (a key in memory, or one held by an HSM, a
// KMS or a TPM) for signing proofs with alg. The signer's public key must
// fit alg: a P-256 key for ES256, an Ed25519 key for EdDSA, an RSA key of
// 2048 to 4096 bits for RS* and PS*. ECDSA signers are expected to return
// ASN.1 signatures, as crypto.Signer specifies; they are converted to the
// fixed-length JWS form.
func NewKey(signer crypto.Signer, alg Algorithm) (*Key, error) {
	if signer == nil {
		return nil, errors.New("dpop: nil signer")
	}
	info, ok := alg.info()
	if !ok {
		return nil, &unsupportedAlgError{name: string(alg)}
	}
	switch s := signer.(type) {
	case ed25519.PrivateKey:
		if len(s) != ed25519.PrivateKeySize {
			return nil, errors.New("dpop: Ed25519 private key of the wrong length")
		}
	case *rsa.PrivateKey:
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("dpop: invalid RSA private key: %w", err)
		}
	}
	pub, err := publicKeyFromCrypto(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("dpop: signer's public key: %w", err)
	}
	if !pub.fits(alg) {
		return nil, fmt.Errorf("%w: %s cannot sign with a %s key", ErrAlgKeyMismatch, alg, describeKey(pub))
	}
	k := &Key{signer: signer, alg: alg, info: info, pub: pub}
	hdr := make([]byte, 0, 40+len(alg)+len(pub.jwk))
	hdr = append(hdr, `{"typ":"dpop+jwt","alg":"`...)
	hdr = append(hdr, alg...)
	hdr = append(hdr, `","jwk":`...)
	hdr = append(hdr, pub.jwk...)
	hdr = append(hdr, '}')
	k.header = make([]byte, base64.RawURLEncoding.EncodedLen(len(hdr))+1)
	base64.RawURLEncoding.Encode(k.header, hdr)
	k.header[len(k.header)-1] = '.'
	return k, nil
}

func describeKey(p *publicKey) string {
	switch p.family {
	case familyEC:
		return p.crv
	case familyOKP:
		return p.crv
	default:
		return fmt.Sprintf("RSA-%d", p.rsa.N.BitLen())
	}
}

// WithAlgorithm returns a key with the same signer and another algorithm
// that fits it, for example PS256 instead of RS256 for an RSA key, or
// Ed25519 instead of EdDSA.
func (k *Key) WithAlgorithm(alg Algorithm) (*Key, error) { return NewKey(k.signer, alg) }

// Algorithm returns the JWS algorithm the key signs with.
func (k *Key) Algorithm() Algorithm { return k.alg }

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key: the
// value of cnf.jkt and dpop_jkt.
func (k *Key) Thumbprint() string { return k.pub.jkt }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub.key }

// PublicJWK returns the public key as a JWK with the required members only.
func (k *Key) PublicJWK() []byte { return append([]byte(nil), k.pub.jwk...) }

// String returns a description without private material. It and Format
// and MarshalJSON have value receivers so that a Key held by value is
// redacted too.
func (k Key) String() string {
	if k.pub == nil {
		return "dpop.Key{}"
	}
	return "dpop.Key{alg=" + string(k.alg) + ", jkt=" + k.pub.jkt + "}"
}

// Format makes every fmt verb, %#v and %+v included, print [Key.String].
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON fails, so that a Key inside a struct is never written out by
// accident, neither with its private part nor silently without it.
func (k Key) MarshalJSON() ([]byte, error) {
	return nil, errors.New("dpop: a Key is not marshalled implicitly; use MarshalPrivateJWK or PublicJWK")
}

// MarshalPrivateJWK exports the key as a private JWK (with its "alg"), the
// form [ParseKey] reads back. The result is secret: store it like a
// password. Keys whose private part is not in memory return
// [ErrKeyNotExportable].
func (k *Key) MarshalPrivateJWK() ([]byte, error) {
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	pad := func(b *big.Int, n int) string { return enc(b.FillBytes(make([]byte, n))) }
	var members [][2]string
	switch s := k.signer.(type) {
	case *ecdsa.PrivateKey:
		b, err := s.Bytes()
		if err != nil {
			return nil, fmt.Errorf("dpop: exporting key: %w", err)
		}
		members = [][2]string{{"d", enc(b)}}
	case ed25519.PrivateKey:
		members = [][2]string{{"d", enc(s.Seed())}}
	case *rsa.PrivateKey:
		if len(s.Primes) != 2 || s.D == nil {
			return nil, fmt.Errorf("%w: only two-prime RSA keys are exported", ErrKeyNotExportable)
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("dpop: exporting an invalid RSA key: %w", err)
		}
		// The CRT values are computed here rather than with Precompute,
		// which would write to a signer other goroutines may be using.
		p, q := s.Primes[0], s.Primes[1]
		one := big.NewInt(1)
		dp := new(big.Int).Mod(s.D, new(big.Int).Sub(p, one))
		dq := new(big.Int).Mod(s.D, new(big.Int).Sub(q, one))
		qi := new(big.Int).ModInverse(q, p)
		if qi == nil {
			return nil, fmt.Errorf("%w: invalid RSA primes", ErrKeyNotExportable)
		}
		n := (s.N.BitLen() + 7) / 8
		members = [][2]string{
			{"d", pad(s.D, n)},
			{"p", enc(p.Bytes())},
			{"q", enc(q.Bytes())},
			{"dp", enc(dp.Bytes())},
			{"dq", enc(dq.Bytes())},
			{"qi", enc(qi.Bytes())},
		}
	default:
		return nil, ErrKeyNotExportable
	}
	out := append([]byte(nil), k.pub.jwk[:len(k.pub.jwk)-1]...)
	for _, m := range members {
		out = fmt.Appendf(out, `,"%s":"%s"`, m[0], m[1])
	}
	out = fmt.Appendf(out, `,"alg":"%s"}`, k.alg)
	return out, nil
}

// ParseKey reads a private JWK. The algorithm is the JWK's "alg" member when
// present; otherwise ES256/ES384/ES512 by curve, EdDSA for Ed25519 and PS256
// for RSA. The private key must match the public members.
func ParseKey(jwk []byte) (*Key, error) {
	if len(jwk) > maxJWKSize {
		return nil, fmt.Errorf("%w: JWK too large", ErrInvalidJWK)
	}
	var f jwkFields
	r := jsonReader{data: jwk}
	if err := readJWK(&r, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	pub, err := parsePublic(&f)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	if f.d == nil {
		return nil, fmt.Errorf("%w: not a private key (no \"d\")", ErrInvalidJWK)
	}
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrInvalidJWK, what) }
	var signer crypto.Signer
	var alg Algorithm
	switch pub.family {
	case familyEC:
		t, _ := keyTypeOf(familyEC, pub.crv)
		d, ok := decodeB64(f.d)
		if !ok || len(d) != t.size {
			return nil, bad("d is not a scalar of the curve's length")
		}
		priv, err := ecdsa.ParseRawPrivateKey(pub.ec.Curve, d)
		if err != nil {
			return nil, bad("d is not a valid scalar")
		}
		if !priv.PublicKey.Equal(pub.ec) {
			return nil, bad("d does not match x and y")
		}
		signer = priv
	case familyOKP:
		d, ok := decodeB64(f.d)
		if !ok || len(d) != ed25519.SeedSize {
			return nil, bad("d is not an Ed25519 seed")
		}
		priv := ed25519.NewKeyFromSeed(d)
		if !pub.ed.Equal(priv.Public()) {
			return nil, bad("d does not match x")
		}
		signer = priv
	case familyRSA:
		ints := make([]*big.Int, 0, 3)
		for _, m := range [][]byte{f.d, f.p, f.q} {
			v, ok := decodeB64(m)
			if !ok || len(v) == 0 {
				return nil, bad("RSA private members d, p and q are required")
			}
			ints = append(ints, new(big.Int).SetBytes(v))
		}
		priv := &rsa.PrivateKey{PublicKey: *pub.rsa, D: ints[0], Primes: []*big.Int{ints[1], ints[2]}}
		if err := priv.Validate(); err != nil {
			return nil, bad("RSA private key does not validate")
		}
		priv.Precompute()
		signer = priv
	}
	if f.alg != nil {
		alg = Algorithm(f.alg)
	} else {
		t, _ := keyTypeOf(pub.family, pub.crv)
		alg = t.alg
	}
	k, err := NewKey(signer, alg)
	if err != nil {
		return nil, err
	}
	return k, nil
}
