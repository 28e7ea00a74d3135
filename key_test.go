package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// Tests of Key: generation, wrapping signers, export and import, the
// signature encodings, and redaction.

var ktAllAlgorithms = []Algorithm{ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512}

// ktPrivateMembers are the JWK members that carry private or symmetric key
// material (C-4.2-05).
var ktPrivateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ktRSA is one RSA-2048 key shared by the tests that do not need their own.
var ktRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func ktJWKMembers(t testing.TB, jwk []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatalf("JWK %s: %v", jwk, err)
	}
	return m
}

// ktVerify checks that a fresh default verifier accepts a proof made by k.
func ktVerify(t testing.TB, k *Key) *Proof {
	t.Helper()
	v, err := NewVerifier(VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := k.Proof("POST", "https://server.example.com/token")
	if err != nil {
		t.Fatalf("Proof: %v", err)
	}
	p, err := v.Verify(context.Background(), proof, Request{Method: "POST", URL: "https://server.example.com/token"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Algorithm != k.Algorithm() || p.JKT != k.Thumbprint() {
		t.Fatalf("verified alg %s jkt %s; key alg %s jkt %s", p.Algorithm, p.JKT, k.Algorithm(), k.Thumbprint())
	}
	return p
}

// Every algorithm: generate, prove, verify, export, import, compare.
// C-4.2-02, C-4.2-04, C-4.2-05, T-03, X-05, X-06.
func TestKeyEveryAlgorithm(t *testing.T) {
	for _, alg := range ktAllAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != alg {
				t.Fatalf("Algorithm() = %s", k.Algorithm())
			}
			if len(k.Thumbprint()) != 43 {
				t.Fatalf("Thumbprint() = %q, want 43 characters", k.Thumbprint())
			}
			p := ktVerify(t, k)
			switch pub := p.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if !pub.Equal(k.Public()) {
					t.Fatal("verified key differs from Public()")
				}
			case ed25519.PublicKey:
				if !pub.Equal(k.Public()) {
					t.Fatal("verified key differs from Public()")
				}
			case *rsa.PublicKey:
				if !pub.Equal(k.Public()) || pub.N.BitLen() != MinRSABits {
					t.Fatalf("verified key differs from Public() or is not %d bits", MinRSABits)
				}
			default:
				t.Fatalf("verified public key is %T", pub)
			}

			// The public JWK holds no private member, and its thumbprint
			// is the key's.
			pubJWK := k.PublicJWK()
			for _, m := range ktPrivateMembers {
				if _, ok := ktJWKMembers(t, pubJWK)[m]; ok {
					t.Errorf("PublicJWK has private member %q", m)
				}
			}
			if jkt, err := Thumbprint(pubJWK); err != nil || jkt != k.Thumbprint() {
				t.Errorf("Thumbprint(PublicJWK) = %q, %v", jkt, err)
			}
			// PublicJWK returns a copy.
			pubJWK[0] = 'X'
			if k.PublicJWK()[0] != '{' {
				t.Error("PublicJWK returns the key's own buffer")
			}

			// Private JWK round trip.
			priv, err := k.MarshalPrivateJWK()
			if err != nil {
				t.Fatal(err)
			}
			m := ktJWKMembers(t, priv)
			if m["alg"] != string(alg) {
				t.Errorf("private JWK alg = %v, want %s", m["alg"], alg)
			}
			if _, ok := m["d"]; !ok {
				t.Error("private JWK has no d")
			}
			k2, err := ParseKey(priv)
			if err != nil {
				t.Fatalf("ParseKey(MarshalPrivateJWK()): %v", err)
			}
			if k2.Thumbprint() != k.Thumbprint() || k2.Algorithm() != alg {
				t.Fatalf("round trip: jkt %s alg %s; want %s %s", k2.Thumbprint(), k2.Algorithm(), k.Thumbprint(), alg)
			}
			if string(k2.PublicJWK()) != string(k.PublicJWK()) {
				t.Fatalf("round trip: public JWK %s, want %s", k2.PublicJWK(), k.PublicJWK())
			}
			ktVerify(t, k2)
			// The export is stable.
			again, err := k2.MarshalPrivateJWK()
			if err != nil || string(again) != string(priv) {
				t.Fatalf("re-export differs:\n%s\n%s (%v)", again, priv, err)
			}
			// Thumbprint of the private JWK is that of its public part (T-03).
			if jkt, err := Thumbprint(priv); err != nil || jkt != k.Thumbprint() {
				t.Errorf("Thumbprint(private JWK) = %q, %v", jkt, err)
			}
		})
	}
}

// C-4.2-02, C-4.2-03: ES256 by default; none, MAC and unknown algorithms
// cannot be used.
func TestGenerateKeyAlgorithms(t *testing.T) {
	k, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm() != ES256 {
		t.Fatalf(`GenerateKey("") made %s, want ES256`, k.Algorithm())
	}
	if _, ok := k.Public().(*ecdsa.PublicKey); !ok {
		t.Fatalf("GenerateKey(\"\") public key is %T", k.Public())
	}
	for _, alg := range []Algorithm{"none", "None", "HS256", "HS384", "HS512", "ES256K", "es256", "RS1", "EdDSA ", "ES256\x00", "RSA-OAEP", "dir"} {
		k, err := GenerateKey(alg)
		if !errors.Is(err, ErrUnsupportedAlg) || k != nil {
			t.Errorf("GenerateKey(%q) = %v, %v; want ErrUnsupportedAlg", alg, k, err)
		}
		if alg.Supported() {
			t.Errorf("%q.Supported() = true", alg)
		}
	}
	// Every supported algorithm is in the default allow-list.
	if got := DefaultAlgorithms(); len(got) != len(ktAllAlgorithms) {
		t.Fatalf("DefaultAlgorithms() = %v", got)
	}
	for _, alg := range ktAllAlgorithms {
		if !alg.Supported() {
			t.Errorf("%s.Supported() = false", alg)
		}
	}
}

// ktOpaqueSigner stands for an HSM, KMS or TPM key: it signs, but it is
// none of the standard library's private key types.
type ktOpaqueSigner struct {
	inner crypto.Signer
	// garbage, when set, replaces every signature.
	garbage []byte
	// fail, when set, is returned by Sign.
	fail error
}

func (s *ktOpaqueSigner) Public() crypto.PublicKey { return s.inner.Public() }

func (s *ktOpaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	if s.garbage != nil {
		return s.garbage, nil
	}
	return s.inner.Sign(r, digest, opts)
}

// NewKey wraps any crypto.Signer; one that is not in memory cannot be
// exported. C-11.4-01.
func TestNewKeyOpaqueSigner(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		alg   Algorithm
		inner crypto.Signer
	}{
		{ES256, ec},
		{EdDSA, ed},
		{Ed25519, ed},
		{PS256, ktRSA()},
		{RS256, ktRSA()},
	}
	for _, tc := range cases {
		t.Run(string(tc.alg), func(t *testing.T) {
			k, err := NewKey(&ktOpaqueSigner{inner: tc.inner}, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := NewKey(tc.inner, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if k.Thumbprint() != direct.Thumbprint() || k.Algorithm() != tc.alg {
				t.Fatalf("wrapped key: jkt %s alg %s; direct jkt %s", k.Thumbprint(), k.Algorithm(), direct.Thumbprint())
			}
			ktVerify(t, k)
			jwk, err := k.MarshalPrivateJWK()
			if !errors.Is(err, ErrKeyNotExportable) || jwk != nil {
				t.Fatalf("MarshalPrivateJWK = %s, %v; want ErrKeyNotExportable", jwk, err)
			}
		})
	}
}

// The algorithm must fit the signer's key. ALL-4.3-05, X-06, X-08.
func TestNewKeyMismatch(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		alg    Algorithm
		signer crypto.Signer
	}{
		{"ES384 with P-256", ES384, p256},
		{"ES512 with P-256", ES512, p256},
		{"ES256 with P-384", ES256, p384},
		{"ES256 with P-521", ES256, p521},
		{"ES256 with RSA", ES256, ktRSA()},
		{"EdDSA with EC", EdDSA, p256},
		{"Ed25519 with RSA", Ed25519, ktRSA()},
		{"RS256 with EC", RS256, p256},
		{"PS256 with Ed25519", PS256, ed},
		{"ES256 with Ed25519", ES256, ed},
	}
	for _, tc := range cases {
		for _, wrap := range []bool{false, true} {
			signer := tc.signer
			if wrap {
				signer = &ktOpaqueSigner{inner: signer}
			}
			k, err := NewKey(signer, tc.alg)
			if !errors.Is(err, ErrAlgKeyMismatch) || k != nil {
				t.Errorf("%s (wrapped %v): %v, %v; want ErrAlgKeyMismatch", tc.name, wrap, k, err)
			}
		}
	}
	// A key of the right family may switch algorithms.
	k, err := NewKey(p256, ES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.WithAlgorithm(ES384); !errors.Is(err, ErrAlgKeyMismatch) {
		t.Errorf("WithAlgorithm(ES384) on P-256: %v", err)
	}
	r, err := NewKey(ktRSA(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []Algorithm{PS256, PS384, PS512, RS384, RS512} {
		k2, err := r.WithAlgorithm(alg)
		if err != nil || k2.Algorithm() != alg || k2.Thumbprint() != r.Thumbprint() {
			t.Errorf("WithAlgorithm(%s): %v", alg, err)
		}
	}
	if r.Algorithm() != RS256 {
		t.Error("WithAlgorithm changed the receiver")
	}

	// RSA keys below 2048 bits are refused. Go still generates
	// 1024-bit keys.
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Logf("cannot generate a 1024-bit RSA key (%v); checking the bound with the public key only", err)
	} else {
		for _, alg := range []Algorithm{RS256, PS256} {
			k, err := NewKey(small, alg)
			if err == nil || k != nil {
				t.Errorf("NewKey(RSA-1024, %s) succeeded", alg)
			} else if !errors.Is(err, ErrAlgKeyMismatch) && !strings.Contains(err.Error(), "RSA") {
				t.Errorf("NewKey(RSA-1024, %s): %v; want a mismatch or RSA size error", alg, err)
			}
		}
	}

	// Other refusals: no signer, unsupported curve, unknown algorithm.
	if _, err := NewKey(nil, ES256); err == nil {
		t.Error("NewKey(nil) succeeded")
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if _, err := NewKey(p224, ES256); err == nil {
		t.Error("NewKey(P-224) succeeded")
	}
	for _, alg := range []Algorithm{"", "none", "HS256"} {
		if _, err := NewKey(p256, alg); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("NewKey(P-256, %q): %v; want ErrUnsupportedAlg", alg, err)
		}
	}
}

// A signer that misbehaves makes Proof fail; it never panics.
func TestProofBadSigner(t *testing.T) {
	boom := errors.New("token removed")
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	// r is 33 octets for P-256: too long.
	longR := append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, make([]byte, 32)...)
	longR = append(longR, 0x02, 0x01, 0x01)
	cases := []struct {
		name   string
		alg    Algorithm
		signer *ktOpaqueSigner
	}{
		{"ES256 garbage", ES256, &ktOpaqueSigner{inner: p256, garbage: []byte("definitely not DER")}},
		{"ES256 raw r||s", ES256, &ktOpaqueSigner{inner: p256, garbage: make([]byte, 64)}},
		{"ES256 empty", ES256, &ktOpaqueSigner{inner: p256, garbage: []byte{}}},
		{"ES256 r too long", ES256, &ktOpaqueSigner{inner: p256, garbage: longR}},
		{"ES256 truncated", ES256, &ktOpaqueSigner{inner: p256, garbage: []byte{0x30, 0x44, 0x02, 0x20}}},
		{"ES512 garbage", ES512, &ktOpaqueSigner{inner: p521, garbage: []byte{0x30, 0x81}}},
		{"ES256 error", ES256, &ktOpaqueSigner{inner: p256, fail: boom}},
		{"PS256 error", PS256, &ktOpaqueSigner{inner: ktRSA(), fail: boom}},
		{"EdDSA error", EdDSA, &ktOpaqueSigner{inner: ed25519.NewKeyFromSeed(make([]byte, 32)), fail: boom}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(tc.signer, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := k.Proof("GET", "https://rs.example.com/")
			if err == nil || proof != "" {
				t.Fatalf("Proof = %q, %v; want an error", proof, err)
			}
			if tc.signer.fail != nil && !errors.Is(err, tc.signer.fail) {
				t.Fatalf("error %v does not wrap the signer's", err)
			}
			if tc.signer.garbage != nil && !errors.Is(err, errDERSignature) {
				t.Fatalf("error %v, want errDERSignature", err)
			}
		})
	}
}

// PS* use a salt as long as the hash (RFC 7518 §3.5); RS* use PKCS #1 v1.5.
func TestProofRSASignatures(t *testing.T) {
	base, err := NewKey(ktRSA(), PS256)
	if err != nil {
		t.Fatal(err)
	}
	pub := ktRSA().Public().(*rsa.PublicKey)
	cases := []struct {
		alg  Algorithm
		hash crypto.Hash
		pss  bool
	}{
		{PS256, crypto.SHA256, true},
		{PS384, crypto.SHA384, true},
		{PS512, crypto.SHA512, true},
		{RS256, crypto.SHA256, false},
		{RS384, crypto.SHA384, false},
		{RS512, crypto.SHA512, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.alg), func(t *testing.T) {
			k, err := base.WithAlgorithm(tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := k.Proof("GET", "https://rs.example.com/")
			if err != nil {
				t.Fatal(err)
			}
			p := ptDecode(t, proof)
			if len(p.sig) != 256 {
				t.Fatalf("signature has %d octets, want 256", len(p.sig))
			}
			h := tc.hash.New()
			h.Write([]byte(p.signingInput))
			digest := h.Sum(nil)
			if !tc.pss {
				if err := rsa.VerifyPKCS1v15(pub, tc.hash, digest, p.sig); err != nil {
					t.Fatalf("VerifyPKCS1v15: %v", err)
				}
				return
			}
			if err := rsa.VerifyPSS(pub, tc.hash, digest, p.sig, &rsa.PSSOptions{SaltLength: tc.hash.Size()}); err != nil {
				t.Fatalf("VerifyPSS with salt length %d: %v", tc.hash.Size(), err)
			}
			// Any other explicit salt length fails: the salt is exactly
			// the hash length, not the maximum.
			for _, other := range []int{tc.hash.Size() - 1, tc.hash.Size() + 1, 20} {
				if rsa.VerifyPSS(pub, tc.hash, digest, p.sig, &rsa.PSSOptions{SaltLength: other}) == nil {
					t.Fatalf("VerifyPSS with salt length %d succeeded", other)
				}
			}
		})
	}
}

// ECDSA signatures are the fixed-length r||s of RFC 7518 §3.4. X-05.
func TestProofECDSASignatureLength(t *testing.T) {
	cases := []struct {
		alg  Algorithm
		size int
		hash func([]byte) []byte
	}{
		{ES256, 32, func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{ES384, 48, func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }},
		{ES512, 66, func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }},
	}
	for _, tc := range cases {
		t.Run(string(tc.alg), func(t *testing.T) {
			k := testKey(t, tc.alg)
			pub := k.Public().(*ecdsa.PublicKey)
			// Enough proofs that some r or s is shorter than the curve
			// size in DER and needs padding.
			for i := 0; i < 64; i++ {
				proof, err := k.Proof("GET", "https://rs.example.com/")
				if err != nil {
					t.Fatal(err)
				}
				p := ptDecode(t, proof)
				if len(p.sig) != 2*tc.size {
					t.Fatalf("signature has %d octets, want %d", len(p.sig), 2*tc.size)
				}
				r := new(big.Int).SetBytes(p.sig[:tc.size])
				s := new(big.Int).SetBytes(p.sig[tc.size:])
				if !ecdsa.Verify(pub, tc.hash([]byte(p.signingInput)), r, s) {
					t.Fatalf("proof %d: r||s does not verify", i)
				}
			}
		})
	}
}

// ktDER builds a DER SEQUENCE of two INTEGERs from their content octets,
// with minimal lengths.
func ktDER(r, s []byte) []byte {
	tlv := func(tag byte, content []byte) []byte {
		out := []byte{tag}
		switch n := len(content); {
		case n < 0x80:
			out = append(out, byte(n))
		case n < 0x100:
			out = append(out, 0x81, byte(n))
		default:
			out = append(out, 0x82, byte(n>>8), byte(n))
		}
		return append(out, content...)
	}
	body := append(tlv(0x02, r), tlv(0x02, s)...)
	return tlv(0x30, body)
}

func ktBytes(n int, fill byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = fill + byte(i)
	}
	return b
}

func TestAppendRawECDSA(t *testing.T) {
	r32, s32 := ktBytes(32, 0x11), ktBytes(32, 0x22)
	hi := ktBytes(32, 0x80) // high bit set: DER needs a 0x00 pad
	r66 := append([]byte{0x01}, ktBytes(65, 0x33)...)
	s66 := append([]byte{0x01}, ktBytes(65, 0x44)...)
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	zeros := func(n int) []byte { return make([]byte, n) }
	cases := []struct {
		name string
		der  []byte
		size int
		want []byte // nil: errDERSignature
	}{
		{"plain P-256", ktDER(r32, s32), 32, cat(r32, s32)},
		{"short r", ktDER(r32[1:], s32), 32, cat(zeros(1), r32[1:], s32)},
		{"short s", ktDER(r32, s32[3:]), 32, cat(r32, zeros(3), s32[3:])},
		{"r with 0x00 pad", ktDER(cat(zeros(1), hi), s32), 32, cat(hi, s32)},
		{"both padded", ktDER(cat(zeros(1), hi), cat(zeros(1), hi)), 32, cat(hi, hi)},
		{"r = 0 as one octet", ktDER(zeros(1), s32), 32, cat(zeros(32), s32)},
		{"small r and s", ktDER([]byte{1}, []byte{2}), 32, cat(zeros(31), []byte{1}, zeros(31), []byte{2})},
		{"P-384", ktDER(ktBytes(48, 1), ktBytes(48, 2)), 48, cat(ktBytes(48, 1), ktBytes(48, 2))},
		{"P-521 long-form length", ktDER(r66, s66), 66, cat(r66, s66)},
		{"P-521 short r", ktDER(r66[1:], s66), 66, cat(zeros(1), r66[1:], s66)},
		{"P-521 short body length", ktDER([]byte{5}, []byte{6}), 66, cat(zeros(65), []byte{5}, zeros(65), []byte{6})},
		{"two-octet length", cat([]byte{0x30, 0x82, 0x00, 0x44}, ktDER(r32, s32)[2:]), 32, cat(r32, s32)},

		{"empty", nil, 32, nil},
		{"only tag", []byte{0x30}, 32, nil},
		{"trailing garbage", cat(ktDER(r32, s32), []byte{0}), 32, nil},
		{"garbage after s", ktDERBody(cat([]byte{0x02, 0x20}, r32, []byte{0x02, 0x20}, s32, []byte{0x05, 0x00})), 32, nil},
		{"wrong outer tag", cat([]byte{0x31}, ktDER(r32, s32)[1:]), 32, nil},
		{"wrong r tag", ktDERBody(cat([]byte{0x04, 0x20}, r32, []byte{0x02, 0x20}, s32)), 32, nil},
		{"wrong s tag", ktDERBody(cat([]byte{0x02, 0x20}, r32, []byte{0x03, 0x20}, s32)), 32, nil},
		{"missing s", ktDERBody(cat([]byte{0x02, 0x20}, r32)), 32, nil},
		{"r longer than size", ktDER(cat([]byte{1}, r32), s32), 32, nil},
		{"s longer than size", ktDER(r32, cat([]byte{1}, s32)), 32, nil},
		{"P-521 r 67 octets", ktDER(cat([]byte{1}, r66), s66), 66, nil},
		{"length beyond input", []byte{0x30, 0x44, 0x02, 0x20, 1, 2, 3}, 32, nil},
		{"inner length beyond body", ktDERBody([]byte{0x02, 0x21, 1, 2}), 32, nil},
		{"indefinite length", cat([]byte{0x30, 0x80}, ktDER(r32, s32)[2:], []byte{0, 0}), 32, nil},
		{"three-octet length", cat([]byte{0x30, 0x83, 0, 0, 0x44}, ktDER(r32, s32)[2:]), 32, nil},
		{"truncated long form", []byte{0x30, 0x82, 0x00}, 32, nil},
		{"raw r||s", cat(r32, s32), 32, nil},
	}
	for _, tc := range cases {
		prefix := []byte("prefix")
		got, err := appendRawECDSA(append([]byte(nil), prefix...), tc.der, tc.size)
		if tc.want == nil {
			if !errors.Is(err, errDERSignature) {
				t.Errorf("%s: %x, %v; want errDERSignature", tc.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != string(prefix)+string(tc.want) {
			t.Errorf("%s:\n got %x\nwant %x%x", tc.name, got, prefix, tc.want)
		}
	}

	// The conversion of real signatures matches big.Int arithmetic.
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv, _ := ecdsa.GenerateKey(curve, rand.Reader)
		size := (curve.Params().BitSize + 7) / 8
		digest := make([]byte, 32)
		for i := 0; i < 32; i++ {
			digest[0] = byte(i)
			der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := appendRawECDSA(nil, der, size)
			if err != nil || len(raw) != 2*size {
				t.Fatalf("%s: %x, %v", curve.Params().Name, raw, err)
			}
			r, s := new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])
			if !ecdsa.Verify(&priv.PublicKey, digest, r, s) {
				t.Fatalf("%s: converted signature does not verify", curve.Params().Name)
			}
		}
	}
}

// ktDERBody wraps body in a SEQUENCE header.
func ktDERBody(body []byte) []byte {
	if len(body) < 0x80 {
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	return append([]byte{0x30, 0x81, byte(len(body))}, body...)
}

// ktSecrets returns the private JWK members of k, base64url, and the raw
// private octets in the forms fmt could print them.
func ktSecrets(t testing.TB, k *Key) []string {
	t.Helper()
	priv, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	m := ktJWKMembers(t, priv)
	var out []string
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		v, ok := m[name].(string)
		if !ok {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatal(err)
		}
		// A distinctive part of each representation is enough.
		dec := strings.Trim(fmt.Sprint(raw), "[]")
		goSyntax := fmt.Sprintf("%#v", raw)
		goSyntax = goSyntax[strings.IndexByte(goSyntax, '{')+1 : len(goSyntax)-1]
		out = append(out, v, hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
			dec[:min(len(dec), 40)], goSyntax[:min(len(goSyntax), 40)], string(raw[:min(len(raw), 16)]),
			new(big.Int).SetBytes(raw).String())
	}
	if len(out) == 0 {
		t.Fatal("no private member found")
	}
	return out
}

type ktHolder struct {
	Name string
	Key  *Key
}

type ktHiddenHolder struct {
	name string
	key  *Key
}

// fmt and encoding/json never reveal the private key. C-11.4-01.
func TestKeyRedaction(t *testing.T) {
	for _, alg := range []Algorithm{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			secrets := ktSecrets(t, k)
			check := func(what, out string, wantJKT bool) {
				t.Helper()
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("%s reveals private material: %q", what, out)
						return
					}
				}
				if wantJKT && !strings.Contains(out, k.Thumbprint()) {
					t.Errorf("%s = %q, want the thumbprint in it", what, out)
				}
			}
			holder := ktHolder{Name: "client", Key: k}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
				check("Sprintf("+verb+", k)", fmt.Sprintf(verb, k), true)
				check("Sprintf("+verb+", holder)", fmt.Sprintf(verb, holder), true)
				check("Sprintf("+verb+", &holder)", fmt.Sprintf(verb, &holder), true)
			}
			check("Sprint(k)", fmt.Sprint(k), true)
			check("Sprintln(k)", fmt.Sprintln(k), true)
			check("Sprint(holder)", fmt.Sprint(holder), true)
			check("Sprint([]*Key)", fmt.Sprint([]*Key{k, k}), true)
			check("Sprint(map)", fmt.Sprint(map[string]*Key{"k": k}), true)
			check("Sprint(any)", fmt.Sprint([]any{k}), true)
			check("String()", k.String(), true)
			// Unexported fields are printed without calling Format; they
			// must not leak either.
			hidden := ktHiddenHolder{name: "client", key: k}
			for _, verb := range []string{"%v", "%+v", "%#v", "%x"} {
				check("Sprintf("+verb+", hidden)", fmt.Sprintf(verb, hidden), false)
			}
			if s := fmt.Sprint((*Key)(nil)); s != "dpop.Key(nil)" && s != "<nil>" {
				t.Errorf("Sprint(nil *Key) = %q", s)
			}

			// encoding/json refuses a Key, in a struct or alone.
			if out, err := json.Marshal(holder); err == nil {
				t.Errorf("json.Marshal(holder) = %s, want an error", out)
			}
			if out, err := json.Marshal(&holder); err == nil {
				t.Errorf("json.Marshal(&holder) = %s, want an error", out)
			}
			if out, err := json.Marshal(k); err == nil {
				t.Errorf("json.Marshal(k) = %s, want an error", out)
			}
			if out, err := json.Marshal(map[string]any{"k": k}); err == nil {
				t.Errorf("json.Marshal(map) = %s, want an error", out)
			}
		})
	}
}

type ktValueHolder struct {
	Name string
	Key  Key
}

// A Key copied by value, alone or inside a struct, is as redacted as a
// *Key: fmt must not walk its fields and encoding/json must not write "{}".
// The package documents that a Key never reveals its private part by
// accident.
func TestKeyRedactionByValue(t *testing.T) {
	for _, alg := range []Algorithm{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			secrets := ktSecrets(t, k)
			holder := ktValueHolder{Name: "client", Key: *k}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
				for what, out := range map[string]string{
					"Sprintf(" + verb + ", *k)":     fmt.Sprintf(verb, *k),
					"Sprintf(" + verb + ", holder)": fmt.Sprintf(verb, holder),
				} {
					for _, s := range secrets {
						if strings.Contains(out, s) {
							t.Errorf("%s reveals private material (%d-byte output)", what, len(out))
							break
						}
					}
				}
			}
			if out, err := json.Marshal(holder); err == nil {
				t.Errorf("json.Marshal of a struct holding a Key value = %s, want an error", out)
			}
		})
	}
}

// ParseKey reads exactly what MarshalPrivateJWK writes, and refuses
// anything inconsistent. T-05.
func TestParseKeyStrict(t *testing.T) {
	ec1, ec2 := testKey(t, ES256), ktMustGenerate(t, ES256)
	ed1, ed2 := testKey(t, EdDSA), ktMustGenerate(t, EdDSA)
	rsa1, err := NewKey(ktRSA(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	rsa2 := testKey(t, PS256)
	members := func(k *Key) map[string]string {
		priv, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for n, v := range ktJWKMembers(t, priv) {
			out[n] = v.(string)
		}
		return out
	}
	// build writes the members in the given order (name, value pairs).
	build := func(pairs ...string) []byte {
		var b strings.Builder
		b.WriteByte('{')
		for i := 0; i < len(pairs); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%q", pairs[i], pairs[i+1])
		}
		b.WriteByte('}')
		return []byte(b.String())
	}
	e1, e2 := members(ec1), members(ec2)
	o1, o2 := members(ed1), members(ed2)
	r1, r2 := members(rsa1), members(rsa2)
	b64 := base64.RawURLEncoding.EncodeToString
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n256, _ := new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

	accept := []struct {
		name string
		jwk  []byte
		alg  Algorithm
		jkt  string
	}{
		{"EC without alg", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), ES256, ec1.Thumbprint()},
		{"EC members reordered, extras", build("d", e1["d"], "use", "sig", "y", e1["y"], "kid", "k1", "x", e1["x"], "crv", "P-256", "kty", "EC", "Dp", "ignored"), ES256, ec1.Thumbprint()},
		{"Ed25519 without alg", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", o1["d"]), EdDSA, ed1.Thumbprint()},
		{"Ed25519 with alg Ed25519", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", o1["d"], "alg", "Ed25519"), Ed25519, ed1.Thumbprint()},
		{"RSA without alg", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "p", r1["p"], "q", r1["q"]), PS256, rsa1.Thumbprint()},
		{"RSA with alg RS256", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "p", r1["p"], "q", r1["q"], "alg", "RS256"), RS256, rsa1.Thumbprint()},
		{"RSA with alg PS512", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "p", r1["p"], "q", r1["q"], "alg", "PS512"), PS512, rsa1.Thumbprint()},
	}
	for _, tc := range accept {
		k, err := ParseKey(tc.jwk)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if k.Algorithm() != tc.alg || k.Thumbprint() != tc.jkt {
			t.Errorf("%s: alg %s jkt %s; want %s %s", tc.name, k.Algorithm(), k.Thumbprint(), tc.alg, tc.jkt)
		}
		ktVerify(t, k)
	}
	// The other curves default to their algorithm.
	for _, alg := range []Algorithm{ES384, ES512} {
		m := members(testKey(t, alg))
		k, err := ParseKey(build("kty", "EC", "crv", m["crv"], "x", m["x"], "y", m["y"], "d", m["d"]))
		if err != nil || k.Algorithm() != alg {
			t.Errorf("%s key without alg: %v, %v", alg, k, err)
		}
	}

	big17k := append(build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), strings.Repeat(" ", 17<<10)...)
	refuse := []struct {
		name string
		jwk  []byte
		want error
	}{
		{"EC d of another key", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e2["d"]), ErrInvalidJWK},
		{"EC d 31 octets", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", b64(dec(e1["d"])[1:])), ErrInvalidJWK},
		{"EC d 33 octets", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", b64(append([]byte{0}, dec(e1["d"])...))), ErrInvalidJWK},
		{"EC d zero", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", b64(make([]byte, 32))), ErrInvalidJWK},
		{"EC d = n", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", b64(n256.FillBytes(make([]byte, 32)))), ErrInvalidJWK},
		{"EC d padded base64", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]+"="), ErrInvalidJWK},
		{"EC d empty", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", ""), ErrInvalidJWK},
		{"EC public only", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"]), ErrInvalidJWK},
		{"EC public only with D", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "D", e1["d"]), ErrInvalidJWK},
		{"EC duplicate d", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "d", e1["d"]), ErrInvalidJWK},
		{"EC duplicate kty", build("kty", "EC", "kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), ErrInvalidJWK},
		{"EC d and D", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "D", e1["d"]), ErrInvalidJWK},
		{"EC wrong curve name", build("kty", "EC", "crv", "P-384", "x", e1["x"], "y", e1["y"], "d", e1["d"]), ErrInvalidJWK},
		{"EC alg mismatch", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "alg", "ES384"), ErrAlgKeyMismatch},
		{"EC alg RS256", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "alg", "RS256"), ErrAlgKeyMismatch},
		{"EC alg none", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "alg", "none"), ErrUnsupportedAlg},
		{"EC alg HS256", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "alg", "HS256"), ErrUnsupportedAlg},
		{"EC alg empty", build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"], "alg", ""), ErrUnsupportedAlg},
		{"Ed25519 d of another key", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", o2["d"]), ErrInvalidJWK},
		{"Ed25519 d 31 octets", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", b64(dec(o1["d"])[:31])), ErrInvalidJWK},
		{"Ed25519 d 64 octets", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", b64(append(dec(o1["d"]), dec(o1["x"])...))), ErrInvalidJWK},
		{"Ed25519 public only", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"]), ErrInvalidJWK},
		{"Ed25519 alg ES256", build("kty", "OKP", "crv", "Ed25519", "x", o1["x"], "d", o1["d"], "alg", "ES256"), ErrAlgKeyMismatch},
		{"X25519", build("kty", "OKP", "crv", "X25519", "x", o1["x"], "d", o1["d"]), ErrInvalidJWK},
		{"RSA d of another key", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r2["d"], "p", r1["p"], "q", r1["q"]), ErrInvalidJWK},
		{"RSA primes of another key", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "p", r2["p"], "q", r2["q"]), ErrInvalidJWK},
		{"RSA without p", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "q", r1["q"]), ErrInvalidJWK},
		{"RSA d only", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"]), ErrInvalidJWK},
		{"RSA public only", build("kty", "RSA", "n", r1["n"], "e", r1["e"]), ErrInvalidJWK},
		{"RSA alg ES256", build("kty", "RSA", "n", r1["n"], "e", r1["e"], "d", r1["d"], "p", r1["p"], "q", r1["q"], "alg", "ES256"), ErrAlgKeyMismatch},
		{"oct", build("kty", "oct", "k", b64(make([]byte, 32))), ErrInvalidJWK},
		{"no kty", build("crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), ErrInvalidJWK},
		{"oversize", big17k, ErrInvalidJWK},
		{"trailing garbage", append(build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), '}'), ErrInvalidJWK},
		{"two objects", append(build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"]), "{}"...), ErrInvalidJWK},
		{"not an object", []byte(`["kty","EC"]`), ErrInvalidJWK},
		{"empty", nil, ErrInvalidJWK},
		{"kty not a string", []byte(`{"kty":1}`), ErrInvalidJWK},
	}
	for _, tc := range refuse {
		k, err := ParseKey(tc.jwk)
		if k != nil || err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
	// Whitespace around and inside the document is fine, up to the cap.
	spaced := append([]byte(" \n\t"), build("kty", "EC", "crv", "P-256", "x", e1["x"], "y", e1["y"], "d", e1["d"])...)
	spaced = append(spaced, strings.Repeat(" ", 15<<10)...)
	if _, err := ParseKey(spaced); err != nil {
		t.Errorf("JWK with 15 KiB of white space: %v", err)
	}
}

func ktMustGenerate(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RFC 7638 §3.1 example key (its n, e, alg and kid).
const (
	ktRFC7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	ktRFC7638JWK = `{"kty":"RSA","n":"` + ktRFC7638N + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	ktRFC7638JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// Thumbprints hash the required members only, in lexical order.
// T-01, T-02, T-03, T-04, T-05, T-06, AS-6.1-01, RS-6.1-01.
func TestThumbprint(t *testing.T) {
	const x, y = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
	same := []struct{ name, jwk, want string }{
		{"RFC 9449 example", rfcJWK, rfcJKT},
		{"canonical order", `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`, rfcJKT},
		{"reordered with extras", `{"y":"` + y + `","use":"sig","kid":"k-1","x":"` + x + `","alg":"ES256","crv":"P-256","key_ops":["verify"],"kty":"EC"}`, rfcJKT},
		{"white space", " {\n\t\"kty\" : \"EC\" ,\r\n \"x\":\"" + x + "\", \"y\":\"" + y + "\",\"crv\":\"P-256\"}\n", rfcJKT},
		{"escaped member names", `{"k\u0074y":"EC","\u0078":"` + x + `","y":"` + y + `","crv":"P-256"}`, rfcJKT},
		{"RFC 7638 §3.1 RSA", ktRFC7638JWK, ktRFC7638JKT},
		{"RFC 7638 §3.1 RSA, bare", `{"e":"AQAB","kty":"RSA","n":"` + ktRFC7638N + `"}`, ktRFC7638JKT},
	}
	for _, tc := range same {
		got, err := Thumbprint([]byte(tc.jwk))
		if err != nil || got != tc.want {
			t.Errorf("%s: Thumbprint = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// The hash input is byte-exact (T-01, T-04).
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != rfcJKT {
		t.Fatal("RFC 9449 jkt does not match the RFC 7638 hash input")
	}

	// A private JWK gives the thumbprint of its public part (T-03).
	for _, alg := range []Algorithm{ES256, EdDSA, PS256} {
		k := testKey(t, alg)
		priv, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Thumbprint(priv); err != nil || got != k.Thumbprint() {
			t.Errorf("%s private JWK: %q, %v; want %q", alg, got, err, k.Thumbprint())
		}
	}

	// Non-canonical or invalid keys have no thumbprint (T-05).
	xb, _ := base64.RawURLEncoding.DecodeString(x)
	n, _ := base64.RawURLEncoding.DecodeString(ktRFC7638N)
	b64 := base64.RawURLEncoding.EncodeToString
	ec := func(x, y string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}`
	}
	bad := []struct{ name, jwk string }{
		{"x padded", ec(x+"=", y)},
		{"x 31 octets", ec(b64(xb[1:]), y)},
		{"x 33 octets", ec(b64(append([]byte{0}, xb...)), y)},
		{"x standard alphabet", ec(strings.ReplaceAll(x, "-", "+"), y)},
		{"x with CR", ec(x[:10]+`\r`+x[10:], y)},
		{"y non-zero trailing bits", ec(x, y[:42]+"B")},
		{"point off the curve", ec(x, "9WE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA")},
		{"missing y", `{"kty":"EC","crv":"P-256","x":"` + x + `"}`},
		{"unknown curve", `{"kty":"EC","crv":"secp256k1","x":"` + x + `","y":"` + y + `"}`},
		{"RSA n with leading zero", `{"kty":"RSA","e":"AQAB","n":"` + b64(append([]byte{0}, n...)) + `"}`},
		{"RSA e with leading zero", `{"kty":"RSA","e":"AAEAAQ","n":"` + ktRFC7638N + `"}`},
		{"RSA e = 1", `{"kty":"RSA","e":"AQ","n":"` + ktRFC7638N + `"}`},
		{"RSA even e", `{"kty":"RSA","e":"AQAA","n":"` + ktRFC7638N + `"}`},
		{"RSA 1024 bits", `{"kty":"RSA","e":"AQAB","n":"` + b64(n[:128]) + `"}`},
		{"OKP x 31 octets", `{"kty":"OKP","crv":"Ed25519","x":"` + b64(xb[1:]) + `"}`},
		{"oct", `{"kty":"oct","k":"` + b64(make([]byte, 32)) + `"}`},
		{"duplicate x", `{"kty":"EC","crv":"P-256","x":"` + x + `","x":"` + x + `","y":"` + y + `"}`},
		{"case-variant kty", `{"kty":"EC","KTY":"RSA","crv":"P-256","x":"` + x + `","y":"` + y + `"}`},
		{"kty lower case", `{"kty":"ec","crv":"P-256","x":"` + x + `","y":"` + y + `"}`},
		{"trailing garbage", rfcJWK + "x"},
		{"not JSON", "kty=EC"},
		{"oversize", rfcJWK[:len(rfcJWK)-1] + `,"pad":"` + strings.Repeat("a", 16<<10) + `"}`},
	}
	for _, tc := range bad {
		got, err := Thumbprint([]byte(tc.jwk))
		if !errors.Is(err, ErrInvalidJWK) || got != "" {
			t.Errorf("%s: Thumbprint = %q, %v; want ErrInvalidJWK", tc.name, got, err)
		}
	}
}

// ktHandBuiltRSA returns a copy of ktRSA as an application might build it
// from its parts: without precomputed CRT values.
func ktHandBuiltRSA() *rsa.PrivateKey {
	k := ktRSA()
	return &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Set(k.N), E: k.E},
		D:         new(big.Int).Set(k.D),
		Primes:    []*big.Int{new(big.Int).Set(k.Primes[0]), new(big.Int).Set(k.Primes[1])},
	}
}

// A Key is documented as immutable and safe for concurrent use. Run with
// -race: MarshalPrivateJWK must not write to the signer while other
// goroutines sign or export with it.
func TestKeyConcurrentUse(t *testing.T) {
	handBuilt, err := NewKey(ktHandBuiltRSA(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	// ref is a Key on the same material whose export gives the expected
	// value, so that k itself is first used concurrently.
	handBuiltRef, err := NewKey(ktHandBuiltRSA(), RS256)
	if err != nil {
		t.Fatal(err)
	}
	opaque := ktMustNewKey(t, &ktOpaqueSigner{inner: ktMustGenerateEC(t)}, ES256)
	cases := []struct {
		name   string
		k, ref *Key
	}{
		{"ES256", testKey(t, ES256), testKey(t, ES256)},
		{"EdDSA", testKey(t, EdDSA), testKey(t, EdDSA)},
		{"PS256", testKey(t, PS256), testKey(t, PS256)},
		{"hand-built RSA", handBuilt, handBuiltRef},
		{"opaque ES256", opaque, opaque},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			want, wantErr := tc.ref.MarshalPrivateJWK()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := 0; i < 8; i++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					got, err := k.MarshalPrivateJWK()
					if string(got) != string(want) || (err == nil) != (wantErr == nil) {
						errs <- fmt.Errorf("concurrent MarshalPrivateJWK differs from the reference (err %v)", err)
					}
					_ = k.String() + k.Thumbprint() + string(k.PublicJWK())
				}()
				go func() {
					defer wg.Done()
					if _, err := k.Proof("GET", "https://rs.example.com/"); err != nil {
						errs <- err
					}
					if _, err := k.WithAlgorithm(k.Algorithm()); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// MarshalPrivateJWK only reads the key: exporting does not change the
// signer the application handed to NewKey. (Writing to it is what makes
// concurrent exports race, see TestKeyConcurrentUse.)
func TestMarshalPrivateJWKDoesNotModifySigner(t *testing.T) {
	priv := ktHandBuiltRSA()
	k, err := NewKey(priv, PS256)
	if err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprintf("%v %v %v", priv.Precomputed.Dp, priv.Precomputed.Dq, priv.Precomputed.Qinv)
	jwk, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	after := fmt.Sprintf("%v %v %v", priv.Precomputed.Dp, priv.Precomputed.Dq, priv.Precomputed.Qinv)
	if before != after {
		t.Error("MarshalPrivateJWK wrote CRT values into the signer given to NewKey")
	}
	// The export is still complete and correct.
	m := ktJWKMembers(t, jwk)
	want := ktRSA()
	want.Precompute()
	for name, v := range map[string]*big.Int{"dp": want.Precomputed.Dp, "dq": want.Precomputed.Dq, "qi": want.Precomputed.Qinv} {
		if m[name] != base64.RawURLEncoding.EncodeToString(v.Bytes()) {
			t.Errorf("exported %s is wrong", name)
		}
	}
}

// An *rsa.PrivateKey whose private part does not match its modulus is
// either refused by NewKey or reported by MarshalPrivateJWK; nothing
// panics.
func TestKeyInvalidRSASigner(t *testing.T) {
	good := ktHandBuiltRSA()
	bad := &rsa.PrivateKey{
		PublicKey: good.PublicKey,
		D:         good.D,
		Primes:    []*big.Int{good.Primes[0], new(big.Int).Add(good.Primes[1], big.NewInt(2))},
	}
	k, err := NewKey(bad, RS256)
	if err != nil {
		return // refused up front: fine
	}
	if _, err := k.Proof("GET", "https://rs.example.com/"); err == nil {
		t.Error("Proof with an inconsistent RSA key succeeded")
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("MarshalPrivateJWK panicked on an inconsistent RSA key: %v", r)
			}
		}()
		if jwk, err := k.MarshalPrivateJWK(); err == nil {
			t.Errorf("MarshalPrivateJWK of an inconsistent RSA key = %.60s..., want an error", jwk)
		}
	}()
}

func ktMustNewKey(t testing.TB, s crypto.Signer, alg Algorithm) *Key {
	t.Helper()
	k, err := NewKey(s, alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ktMustGenerateEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
