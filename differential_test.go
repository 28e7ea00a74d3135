package dpop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Differential testing against go-jose (test-only dependency).
//
// The property: whenever Verify accepts a proof, go-jose parses the same
// bytes as a compact JWS, finds the same embedded key, verifies the
// signature with it and yields the same payload and thumbprint. Put the
// other way round: wherever go-jose finds the signature invalid, Verify
// refuses. The reverse does not hold, on purpose: Verify is stricter than
// a general JOSE library in the ways TestDifferentialGoJoseDifferences
// lists.
//
// One difference goes the other way: go-jose v4 does not know the fully
// specified RFC 9864 name "Ed25519" and refuses such proofs at parsing.
// For those, the key is decoded by go-jose's JWK code and the signature
// checked with crypto/ed25519 over the same signing input.

// dgNow is the fixed clock of these tests; dgURL the request URL.
var dgNow = time.Unix(1_750_000_000, 0)

const dgURL = "https://server.example.com/token"

var dgReq = Request{Method: "POST", URL: dgURL}

// dgAlgs is every signature algorithm go-jose knows that DPoP may use.
var dgAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
}

// dgNoReplay accepts every proof again, so the fuzzer can repeat one.
type dgNoReplay struct{}

func (dgNoReplay) Seen(context.Context, ReplayKey, time.Time) (bool, error) { return false, nil }

func dgVerifier(t testing.TB, cache bool) *Verifier {
	t.Helper()
	opts := VerifierOptions{Replay: dgNoReplay{}, Now: func() time.Time { return dgNow }}
	if !cache {
		opts.HeaderCacheSize = -1
	}
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dgGoJose is go-jose's verdict on a proof: the payload when the JWS
// parses, carries exactly one signature and an embedded jwk, and the
// signature verifies with that jwk.
type dgVerdict struct {
	payload []byte
	key     *jose.JSONWebKey
	alg     string
	err     error
	parsed  bool // false when ParseSignedCompact refused the input
}

func dgGoJose(proof string) dgVerdict {
	obj, err := jose.ParseSignedCompact(proof, dgAlgs)
	if err != nil {
		return dgVerdict{err: err}
	}
	v := dgVerdict{parsed: true}
	if len(obj.Signatures) != 1 {
		v.err = errors.New("not exactly one signature")
		return v
	}
	h := obj.Signatures[0].Protected
	v.alg = h.Algorithm
	if h.JSONWebKey == nil {
		v.err = errors.New("no embedded jwk")
		return v
	}
	pub := h.JSONWebKey.Public()
	v.key = &pub
	v.payload, v.err = obj.Verify(&pub)
	return v
}

// dgEd25519Fallback checks a proof whose alg is "Ed25519", which go-jose
// does not parse: go-jose decodes the jwk, crypto/ed25519 the signature.
func dgEd25519Fallback(t *testing.T, proof string, p *Proof) {
	t.Helper()
	d1 := strings.IndexByte(proof, '.')
	d2 := strings.LastIndexByte(proof, '.')
	hdrJSON, err := base64.RawURLEncoding.DecodeString(proof[:d1])
	if err != nil {
		t.Fatalf("accepted a proof whose header go-jose's decoder refuses: %v", err)
	}
	var hdr struct {
		JWK *jose.JSONWebKey `json:"jwk"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil || hdr.JWK == nil {
		t.Fatalf("accepted an Ed25519 proof whose jwk go-jose cannot read: %v", err)
	}
	pub, ok := hdr.JWK.Key.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("accepted an Ed25519 proof whose jwk go-jose reads as %T", hdr.JWK.Key)
	}
	sig, err := base64.RawURLEncoding.DecodeString(proof[d2+1:])
	if err != nil || !ed25519.Verify(pub, []byte(proof[:d2]), sig) {
		t.Fatal("accepted an Ed25519 proof whose signature does not verify with go-jose's key")
	}
	dgSameKey(t, hdr.JWK, p)
}

func dgSameKey(t *testing.T, k *jose.JSONWebKey, p *Proof) {
	t.Helper()
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatalf("go-jose cannot compute the thumbprint of an accepted key: %v", err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != p.JKT {
		t.Fatalf("thumbprint: go-jose %s, dpop %s", got, p.JKT)
	}
	if !dgKeyEqual(k.Key, p.PublicKey) {
		t.Fatalf("go-jose's key %T differs from dpop's %T", k.Key, p.PublicKey)
	}
}

func dgKeyEqual(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	case *rsa.PublicKey:
		return a.Equal(b)
	}
	return false
}

// dgCheck runs both verifiers on proof and fails on a disagreement.
func dgCheck(t *testing.T, v *Verifier, proof string) {
	t.Helper()
	p, err := v.Verify(context.Background(), proof, dgReq)
	if err != nil {
		return
	}
	g := dgGoJose(proof)
	if !g.parsed && p.Algorithm == Ed25519 {
		dgEd25519Fallback(t, proof, p)
		return
	}
	if g.err != nil {
		t.Fatalf("dpop accepts a proof (alg %s) that go-jose refuses: %v\nproof: %q", p.Algorithm, g.err, proof)
	}
	if g.alg != string(p.Algorithm) {
		t.Fatalf("alg: go-jose %q, dpop %q", g.alg, p.Algorithm)
	}
	if !bytes.Equal(g.payload, p.Claims) {
		t.Fatalf("payload: go-jose %q, dpop %q", g.payload, p.Claims)
	}
	dgSameKey(t, g.key, p)
}

// dgAllAlgorithms is every algorithm dpop signs with, both Ed25519 names
// included.
var dgAllAlgorithms = []Algorithm{ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512}

func dgProof(t testing.TB, alg Algorithm) string {
	t.Helper()
	p, err := testKey(t, alg).Proof("POST", dgURL, WithIssuedAt(dgNow))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func FuzzDifferentialGoJose(f *testing.F) {
	for _, alg := range dgAllAlgorithms {
		f.Add(dgProof(f, alg))
	}
	for _, c := range dgDifferences(f) {
		f.Add(c.proof)
	}
	cached, fresh := dgVerifier(f, true), dgVerifier(f, false)
	f.Fuzz(func(t *testing.T, proof string) {
		dgCheck(t, fresh, proof)
		dgCheck(t, cached, proof)
	})
}

// TestDifferentialSeeds checks that every seed is accepted by both sides,
// so the fuzzer starts from proofs that pass.
func TestDifferentialSeeds(t *testing.T) {
	v := dgVerifier(t, false)
	for _, alg := range dgAllAlgorithms {
		p := dgProof(t, alg)
		if _, err := v.Verify(context.Background(), p, dgReq); err != nil {
			t.Fatalf("%s: dpop refuses its own proof: %v", alg, err)
		}
		g := dgGoJose(p)
		if alg == Ed25519 {
			if g.parsed {
				t.Errorf("go-jose now parses alg Ed25519; the fallback in dgCheck can go")
			}
		} else if g.err != nil {
			t.Errorf("%s: go-jose refuses a valid proof: %v", alg, g.err)
		}
		dgCheck(t, v, p)
	}
}

// ---- deliberate differences ----

type dgCase struct {
	name   string
	proof  string
	dpop   bool // whether dpop accepts
	gojose bool // whether go-jose verifies the signature with the jwk
	note   string
}

// dgSignInput signs a signing input with k and returns the compact JWS.
func dgSignInput(t testing.TB, k *Key, input string) string {
	t.Helper()
	sig, err := k.sign(rand.Reader, nil, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// dgClaims is a valid claims set for dgReq at dgNow.
func dgClaims(extra string) string { return claimsJSON("POST", dgURL, dgNow, extra) }

// dgDirty sets unused low bits in the last character of an unpadded
// base64url string whose length is not a multiple of four.
func dgDirty(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i|1])
}

// dgHeaderOf returns k's header JSON with extra members spliced in
// before the closing brace.
func dgHeaderOf(k *Key, extra string) string {
	h := headerJSON(k)
	return h[:len(h)-1] + extra + "}"
}

func dgB64Int(b *big.Int) string { return base64.RawURLEncoding.EncodeToString(b.Bytes()) }

func dgDifferences(t testing.TB) []dgCase {
	es := testKey(t, ES256)
	ed := testKey(t, Ed25519)
	ps := testKey(t, PS256)
	var cs []dgCase
	add := func(name, proof string, dpop, gojose bool, note string) {
		cs = append(cs, dgCase{name: name, proof: proof, dpop: dpop, gojose: gojose, note: note})
	}

	valid := craft(t, es, headerJSON(es), dgClaims(""))
	add("valid ES256 (control)", valid, true, true, "")

	// Encoding.
	add("signature with non-zero unused base64 bits", dgDirty(valid), false, true,
		"go-jose decodes with the non-strict RawURLEncoding")
	seg := b64url(headerJSON(es))
	for pad := 1; len(seg)%4 == 0; pad++ { // need spare bits in the last character
		seg = b64url(dgHeaderOf(es, `,"x":"`+strings.Repeat("a", pad)+`"`))
	}
	claimsSeg := b64url(dgClaims(""))
	add("header with non-zero unused base64 bits, signed as sent", dgSignInput(t, es, dgDirty(seg)+"."+claimsSeg), false, false,
		"go-jose re-encodes the decoded header for the signing input, so the signature over the bytes as sent fails")
	canon := dgSignInput(t, es, seg+"."+claimsSeg)
	add("header with non-zero unused base64 bits, signed canonically", dgDirty(seg)+canon[len(seg):], false, true,
		"go-jose verifies over the canonical re-encoding, not the bytes received")
	i := strings.LastIndexByte(valid, '.')
	add("CRLF inside the signature segment", valid[:i+10]+"\r\n"+valid[i+10:], false, true,
		"Go's base64 decoders skip CR and LF")
	add("padded signature segment", valid+"==", false, false, "")

	// JSON.
	add("duplicate alg in the header", craft(t, es, `{"typ":"dpop+jwt","alg":"RS256","alg":"ES256","jwk":`+string(es.PublicJWK())+`}`, dgClaims("")), false, false,
		"go-jose's JSON decoder refuses duplicate members too")
	add("duplicate jti in the claims", craft(t, es, headerJSON(es), dgClaims(`"jti":"second"`)), false, true,
		"go-jose does not read the payload; any JWT layer on top decides")
	add("invalid UTF-8 in a header string", craft(t, es, dgHeaderOf(es, `,"x":"`+"\xff"+`"`), dgClaims("")), false, true,
		"encoding/json replaces invalid UTF-8 with U+FFFD")

	// Header parameters.
	add("crit naming b64 (b64 true)", craft(t, es, dgHeaderOf(es, `,"b64":true,"crit":["b64"]`), dgClaims("")), false, true,
		"go-jose understands the b64 extension; DPoP defines no extension, so dpop refuses any crit")
	add("crit naming an unknown extension", craft(t, es, dgHeaderOf(es, `,"exp":1,"crit":["exp"]`), dgClaims("")), false, false, "")
	add("typ JWT", craft(t, es, `{"typ":"JWT","alg":"ES256","jwk":`+string(es.PublicJWK())+`}`, dgClaims("")), false, true,
		"typ is not part of JWS verification")

	// Keys.
	priv, _ := es.MarshalPrivateJWK()
	add("private key (d) in the jwk", craft(t, es, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(priv)+`}`, dgClaims("")), false, false,
		"go-jose refuses an embedded private key too")
	ecPub := es.Public().(*ecdsa.PublicKey)
	raw, _ := ecPub.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	longX := enc(append([]byte{0}, raw[1:33]...))
	add("EC x with a leading zero octet", craft(t, es, `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"`+longX+`","y":"`+enc(raw[33:])+`"}}`, dgClaims("")), false, false, "")
	add("jwk with a conflicting alg member", craft(t, es, `{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","alg":"RS256","x":"`+enc(raw[1:33])+`","y":"`+enc(raw[33:])+`"}}`, dgClaims("")), true, true,
		"both ignore the jwk's own alg")
	rsaPub := ps.Public().(*rsa.PublicKey)
	nz := enc(append([]byte{0}, rsaPub.N.Bytes()...))
	add("RSA n with a leading zero octet", craft(t, ps, `{"typ":"dpop+jwt","alg":"PS256","jwk":{"kty":"RSA","e":"AQAB","n":"`+nz+`"}}`, dgClaims("")), false, true,
		"go-jose reads n as a big integer; dpop wants one encoding per key, so the thumbprint of the members as sent is the key's")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallIn := b64url(`{"typ":"dpop+jwt","alg":"RS256","jwk":{"kty":"RSA","e":"AQAB","n":"`+dgB64Int(small.N)+`"}}`) + "." + b64url(dgClaims(""))
	sum := sha256.Sum256([]byte(smallIn))
	smallSig, _ := rsa.SignPKCS1v15(rand.Reader, small, crypto.SHA256, sum[:])
	add("RSA-1024 key", smallIn+"."+enc(smallSig), false, true,
		"dpop requires 2048 to 4096 bits before any exponentiation")

	// Signatures.
	psIn := b64url(headerJSON(ps)) + "." + b64url(dgClaims(""))
	psSum := sha256.Sum256([]byte(psIn))
	psSig, err := rsa.SignPSS(rand.Reader, ps.signer.(*rsa.PrivateKey), crypto.SHA256, psSum[:], &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	add("PS256 with a 20-octet salt", psIn+"."+enc(psSig), false, true,
		"RFC 7518 §3.5 fixes the salt length to the hash size; go-jose verifies with any salt length")
	add("ES256 high-S twin of a valid signature", dgHighS(t, valid), true, true,
		"crypto/ecdsa accepts both; a twin has the same jkt and jti, so the replay store refuses it after the original")
	add("alg Ed25519 (RFC 9864)", craft(t, ed, headerJSON(ed), dgClaims("")), true, false,
		"go-jose v4 knows only EdDSA; dpop accepts both names")
	return cs
}

// dgHighS returns the proof with its ECDSA P-256 signature's s replaced by
// n-s, the other valid signature of the same message.
func dgHighS(t testing.TB, proof string) string {
	t.Helper()
	i := strings.LastIndexByte(proof, '.')
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatal("not an ES256 signature")
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	return proof[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// TestDifferentialGoJoseDifferences records, case by case, where dpop and
// go-jose part ways. Every case where go-jose verifies and dpop refuses is
// a deliberate strictness; the one the other way round (alg Ed25519) is a
// gap in go-jose v4.1.9.
func TestDifferentialGoJoseDifferences(t *testing.T) {
	v := dgVerifier(t, false)
	for _, c := range dgDifferences(t) {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.proof, dgReq)
			g := dgGoJose(c.proof)
			if got := err == nil; got != c.dpop {
				t.Errorf("dpop accepts: %v, want %v (err %v)", got, c.dpop, err)
			}
			if got := g.err == nil; got != c.gojose {
				t.Errorf("go-jose verifies: %v, want %v (err %v)", got, c.gojose, g.err)
			}
			t.Logf("dpop: %v; go-jose: %v", errOrOK(err), errOrOK(g.err))
			dgCheck(t, v, c.proof)
		})
	}
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
