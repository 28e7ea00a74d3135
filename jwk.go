package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"github.com/dpopkit/dpop/internal/syntax"
)

// JWK handling (RFC 7517, RFC 7518 §6, RFC 8037) and RFC 7638 thumbprints.
//
// Every key is decoded strictly: base64url without padding and with zero
// unused bits, EC coordinates of exactly the curve's length, RSA integers
// without leading zero octets. A key therefore has exactly one encoding,
// and the thumbprint computed from the members as sent is the thumbprint of
// the key (RFC 7638 §3.3).

// jwkFields are the members of a JWK this package reads. Private members
// are only recorded as present (priv) unless the caller asked for them.
type jwkFields struct {
	kty, crv, x, y, n, e, alg []byte
	d, p, q, dp, dq, qi, k    []byte
	priv                      bool // any private or symmetric member seen
}

// readJWK reads a JWK object from r. Unknown members are validated and
// ignored, including case variants such as "D" (only exact names count).
func readJWK(r *jsonReader, f *jwkFields) error {
	return r.object(func(name []byte) error {
		var dst *[]byte
		switch string(name) {
		case "kty":
			dst = &f.kty
		case "crv":
			dst = &f.crv
		case "x":
			dst = &f.x
		case "y":
			dst = &f.y
		case "n":
			dst = &f.n
		case "e":
			dst = &f.e
		case "alg":
			dst = &f.alg
		case "d":
			dst = &f.d
		case "p":
			dst = &f.p
		case "q":
			dst = &f.q
		case "dp":
			dst = &f.dp
		case "dq":
			dst = &f.dq
		case "qi":
			dst = &f.qi
		case "k":
			dst = &f.k
		case "oth":
			f.priv = true
			return r.skip()
		default:
			return r.skip()
		}
		switch string(name) {
		case "d", "p", "q", "dp", "dq", "qi", "k":
			f.priv = true
		}
		v, err := r.strBytes()
		if err != nil {
			return err
		}
		*dst = v
		return nil
	})
}

// publicKey is a parsed, validated public key with its thumbprint.
type publicKey struct {
	family keyFamily
	crv    string // EC and OKP
	key    crypto.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	rsa    *rsa.PublicKey
	jwk    []byte // canonical public JWK: the RFC 7638 hash input
	jkt    string
}

var (
	errJWKKty   = errors.New("unsupported kty")
	errJWKCrv   = errors.New("unsupported crv")
	errJWKValue = errors.New("member is not strict base64url of the right length")
	errJWKRSA   = errors.New("RSA key outside the accepted size or exponent bounds")
	errJWKPoint = errors.New("point is not on the curve")
	errJWKField = errors.New("missing member")
)

// parsePublic builds the public key described by f. It does not look at
// private members; callers decide what their presence means.
func parsePublic(f *jwkFields) (*publicKey, error) {
	switch string(f.kty) {
	case "EC":
		t, ok := keyTypeOf(familyEC, string(f.crv))
		if !ok {
			return nil, errJWKCrv
		}
		crv, curve, size := t.crv, t.curve, t.size
		if f.x == nil || f.y == nil {
			return nil, errJWKField
		}
		if len(f.x) != b64.EncodedLen(size) || len(f.y) != b64.EncodedLen(size) {
			return nil, errJWKValue
		}
		var pt [1 + 2*maxECSize]byte
		pt[0] = 4
		x, ok1 := decodeB64(f.x)
		y, ok2 := decodeB64(f.y)
		if !ok1 || !ok2 || len(x) != size || len(y) != size {
			return nil, errJWKValue
		}
		copy(pt[1:], x)
		copy(pt[1+size:], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt[:1+2*size])
		if err != nil {
			return nil, errJWKPoint
		}
		jwk := make([]byte, 0, 40+len(crv)+len(f.x)+len(f.y))
		jwk = append(jwk, `{"crv":"`...)
		jwk = append(jwk, crv...)
		jwk = append(jwk, `","kty":"EC","x":"`...)
		jwk = append(jwk, f.x...)
		jwk = append(jwk, `","y":"`...)
		jwk = append(jwk, f.y...)
		jwk = append(jwk, `"}`...)
		return newPublicKey(&publicKey{family: familyEC, crv: crv, key: pub, ec: pub, jwk: jwk}), nil
	case "OKP":
		t, ok := keyTypeOf(familyOKP, string(f.crv))
		if !ok {
			return nil, errJWKCrv
		}
		if f.x == nil {
			return nil, errJWKField
		}
		x, ok := decodeB64(f.x)
		if !ok || len(x) != ed25519.PublicKeySize {
			return nil, errJWKValue
		}
		if weakEd25519(x) {
			return nil, errJWKPoint
		}
		pub := ed25519.PublicKey(x)
		jwk := make([]byte, 0, 40+len(f.x))
		jwk = append(jwk, `{"crv":"`...)
		jwk = append(jwk, t.crv...)
		jwk = append(jwk, `","kty":"OKP","x":"`...)
		jwk = append(jwk, f.x...)
		jwk = append(jwk, `"}`...)
		return newPublicKey(&publicKey{family: familyOKP, crv: t.crv, key: pub, ed: pub, jwk: jwk}), nil
	case "RSA":
		if f.n == nil || f.e == nil {
			return nil, errJWKField
		}
		// Size caps before decoding anything: at most MaxRSABits of modulus
		// and four octets of exponent.
		if len(f.n) > b64.EncodedLen(MaxRSABits/8) || len(f.e) > b64.EncodedLen(4) {
			return nil, errJWKRSA
		}
		n, ok1 := decodeB64(f.n)
		e, ok2 := decodeB64(f.e)
		if !ok1 || !ok2 || len(n) == 0 || len(e) == 0 || n[0] == 0 || e[0] == 0 {
			return nil, errJWKValue
		}
		var ev uint64
		for _, c := range e {
			ev = ev<<8 | uint64(c)
		}
		if ev < 3 || ev > 1<<31-1 || ev&1 == 0 {
			return nil, errJWKRSA
		}
		N := new(big.Int).SetBytes(n)
		if bits := N.BitLen(); bits < MinRSABits || bits > MaxRSABits || N.Bit(0) == 0 {
			return nil, errJWKRSA
		}
		pub := &rsa.PublicKey{N: N, E: int(ev)}
		jwk := make([]byte, 0, 32+len(f.n)+len(f.e))
		jwk = append(jwk, `{"e":"`...)
		jwk = append(jwk, f.e...)
		jwk = append(jwk, `","kty":"RSA","n":"`...)
		jwk = append(jwk, f.n...)
		jwk = append(jwk, `"}`...)
		return newPublicKey(&publicKey{family: familyRSA, key: pub, rsa: pub, jwk: jwk}), nil
	}
	return nil, errJWKKty
}

func newPublicKey(p *publicKey) *publicKey {
	sum := sha256.Sum256(p.jwk)
	p.jkt = base64.RawURLEncoding.EncodeToString(sum[:])
	return p
}

// fits reports whether the key can verify signatures of algorithm a.
func (p *publicKey) fits(a Algorithm) bool {
	info, ok := a.info()
	if !ok || info.family != p.family {
		return false
	}
	if p.family == familyRSA {
		return true
	}
	return info.crv == p.crv
}

// publicKeyFromCrypto converts a Go public key to its canonical JWK form.
func publicKeyFromCrypto(pub crypto.PublicKey) (*publicKey, error) {
	var f jwkFields
	enc := func(b []byte) []byte {
		out := make([]byte, b64.EncodedLen(len(b)))
		b64.Encode(out, b)
		return out
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		t, ok := curveOf(k.Curve)
		if !ok {
			return nil, errJWKCrv
		}
		crv, size := t.crv, t.size
		b, err := k.Bytes()
		if err != nil {
			return nil, errJWKPoint
		}
		f.kty, f.crv = []byte("EC"), []byte(crv)
		f.x, f.y = enc(b[1:1+size]), enc(b[1+size:])
	case ed25519.PublicKey:
		t, _ := keyTypeOf(familyOKP, string(Ed25519)) // the one OKP curve Go implements
		f.kty, f.crv, f.x = []byte(t.kty), []byte(t.crv), enc(k)
	case *rsa.PublicKey:
		if k.N == nil {
			return nil, errJWKRSA
		}
		e := big.NewInt(int64(k.E)).Bytes()
		f.kty, f.n, f.e = []byte("RSA"), enc(k.N.Bytes()), enc(e)
	default:
		return nil, errJWKKty
	}
	return parsePublic(&f)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint (the jkt) of a public
// or private JWK. The key is validated as strictly as a proof's jwk.
func Thumbprint(jwk []byte) (string, error) {
	if len(jwk) > maxJWKSize {
		return "", fmt.Errorf("%w: JWK too large", ErrInvalidJWK)
	}
	var f jwkFields
	r := jsonReader{data: jwk}
	if err := readJWK(&r, &f); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	if err := r.end(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	p, err := parsePublic(&f)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	return p.jkt, nil
}

// IsThumbprint reports whether s has the syntax of a JWK SHA-256
// thumbprint as DPoP uses it in jkt, cnf.jkt and dpop_jkt (RFC 9449 §6.1,
// §10, RFC 7638 §3): the unpadded base64url encoding of 32 bytes, that is
// 43 characters of the base64url alphabet whose last character has its two
// unused bits zero (the one canonical encoding).
func IsThumbprint(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !b64Alphabet[s[i]] {
			return false
		}
	}
	// 43 characters carry 258 bits, of which the last 2 are unused.
	return syntax.Base64URLValue(s[42])&3 == 0
}

// maxJWKSize bounds a JWK document given to this package (an RSA 4096 private
// JWK is about 3.3 KiB).
const maxJWKSize = 16 << 10

// ed25519SmallOrderY are the y coordinates (little-endian, sign bit clear)
// of the points of order 1, 2, 4 and 8 on edwards25519: 1, p-1, 0 and the
// two y values of the order-8 points. A signature made "for" such a key
// verifies for many messages without any private key.
var ed25519SmallOrderY = [5][32]byte{
	{0x01},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
}

// weakEd25519 reports whether an Ed25519 public key is a non-canonical
// encoding (y >= p = 2^255-19) or a point of small order. Both are refused
// so that every accepted key has one encoding, hence one thumbprint, and
// cannot sign for everybody.
func weakEd25519(pub []byte) bool {
	var y [32]byte
	copy(y[:], pub)
	y[31] &= 0x7f
	// y >= p: the top 31 octets are all ones (0x7f at the top) and the
	// lowest is at least 0xed.
	top := y[31] == 0x7f
	for _, c := range y[1:31] {
		top = top && c == 0xff
	}
	if top && y[0] >= 0xed {
		return true
	}
	for _, w := range ed25519SmallOrderY {
		if y == w {
			return true
		}
	}
	return false
}
