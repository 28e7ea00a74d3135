package dpop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets for the verifier, the JWK readers and ProofFromHeader. Each
// checks, besides "never panics", that an accepted input is consistent with
// an independent reading by the standard library: encoding/json for the
// JSON, crypto/ecdsa, crypto/ed25519 and crypto/rsa for the signature.

// fzKeyJWK is a fixed ES256 key. Fuzz workers are separate processes, and a
// seed whose header embeds the key's jwk must match the key every worker
// signs with.
const fzKeyJWK = `{"kty":"EC","crv":"P-256","x":"4_CCqDiqtnQyWmK28LIjnYhoyPxuUUiRU_U54UElUyk","y":"Ap-nEKp3uubjjIFlj5yWtmJsvZqsraS-aRaQeBGntRw","d":"gVipJruo2QhPEUaesKnaQj-TiPNO_DpwJ5pJllIWiR0"}`

var fzKeyOnce = sync.OnceValues(func() (*Key, error) { return ParseKey([]byte(fzKeyJWK)) })

func fzKey(t testing.TB) *Key {
	t.Helper()
	k, err := fzKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fzNoReplay never reports a replay, so that the verdict on a fuzz input
// does not depend on the inputs tried before it.
type fzNoReplay struct{}

func (fzNoReplay) Seen(context.Context, ReplayKey, time.Time) (bool, error) { return false, nil }

// fzTarget is a request and a clock, with two verifiers: one with the
// header cache and one without.
type fzTarget struct {
	name          string
	at            int64
	req           Request
	cached, fresh *Verifier
}

func fzTargets(t testing.TB) []fzTarget {
	t.Helper()
	rs := "https://resource.example.org/protectedresource"
	ts := []fzTarget{
		{name: "token endpoint now", at: atkNow, req: Request{Method: "POST", URL: atkURL}},
		{name: "RFC token endpoint", at: rfcTokenIAT, req: Request{Method: "POST", URL: "https://server.example.com/token"}},
		{name: "RFC refresh", at: rfcRefreshIAT, req: Request{Method: "POST", URL: "https://server.example.com/token"}},
		{name: "RFC resource", at: rfcResourceIAT, req: Request{Method: "GET", URL: rs, AccessToken: rfcAccessToken, BoundKey: rfcJKT}},
	}
	for i := range ts {
		ts[i].cached, _ = newTestVerifier(t, ts[i].at, VerifierOptions{Replay: fzNoReplay{}})
		ts[i].fresh, _ = newTestVerifier(t, ts[i].at, VerifierOptions{Replay: fzNoReplay{}, HeaderCacheSize: -1})
	}
	return ts
}

// fzSentinel returns the one sentinel in err's chain, failing when there
// is none or more than one, or when err is not a well-formed *Error with
// its evidence.
func fzSentinel(t *testing.T, err error) error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	switch e.Code {
	case CodeInvalidProof, CodeInvalidToken, CodeUseNonce, CodeTemporarilyUnavailable:
	default:
		t.Fatalf("error %v has the unexpected code %q", err, e.Code)
	}
	// Every refusal carries its evidence, within bounds.
	if e.Check == "" || e.Expected == "" || e.Got == "" {
		t.Fatalf("error %v lacks evidence: check %q, expected %q, got %q", err, e.Check, e.Expected, e.Got)
	}
	if len(e.Expected) > 512 || len(e.Got) > 512 {
		t.Fatalf("error %v has oversized evidence (%d, %d bytes)", err, len(e.Expected), len(e.Got))
	}
	var found error
	for _, s := range atkSentinels {
		if errors.Is(err, s) {
			if found != nil {
				t.Fatalf("error %v wraps both %v and %v", err, found, s)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	return found
}

// fzStdVerify checks a JWS signature with the standard library alone.
func fzStdVerify(alg Algorithm, pub crypto.PublicKey, input string, sig []byte) bool {
	var h crypto.Hash
	var curve elliptic.Curve
	switch alg {
	case ES256:
		h, curve = crypto.SHA256, elliptic.P256()
	case ES384:
		h, curve = crypto.SHA384, elliptic.P384()
	case ES512:
		h, curve = crypto.SHA512, elliptic.P521()
	case RS256, PS256:
		h = crypto.SHA256
	case RS384, PS384:
		h = crypto.SHA384
	case RS512, PS512:
		h = crypto.SHA512
	}
	digest := func() []byte {
		w := h.New()
		w.Write([]byte(input))
		return w.Sum(nil)
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return (alg == EdDSA || alg == Ed25519) && ed25519.Verify(k, []byte(input), sig)
	case *ecdsa.PublicKey:
		if curve == nil || k.Curve != curve {
			return false
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest(), r, s)
	case *rsa.PublicKey:
		switch alg {
		case RS256, RS384, RS512:
			return rsa.VerifyPKCS1v15(k, h, digest(), sig) == nil
		case PS256, PS384, PS512:
			return rsa.VerifyPSS(k, h, digest(), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
	}
	return false
}

// fzClaims is the claims object as encoding/json reads it into a struct:
// member names matched case-insensitively, the last duplicate winning.
// Only the required claims are in it: a lone case variant of one of them
// makes the claim missing, so an accepted proof has none. (A lone "ATH" or
// "Nonce" is an ignored unknown member by design.)
type fzClaims struct {
	JTI string      `json:"jti"`
	HTM string      `json:"htm"`
	HTU string      `json:"htu"`
	IAT json.Number `json:"iat"`
}

// fzClaimsAgree checks that encoding/json reads the accepted claims raw
// exactly as the verifier did.
func fzClaimsAgree(t *testing.T, raw []byte, p *Proof) {
	t.Helper()
	if !json.Valid(raw) {
		t.Fatalf("accepted claims are not valid JSON: %q", raw)
	}
	if !bytes.Equal(p.Claims, raw) {
		t.Fatalf("Proof.Claims = %q, want the decoded payload %q", p.Claims, raw)
	}
	var c fzClaims
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("encoding/json cannot read accepted claims %q: %v", raw, err)
	}
	if c.JTI != p.JTI || c.HTM != p.HTM || c.HTU != p.HTU {
		t.Fatalf("encoding/json reads %+v, the verifier read jti=%q htm=%q htu=%q (claims %q)", c, p.JTI, p.HTM, p.HTU, raw)
	}
	// The optional claims, by their exact names.
	var exact struct {
		ATH   *string `json:"ath"`
		Nonce *string `json:"nonce"`
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for name, dst := range map[string]**string{"ath": &exact.ATH, "nonce": &exact.Nonce} {
		if v, ok := m[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				t.Fatalf("accepted %s %s: %v", name, v, err)
			}
		}
	}
	if deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}; deref(exact.ATH) != p.ATH || deref(exact.Nonce) != p.Nonce {
		t.Fatalf("encoding/json reads ath %v nonce %v, the verifier read %q %q", exact.ATH, exact.Nonce, p.ATH, p.Nonce)
	}
	f, err := strconv.ParseFloat(string(c.IAT), 64)
	if err != nil {
		t.Fatalf("iat %q: %v", c.IAT, err)
	}
	sec, frac := math.Modf(f)
	if want := time.Unix(int64(sec), int64(frac*1e9)); !p.IssuedAt.Equal(want) {
		t.Fatalf("IssuedAt = %v, encoding/json reads iat %s = %v", p.IssuedAt, c.IAT, want)
	}
}

// fzCheckAccepted checks an accepted proof against the request and against
// an independent decoding and signature check.
func fzCheckAccepted(t *testing.T, proof string, req Request, now time.Time, p *Proof) {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a proof with %d segments", len(parts))
	}
	dec := base64.RawURLEncoding.Strict()
	hdrRaw, err1 := dec.DecodeString(parts[0])
	claimsRaw, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || strings.ContainsAny(proof, "\r\n") {
		t.Fatalf("accepted a proof that is not strict base64url: %v", err)
	}
	var hdr struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	if !json.Valid(hdrRaw) || json.Unmarshal(hdrRaw, &hdr) != nil {
		t.Fatalf("encoding/json cannot read the accepted header %q", hdrRaw)
	}
	var hdrMap map[string]json.RawMessage
	if err := json.Unmarshal(hdrRaw, &hdrMap); err != nil {
		t.Fatal(err)
	}
	if _, ok := hdrMap["crit"]; ok {
		t.Fatalf("accepted a header with crit: %q", hdrRaw)
	}
	if hdr.Typ != "dpop+jwt" || hdr.Alg != string(p.Algorithm) {
		t.Fatalf("encoding/json reads typ %q alg %q; the verifier accepted alg %q (header %q)", hdr.Typ, hdr.Alg, p.Algorithm, hdrRaw)
	}
	if jkt, err := Thumbprint(hdr.JWK); err != nil || jkt != p.JKT {
		t.Fatalf("Thumbprint(header jwk) = %q, %v; Proof.JKT = %q", jkt, err, p.JKT)
	}
	fzClaimsAgree(t, claimsRaw, p)
	if p.HTM != req.Method {
		t.Fatalf("HTM %q accepted for method %q", p.HTM, req.Method)
	}
	if strings.ContainsAny(p.HTU, "?#") {
		t.Fatalf("htu %q with a query or fragment accepted", p.HTU)
	}
	if a, err1 := NormalizeURL(p.HTU); err1 != nil {
		t.Fatalf("accepted htu %q does not normalise: %v", p.HTU, err1)
	} else if b, err2 := NormalizeURL(req.URL); err2 != nil || a != b {
		t.Fatalf("htu %q (%q) accepted for %q (%q, %v)", p.HTU, a, req.URL, b, err2)
	}
	if p.IssuedAt.Before(now.Add(-DefaultMaxAge-DefaultLeeway)) || p.IssuedAt.After(now.Add(DefaultLeeway)) {
		t.Fatalf("iat %v accepted at %v", p.IssuedAt, now)
	}
	if req.AccessToken != "" && p.ATH != AccessTokenHash(req.AccessToken) {
		t.Fatalf("ath %q accepted for token %q", p.ATH, req.AccessToken)
	}
	if req.BoundKey != "" && p.JKT != req.BoundKey {
		t.Fatalf("key %q accepted for a token bound to %q", p.JKT, req.BoundKey)
	}
	if p.JTI == "" || len(p.JTI) > MaxJTILength {
		t.Fatalf("jti of %d bytes accepted", len(p.JTI))
	}
	if !fzStdVerify(p.Algorithm, p.PublicKey, parts[0]+"."+parts[1], sig) {
		t.Fatalf("the standard library refuses the signature of an accepted %s proof %q", p.Algorithm, proof)
	}
}

func fzSameProof(a, b *Proof) bool {
	return a.Algorithm == b.Algorithm && a.JKT == b.JKT && a.JTI == b.JTI && a.HTM == b.HTM && a.HTU == b.HTU &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Nonce == b.Nonce && a.ATH == b.ATH && bytes.Equal(a.Claims, b.Claims)
}

// fzVerify runs one proof through a target: with a cold cache, without a
// cache, and with a warm cache. The three verdicts must agree.
func fzVerify(t *testing.T, tg fzTarget, proof string) {
	t.Helper()
	ctx := context.Background()
	p1, err1 := tg.cached.Verify(ctx, proof, tg.req)
	p2, err2 := tg.fresh.Verify(ctx, proof, tg.req)
	p3, err3 := tg.cached.Verify(ctx, proof, tg.req)
	if (err1 == nil) != (err2 == nil) || (err1 == nil) != (err3 == nil) {
		t.Fatalf("%s: verdicts differ: cold cache %v, no cache %v, warm cache %v", tg.name, err1, err2, err3)
	}
	if err1 != nil {
		s1, s2, s3 := fzSentinel(t, err1), fzSentinel(t, err2), fzSentinel(t, err3)
		if s1 != s2 || s1 != s3 || ErrorCode(err1) != ErrorCode(err2) || ErrorCode(err1) != ErrorCode(err3) {
			t.Fatalf("%s: errors differ: cold cache %v, no cache %v, warm cache %v", tg.name, err1, err2, err3)
		}
		if p1 != nil || p2 != nil || p3 != nil {
			t.Fatalf("%s: a Proof came with an error", tg.name)
		}
		if len(proof) >= 16 && strings.Contains(err1.Error(), proof) {
			t.Fatalf("%s: the error echoes the proof", tg.name)
		}
		return
	}
	if !fzSameProof(p1, p2) || !fzSameProof(p1, p3) {
		t.Fatalf("%s: results differ: %+v, %+v, %+v", tg.name, p1, p2, p3)
	}
	fzCheckAccepted(t, proof, tg.req, time.Unix(tg.at, 0), p1)
}

// fzAttackSeeds returns one input per attack class of docs/conformance.md.
func fzAttackSeeds(t testing.TB) []string {
	k := testKey(t, ES256)
	rsaK := atkKey(t, RS256)
	valid := atkProof(t, k)
	sig := atkDec(t, atkSeg(valid, 2))
	jwk := atkJWKM(string(k.PublicJWK()))
	m := atkMembers(t, k.PublicJWK())
	claims := atkClaims()
	n := elliptic.P256().Params().N
	s2 := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
	twin := atkRawSig(valid, append(append([]byte{}, sig[:32]...), s2.FillBytes(make([]byte, 32))...))
	yPlus1 := new(big.Int).Add(new(big.Int).SetBytes(atkDec(t, m["y"])), big.NewInt(1)).FillBytes(make([]byte, 32))
	der := append([]byte{0x30, 0x44, 0x02, 0x20}, sig[:32]...)
	der = append(append(der, 0x02, 0x20), sig[32:]...)
	in := b64url(atkObj(atkTyp, atkAlg("HS256"), jwk)) + "." + b64url(claims)
	mac := hmac.New(sha256.New, k.PublicJWK())
	mac.Write([]byte(in))
	return []string{
		b64url(atkObj(atkTyp, atkAlg("none"), jwk)) + "." + b64url(claims) + ".",                                    // 1
		in + "." + atkEnc(mac.Sum(nil)),                                                                             // 2
		craft(t, k, atkObj(atkTyp, atkAlg("ES384"), jwk), claims),                                                   // 3
		craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(string(k.PublicJWK()), `"d":"AAAA"`))), claims), // 4
		atkRawSig(valid, make([]byte, 64)),                                                                          // 5
		atkRawSig(valid, der),                                                                                       // 6
		twin,                                                                                                        // 7
		craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}`, m["x"], atkEnc(yPlus1)))), claims), // 8
		craft(t, rsaK, atkObj(atkTyp, atkAlg("RS256"), atkJWKM(fmt.Sprintf(`{"kty":"RSA","n":"%s","e":"AQ"}`, atkEnc(atkModulus(1024))))), claims),         // 9
		valid + strings.Repeat(".", 200),                                                          // 10
		craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkAlg("none"), jwk), claims),                 // 11
		atkProof(t, k, `"htu":"https://evil.example/token","HTU":"`+atkURL+`"`),                   // 12
		craft(t, k, atkHeader(k, `"crit":["b64"]`, `"b64":false`), claims),                        // 13
		craft(t, k, atkObj(atkTyp, atkAlg("ES256"), `"jku":"https://evil.example/jwks"`), claims), // 14
		valid + "==", // 15
		valid + ".",  // 16
		craft(t, k, atkObj(`"typ":"JWT"`, atkAlg("ES256"), jwk), claims), // 17
		atkProof(t, k, `"htm":"post"`),                                   // 18
		atkProof(t, k, atkStr("htu", atkURL+"?x=1")),                     // 19
		atkProof(t, k, `"iat":"1700000000"`),                             // 20
		atkProof(t, k, `"jti":""`),                                       // 21
		valid,                                                            // 22
		atkProof(t, k, atkStr("ath", rfcATH+"=")),                        // 23
		atkProof(t, k, atkStr("nonce", "abc def")),                       // 24
		valid + ", " + valid,                                             // 25
		"DPoP " + valid,                                                  // 26, 29
		atkProof(t, k, atkStr("ath", rfcATH)),                            // 27, 28
		craft(t, k, atkObj(atkAlg("ES256"), atkJWKM(`{"y":"`+m["y"]+`","kid":"1","x":"`+m["x"]+`","kty":"EC","crv":"P-256"}`), atkTyp), claims), // 30
		rfcTokenProof,                                        // 31
		atkProof(t, k, `"jti":"a`+"\xff"+`"`),                // 32
		craft(t, k, atkHeader(k, `"kid":"flood-1"`), claims), // 33
		atkProof(t, rsaK),                                    // 34
		atkRFCAccessTokenJWT,
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(rfcTokenProof)
	f.Add(rfcRefreshProof)
	f.Add(rfcResourceProof)
	for _, alg := range []Algorithm{ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512} {
		p, err := atkKey(f, alg).Proof("POST", atkURL, WithIssuedAt(atkTime()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	for _, s := range fzAttackSeeds(f) {
		f.Add(s)
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.AA")
	targets := fzTargets(f)
	f.Fuzz(func(t *testing.T, proof string) {
		for _, tg := range targets {
			fzVerify(t, tg, proof)
		}
	})
}

// FuzzVerifyParts signs arbitrary header and claims bytes with a fixed key,
// so that the fuzzer explores the JSON readers behind a valid signature.
func FuzzVerifyParts(f *testing.F) {
	k := fzKey(f)
	hdr := atkHeader(k)
	claims := atkObj(`"jti":"seed-1"`, `"htm":"POST"`, atkStr("htu", atkURL), fmt.Sprintf(`"iat":%d`, atkNow))
	withClaims := func(members ...string) string { return atkWith(claims, members...) }
	for _, s := range [][2]string{
		{hdr, claims},
		{atkHeader(k, `"kid":"k"`, `"x5u":"https://evil.example/"`), withClaims(`"ath":"`+rfcATH+`"`, `"nonce":"n"`, `"foo":{"a":[1,2.5e3,true,null]}`)},
		{" {\n\"typ\" : \"dpop+jwt\", \"alg\":\"ES256\",\"jwk\":" + string(k.PublicJWK()) + "}\t", " " + claims + "\n"},
		{atkWith(hdr, atkAlg("none")), claims},
		{atkWith(hdr, `"ALG":"none"`), claims},
		{atkWith(hdr, `"crit":["b64"]`), claims},
		{atkWith(hdr, `"Typ":"JWT"`), claims},
		{strings.Replace(hdr, `"typ"`, `"\u0074yp"`, 1), claims},
		{strings.Replace(hdr, `"kty"`, `"\u212Aty"`, 1), claims},
		{atkWith(hdr, `"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`), claims},
		{hdr, withClaims(`"HTU":"https://evil.example/"`)},
		{hdr, withClaims(`"htm":"GET"`)},
		{hdr, strings.Replace(claims, `"htu"`, `"h\u0074u"`, 1)},
		{hdr, strings.Replace(claims, `"htu"`, `"h\u0054u"`, 1)},
		{hdr, strings.Replace(claims, `"jti":"seed-1"`, `"jti":"a\ud800"`, 1)},
		{hdr, strings.Replace(claims, `"jti":"seed-1"`, `"jti":"\ud83d\ude00"`, 1)},
		{hdr, strings.Replace(claims, `"jti":"seed-1"`, "\"jti\":\"\xff\"", 1)},
		{hdr, strings.Replace(claims, fmt.Sprint(atkNow), "1700000000.5", 1)},
		{hdr, strings.Replace(claims, fmt.Sprint(atkNow), "1.7e9", 1)},
		{hdr, strings.Replace(claims, fmt.Sprint(atkNow), `"1700000000"`, 1)},
		{hdr, strings.Replace(claims, fmt.Sprint(atkNow), "17000000000000000000000000e-16", 1)},
		{hdr, strings.Replace(claims, atkURL, "HTTPS://SERVER.example.com:443/a/../%74oken", 1)},
		{hdr, claims + "x"},
		{"\ufeff" + hdr, claims},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	v, _ := newTestVerifier(f, atkNow, VerifierOptions{Replay: fzNoReplay{}})
	req := Request{Method: "POST", URL: atkURL}
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		in := atkEnc(header) + "." + atkEnc(claims)
		sig, err := k.sign(rand.Reader, nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		proof := in + "." + atkEnc(sig)
		p, err := v.Verify(context.Background(), proof, req)
		if err != nil {
			fzSentinel(t, err)
			if p != nil {
				t.Fatal("a Proof came with an error")
			}
			return
		}
		if p.JKT != k.Thumbprint() || p.Algorithm != ES256 {
			t.Fatalf("accepted as %s key %s; only %s could have signed", p.Algorithm, p.JKT, k.Thumbprint())
		}
		fzCheckAccepted(t, proof, req, atkTime(), p)
		// Names are unambiguous: no two members of the header, its jwk
		// or the claims are equal under the folding encoding/json uses
		// (bytes.EqualFold), so no case-insensitive reader can pick
		// another member than the verifier did.
		var hm map[string]json.RawMessage
		if err := json.Unmarshal(header, &hm); err != nil {
			t.Fatalf("encoding/json cannot read accepted header %q: %v", header, err)
		}
		for _, raw := range [][]byte{header, hm["jwk"], claims} {
			var names []string
			d := json.NewDecoder(bytes.NewReader(raw))
			if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
				t.Fatalf("accepted %q is not an object", raw)
			}
			for d.More() {
				tok, err := d.Token()
				if err != nil {
					t.Fatal(err)
				}
				var skip json.RawMessage
				if err := d.Decode(&skip); err != nil {
					t.Fatal(err)
				}
				name := tok.(string)
				for _, prev := range names {
					if strings.EqualFold(prev, name) {
						t.Fatalf("accepted members %q and %q in %q", prev, name, raw)
					}
				}
				names = append(names, name)
			}
		}
	})
}

// fzJWKSeeds are JWKs for FuzzThumbprint and FuzzParseKey.
func fzJWKSeeds(t testing.TB) []string {
	seeds := []string{
		rfcJWK,
		`{"kty":"RSA","n":"` + atkRFC7638N + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`,
		fzKeyJWK,
		`{"kty":"oct","k":"c2VjcmV0"}`,
		`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		`{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`,
		`{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","Y":"x"}`,
		`{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDB"}`,
		`{"kty":"EC","crv":"P-256"}`,
		`{}`,
		`[]`,
	}
	for _, alg := range []Algorithm{ES256, ES384, ES512, EdDSA, Ed25519, RS256, PS384} {
		k := atkKey(t, alg)
		seeds = append(seeds, string(k.PublicJWK()))
		priv, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, string(priv))
	}
	return seeds
}

// fzCanonical computes the RFC 7638 hash input from a JWK read by
// encoding/json.
func fzCanonical(t *testing.T, jwk []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		t.Fatalf("encoding/json cannot read accepted JWK %q: %v", jwk, err)
	}
	str := func(name string) string {
		s, ok := m[name].(string)
		if !ok {
			t.Fatalf("accepted JWK %q has no string %q", jwk, name)
		}
		return s
	}
	b64 := base64.RawURLEncoding.Strict()
	decode := func(name string) []byte {
		s := str(name)
		b, err := b64.DecodeString(s)
		if err != nil || strings.ContainsAny(s, "\r\n") {
			t.Fatalf("accepted JWK %q: %s is not strict base64url", jwk, name)
		}
		return b
	}
	switch kty := str("kty"); kty {
	case "EC":
		crv := str("crv")
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			t.Fatalf("accepted crv %q", crv)
		}
		x, y := decode("x"), decode("y")
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			t.Fatalf("accepted %s coordinates of %d and %d octets", crv, len(x), len(y))
		}
		if _, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...)); err != nil {
			t.Fatalf("accepted an invalid %s point: %v", crv, err)
		}
		return `{"crv":"` + crv + `","kty":"EC","x":"` + str("x") + `","y":"` + str("y") + `"}`
	case "OKP":
		if str("crv") != "Ed25519" || len(decode("x")) != ed25519.PublicKeySize {
			t.Fatalf("accepted OKP key %q", jwk)
		}
		return `{"crv":"Ed25519","kty":"OKP","x":"` + str("x") + `"}`
	case "RSA":
		n, e := decode("n"), decode("e")
		N, E := new(big.Int).SetBytes(n), new(big.Int).SetBytes(e)
		if len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 {
			t.Fatalf("accepted a non-minimal RSA integer in %q", jwk)
		}
		if N.BitLen() < MinRSABits || N.BitLen() > MaxRSABits || N.Bit(0) == 0 {
			t.Fatalf("accepted an RSA modulus of %d bits", N.BitLen())
		}
		if E.Cmp(big.NewInt(3)) < 0 || E.Cmp(big.NewInt(1<<31-1)) > 0 || E.Bit(0) == 0 {
			t.Fatalf("accepted RSA exponent %v", E)
		}
		return `{"e":"` + str("e") + `","kty":"RSA","n":"` + str("n") + `"}`
	default:
		t.Fatalf("accepted kty %q", kty)
	}
	return ""
}

func FuzzThumbprint(f *testing.F) {
	for _, s := range fzJWKSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, jwk []byte) {
		jkt, err := Thumbprint(jwk)
		if err != nil {
			if !errors.Is(err, ErrInvalidJWK) {
				t.Fatalf("Thumbprint error %v does not wrap ErrInvalidJWK", err)
			}
			return
		}
		if len(jkt) != 43 {
			t.Fatalf("thumbprint %q has %d characters", jkt, len(jkt))
		}
		if again, err := Thumbprint(jwk); err != nil || again != jkt {
			t.Fatalf("second Thumbprint = %q, %v; first %q", again, err, jkt)
		}
		sum := sha256.Sum256([]byte(fzCanonical(t, jwk)))
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); jkt != want {
			t.Fatalf("Thumbprint(%q) = %q, independent RFC 7638 computation %q", jwk, jkt, want)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, s := range fzJWKSeeds(f) {
		f.Add([]byte(s))
	}
	priv, err := atkKey(f, EdDSA).MarshalPrivateJWK()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(strings.Replace(string(priv), `"alg":"EdDSA"`, `"alg":"Ed25519"`, 1)))
	f.Add([]byte(strings.Replace(string(priv), `"alg":"EdDSA"`, `"alg":"ES256"`, 1)))
	f.Add([]byte(strings.Replace(string(priv), `"alg":"EdDSA"`, `"alg":"none"`, 1)))
	f.Add([]byte(strings.Replace(fzKeyJWK, `"d":"`, `"d":"A`, 1)))
	v, _ := newTestVerifier(f, atkNow, VerifierOptions{Replay: fzNoReplay{}})
	f.Fuzz(func(t *testing.T, jwk []byte) {
		k, err := ParseKey(jwk)
		if err != nil {
			if !errors.Is(err, ErrInvalidJWK) && !errors.Is(err, ErrUnsupportedAlg) && !errors.Is(err, ErrAlgKeyMismatch) {
				t.Fatalf("ParseKey error %v wraps none of ErrInvalidJWK, ErrUnsupportedAlg, ErrAlgKeyMismatch", err)
			}
			return
		}
		jkt := k.Thumbprint()
		if len(jkt) != 43 {
			t.Fatalf("thumbprint %q", jkt)
		}
		if pub, err := Thumbprint(jwk); err != nil || pub != jkt {
			t.Fatalf("Thumbprint of the private JWK = %q, %v; key thumbprint %q", pub, err, jkt)
		}
		proof, err := k.Proof("POST", atkURL, WithIssuedAt(atkTime()))
		if err != nil {
			t.Fatalf("a parsed key cannot sign: %v", err)
		}
		p, err := v.Verify(context.Background(), proof, Request{Method: "POST", URL: atkURL})
		if err != nil {
			t.Fatalf("proof of a parsed %s key refused: %v", k.Algorithm(), err)
		}
		if p.JKT != jkt || p.Algorithm != k.Algorithm() {
			t.Fatalf("verified as %s %s, key is %s %s", p.Algorithm, p.JKT, k.Algorithm(), jkt)
		}
		// The key survives a round trip through its private JWK.
		out, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseKey(out)
		if err != nil || k2.Thumbprint() != jkt || k2.Algorithm() != k.Algorithm() {
			t.Fatalf("round trip: %v, %v", k2, err)
		}
	})
}

func FuzzProofFromHeader(f *testing.F) {
	valid := atkProof(f, testKey(f, ES256))
	for _, s := range [][2]string{
		{valid, ""},
		{valid, valid},
		{" \t" + valid + " ", ""},
		{valid + ", " + valid, ""},
		{valid + ",", ""},
		{"", ""},
		{" \t ", ""},
		{"", valid},
		{rfcTokenProof, rfcRefreshProof},
		{"a,b", "c"},
	} {
		f.Add(s[0], s[1])
	}
	v, _ := newTestVerifier(f, atkNow, VerifierOptions{Replay: fzNoReplay{}})
	f.Fuzz(func(t *testing.T, a, b string) {
		values := []string{a}
		if b != "" {
			values = append(values, b)
		}
		for _, name := range []string{"Dpop", "dpop", "DPoP", "DPOP"} {
			h := http.Header{name: values, "Dpop-Nonce": {b}, "Authorization": {"DPoP " + a}}
			proof, err := ProofFromHeader(h)
			trimmed := strings.Trim(a, " \t")
			var want error
			switch {
			case len(values) == 2, strings.Contains(trimmed, ","):
				want = ErrMultipleProofs
			case trimmed == "":
				want = ErrMalformed
			}
			if want == nil {
				if err != nil || proof != trimmed {
					t.Fatalf("%s: ProofFromHeader(%q) = %q, %v; want %q", name, values, proof, err, trimmed)
				}
				// Whatever comes out, the verifier copes with it.
				_, _ = v.Verify(context.Background(), proof, Request{Method: "POST", URL: atkURL})
				continue
			}
			if proof != "" || !errors.Is(err, want) || ErrorCode(err) != CodeInvalidProof || fzSentinel(t, err) != want {
				t.Fatalf("%s: ProofFromHeader(%q) = %q, %v; want %v", name, values, proof, err, want)
			}
		}
		// One line under each of two spellings is two lines.
		_, err := ProofFromHeader(http.Header{"Dpop": {a}, "dpop": {b}})
		if !errors.Is(err, ErrMultipleProofs) {
			t.Fatalf("two spellings: %v, want ErrMultipleProofs", err)
		}
	})
}
