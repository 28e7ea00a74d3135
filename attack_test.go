package dpop

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Attack tests: one table per attack class of docs/conformance.md,
// Part 4.1 (classes 1 to 34). Every table holds at least one accepted
// positive control next to the attacks, so that no test can pass because
// everything is refused. Every refusal is checked for the exact sentinel
// (and that it is the only one in the chain) and for the OAuth error code.

const (
	atkNow int64 = 1700000000
	atkURL       = "https://server.example.com/token"
	atkTyp       = `"typ":"dpop+jwt"`

	// atkRFCAccessTokenJWT is the JWT access token of RFC 9449 Figure 8
	// (its header: {"alg":"ES256","kid":"BeALkb"}, no typ).
	atkRFCAccessTokenJWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IkJlQUxrYiJ9.eyJzdWIiOiJzb21lb25lQGV4YW1wbGUuY29tIiwiaXNzIjoiaHR0cHM6Ly9zZXJ2ZXIuZXhhbXBsZS5jb20iLCJuYmYiOjE1NjIyNjI2MTEsImV4cCI6MTU2MjI2NjIxNiwiY25mIjp7ImprdCI6IjBaY09DT1JaTll5LURXcHFxMzBqWnlKR0hUTjBkMkhnbEJWM3VpZ3VBNEkifX0.3Tyo8VTcn6u_PboUmAOYUY1kfAavomW_YwYMkmRNizLJoQzWy2fCo79Zi5yObpIzjWb5xW4OGld7ESZrh0fsrA"

	// The RFC 7638 §3.1 example RSA key and its thumbprint (also the
	// dpop_jkt of RFC 9449 Figure 25).
	atkRFC7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	atkRFC7638JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

// atkSentinels lists every sentinel error of the package.
var atkSentinels = []error{
	ErrMissingProof, ErrMultipleProofs, ErrProofTooLarge, ErrMalformed,
	ErrInvalidHeader, ErrInvalidTyp, ErrUnsupportedAlg, ErrCrit, ErrMissingJWK,
	ErrInvalidJWK, ErrPrivateKey, ErrAlgKeyMismatch, ErrInvalidClaims,
	ErrMissingClaim, ErrInvalidSignature, ErrHTMMismatch, ErrHTUMismatch,
	ErrIATTooOld, ErrIATInFuture, ErrNonceRequired, ErrNonceInvalid,
	ErrATHMismatch, ErrKeyMismatch, ErrReplay, ErrStoreUnavailable,
}

func atkTime() time.Time { return time.Unix(atkNow, 0) }

func atkEnc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func atkDec(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return b
}

// atkObj joins raw JSON members into an object.
func atkObj(members ...string) string { return "{" + strings.Join(members, ",") + "}" }

// atkWith appends raw JSON members to the JSON object obj.
func atkWith(obj string, members ...string) string {
	return obj[:len(obj)-1] + "," + strings.Join(members, ",") + "}"
}

func atkAlg(a string) string       { return `"alg":"` + a + `"` }
func atkJWKM(jwk string) string    { return `"jwk":` + jwk }
func atkStr(name, v string) string { return `"` + name + `":"` + v + `"` }

// atkHeader is the header k puts in its proofs, plus extra members.
func atkHeader(k *Key, extra ...string) string {
	if len(extra) == 0 {
		return headerJSON(k)
	}
	return atkWith(headerJSON(k), extra...)
}

func atkJTI() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return atkEnc(b[:])
}

// atkClaims returns valid claims for POST atkURL at atkNow with a fresh
// jti. Each argument edits them: "-name" drops the member name; a member
// `"name":value` (possibly followed by more members) replaces the member of
// that name, or is appended when there is none.
func atkClaims(edits ...string) string {
	if len(edits) == 0 {
		return claimsJSON("POST", atkURL, atkTime(), "")
	}
	names := []string{"jti", "htm", "htu", "iat"}
	members := []string{atkStr("jti", atkJTI()), atkStr("htm", "POST"), atkStr("htu", atkURL), fmt.Sprintf(`"iat":%d`, atkNow)}
	for _, e := range edits {
		if name, ok := strings.CutPrefix(e, "-"); ok {
			for i, n := range names {
				if n == name {
					members[i] = ""
				}
			}
			continue
		}
		name := ""
		if strings.HasPrefix(e, `"`) {
			if end := strings.IndexByte(e[1:], '"'); end >= 0 {
				name = e[1 : 1+end]
			}
		}
		replaced := false
		for i, n := range names {
			if n == name && !replaced {
				members[i] = e
				replaced = true
			}
		}
		if !replaced {
			members = append(members, e)
			names = append(names, "")
		}
	}
	var kept []string
	for _, m := range members {
		if m != "" {
			kept = append(kept, m)
		}
	}
	return atkObj(kept...)
}

// atkProof is a valid proof by k for POST atkURL at atkNow.
func atkProof(t testing.TB, k *Key, claimEdits ...string) string {
	t.Helper()
	return craft(t, k, atkHeader(k), atkClaims(claimEdits...))
}

// atkSignSegs signs two already encoded segments, whatever they hold.
func atkSignSegs(t testing.TB, k *Key, hdrSeg, claimsSeg string) string {
	t.Helper()
	in := hdrSeg + "." + claimsSeg
	sig, err := k.sign(rand.Reader, nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + atkEnc(sig)
}

func atkSeg(proof string, i int) string { return strings.Split(proof, ".")[i] }

// atkMembers decodes a JSON object of strings (a JWK) with encoding/json.
func atkMembers(t testing.TB, obj []byte) map[string]string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// atkKey returns the shared test key for alg; the RSA algorithms share one
// 2048-bit key and Ed25519 shares the EdDSA key.
func atkKey(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	var base Algorithm
	switch alg {
	case RS256, RS384, RS512, PS256, PS384, PS512:
		base = RS256
	case EdDSA, Ed25519:
		base = EdDSA
	default:
		return testKey(t, alg)
	}
	k, err := testKey(t, base).WithAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func atkNewES256(t testing.TB) *Key {
	t.Helper()
	k, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// atkSentinelCount counts the package sentinels in err's chain.
func atkSentinelCount(err error) int {
	n := 0
	for _, s := range atkSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// atkCheckErr asserts that err is an *Error wrapping exactly the sentinel
// want, with the OAuth code code.
func atkCheckErr(t testing.TB, err, want error, code string) {
	t.Helper()
	if code == "" {
		t.Fatal("test case has no expected error code")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, want) || ErrorCode(err) != code {
		t.Fatalf("err = %v (code %q), want %v (code %q)", err, ErrorCode(err), want, code)
	}
	if n := atkSentinelCount(err); n != 1 {
		t.Fatalf("err = %v wraps %d sentinels, want exactly one", err, n)
	}
}

func atkCheckVerdict(t testing.TB, p *Proof, err, want error, code string) {
	t.Helper()
	if want == nil {
		if err != nil || p == nil {
			t.Fatalf("refused: %v (code %q); want acceptance", err, ErrorCode(err))
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted (jti %q, htu %q); want %v (code %q)", p.JTI, p.HTU, want, code)
	}
	if p != nil {
		t.Errorf("a non-nil Proof came with the error %v", err)
	}
	atkCheckErr(t, err, want, code)
}

// atkCase is one proof checked by a fresh verifier.
type atkCase struct {
	name  string
	proof string
	req   *Request        // nil: POST atkURL
	opts  VerifierOptions // Now is set by the runner
	at    int64           // verifier clock; 0: atkNow
	want  error           // nil: must be accepted
	code  string
	// jkt, when set, is the thumbprint an accepted proof must report.
	jkt string
	// within, when set, bounds the time Verify may take.
	within time.Duration
	// check, when set, runs after the verdict has been checked.
	check func(t *testing.T, p *Proof, err error)
}

func runAttack(t *testing.T, cases []atkCase) {
	t.Helper()
	pos, neg := 0, 0
	for _, tc := range cases {
		if tc.want == nil {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		t.Fatalf("table has %d accepting and %d refusing cases; it needs both", pos, neg)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			if at == 0 {
				at = atkNow
			}
			req := Request{Method: "POST", URL: atkURL}
			if tc.req != nil {
				req = *tc.req
			}
			v, _ := newTestVerifier(t, at, tc.opts)
			start := time.Now()
			p, err := v.Verify(context.Background(), tc.proof, req)
			if d := time.Since(start); tc.within > 0 && d > tc.within {
				t.Errorf("Verify took %v, want under %v", d, tc.within)
			}
			atkCheckVerdict(t, p, err, tc.want, tc.code)
			if tc.want == nil && tc.jkt != "" && p.JKT != tc.jkt {
				t.Errorf("JKT = %q, want %q", p.JKT, tc.jkt)
			}
			if tc.check != nil {
				tc.check(t, p, err)
			}
		})
	}
}

// atkStep is one proof of a sequence checked by the same verifier.
type atkStep struct {
	name  string
	proof string
	req   *Request
	want  error
	code  string
}

func runSteps(t *testing.T, v *Verifier, steps []atkStep) {
	t.Helper()
	for i, st := range steps {
		req := Request{Method: "POST", URL: atkURL}
		if st.req != nil {
			req = *st.req
		}
		p, err := v.Verify(context.Background(), st.proof, req)
		t.Run(fmt.Sprintf("%02d %s", i+1, st.name), func(t *testing.T) {
			atkCheckVerdict(t, p, err, st.want, st.code)
		})
	}
}

// ---------------------------------------------------------------------------

// Class 1: alg none.
func TestAttack01AlgNone(t *testing.T) {
	k := testKey(t, ES256)
	jwk := atkJWKM(string(k.PublicJWK()))
	claims := atkClaims()
	noneHdr := atkObj(atkTyp, atkAlg("none"), jwk)
	unsigned := b64url(noneHdr) + "." + b64url(claims) + "."
	valid := craft(t, k, atkHeader(k), claims)
	runAttack(t, []atkCase{
		{name: "control ES256", proof: valid, jkt: k.Thumbprint()},
		{name: "none with empty signature", proof: unsigned, want: ErrMalformed, code: CodeInvalidProof},
		{name: "none with one-octet signature", proof: unsigned + "AA", want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "none with the real signature left in place", proof: craft(t, k, noneHdr, claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "None", proof: craft(t, k, atkObj(atkTyp, atkAlg("None"), jwk), claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "NONE", proof: craft(t, k, atkObj(atkTyp, atkAlg("NONE"), jwk), claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "empty alg", proof: craft(t, k, atkObj(atkTyp, atkAlg(""), jwk), claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "alg missing", proof: craft(t, k, atkObj(atkTyp, jwk), claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "alg null", proof: craft(t, k, atkObj(atkTyp, `"alg":null`, jwk), claims), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "es256 lower case", proof: craft(t, k, atkObj(atkTyp, atkAlg("es256"), jwk), claims), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "ES256 with empty signature", proof: valid[:strings.LastIndexByte(valid, '.')+1], want: ErrMalformed, code: CodeInvalidProof},
	})
}

// Class 2: HMAC key confusion. The verifier has no MAC code at all: HS*
// fails the allow-list before any key is looked at.
func TestAttack02HMACKeyConfusion(t *testing.T) {
	k := testKey(t, ES256)
	claims := atkClaims()
	m := atkMembers(t, k.PublicJWK())
	// The jwk as the attacker sends it: not the RFC 7638 member order, so
	// its text differs from the thumbprint input.
	sentJWK := fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}`, m["x"], m["y"])
	point, err := k.Public().(*ecdsa.PublicKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	mac := func(alg, jwk string, key []byte) string {
		in := b64url(atkObj(atkTyp, atkAlg(alg), atkJWKM(jwk))) + "." + b64url(claims)
		var h func() hash.Hash
		switch alg {
		case "HS384":
			h = sha512.New384
		case "HS512":
			h = sha512.New
		default:
			h = sha256.New
		}
		w := hmac.New(h, key)
		w.Write([]byte(in))
		return in + "." + atkEnc(w.Sum(nil))
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	octJWK := fmt.Sprintf(`{"kty":"oct","k":"%s"}`, atkEnc(secret))
	runAttack(t, []atkCase{
		{name: "control ES256", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(sentJWK)), claims), jkt: k.Thumbprint()},
		{name: "HS256 keyed by the jwk text", proof: mac("HS256", sentJWK, []byte(sentJWK)), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "HS256 keyed by the thumbprint input", proof: mac("HS256", sentJWK, k.PublicJWK()), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "HS256 keyed by 04||X||Y", proof: mac("HS256", sentJWK, point), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "HS384 keyed by the jwk text", proof: mac("HS384", sentJWK, []byte(sentJWK)), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "HS512 keyed by the jwk text", proof: mac("HS512", sentJWK, []byte(sentJWK)), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "HS256 with a kty oct jwk", proof: mac("HS256", octJWK, secret), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		// With an asymmetric alg, the oct jwk's k is private material.
		{name: "ES256 with a kty oct jwk holding k", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(octJWK)), claims), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "ES256 with a kty oct jwk without k", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(`{"kty":"oct"}`)), claims), want: ErrInvalidJWK, code: CodeInvalidProof},
	})

	// HS* cannot even be configured.
	for _, a := range []Algorithm{"HS256", "HS384", "HS512", "none"} {
		if _, err := NewVerifier(VerifierOptions{Algorithms: []Algorithm{a}}); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("NewVerifier with %s: %v, want ErrUnsupportedAlg", a, err)
		}
		if _, err := ParseAlgorithms(string(a)); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("ParseAlgorithms(%s): %v, want ErrUnsupportedAlg", a, err)
		}
		if _, err := GenerateKey(a); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("GenerateKey(%s): %v, want ErrUnsupportedAlg", a, err)
		}
	}
}

// Class 3: alg and key do not fit.
func TestAttack03AlgKeyMismatch(t *testing.T) {
	p256 := testKey(t, ES256)
	p384 := testKey(t, ES384)
	ed := atkKey(t, EdDSA)
	rsaK := atkKey(t, RS256)
	claims := atkClaims()
	with := func(signer *Key, alg string, jwk string) string {
		return craft(t, signer, atkObj(atkTyp, atkAlg(alg), atkJWKM(jwk)), claims)
	}
	pj := func(k *Key) string { return string(k.PublicJWK()) }
	m := atkMembers(t, p256.PublicJWK())
	runAttack(t, []atkCase{
		{name: "control ES256 with P-256", proof: with(p256, "ES256", pj(p256)), jkt: p256.Thumbprint()},
		{name: "control PS256 with RSA", proof: craft(t, atkKey(t, PS256), atkHeader(atkKey(t, PS256)), claims), jkt: rsaK.Thumbprint()},
		{name: "ES384 with a P-256 key", proof: with(p256, "ES384", pj(p256)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES512 with a P-384 key", proof: with(p384, "ES512", pj(p384)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES256 with a P-384 key", proof: with(p384, "ES256", pj(p384)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "RS256 with an EC key", proof: with(p256, "RS256", pj(p256)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "PS256 with an OKP key", proof: with(ed, "PS256", pj(ed)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "EdDSA with an EC key", proof: with(p256, "EdDSA", pj(p256)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "Ed25519 with an EC key", proof: with(p256, "Ed25519", pj(p256)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "EdDSA with an RSA key", proof: with(rsaK, "EdDSA", pj(rsaK)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES256 with an RSA key", proof: with(rsaK, "ES256", pj(rsaK)), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES256 with an OKP jwk claiming P-256", proof: with(p256, "ES256", fmt.Sprintf(`{"kty":"OKP","crv":"P-256","x":"%s","y":"%s"}`, m["x"], m["y"])), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES256 with crv secp256k1", proof: with(p256, "ES256", fmt.Sprintf(`{"kty":"EC","crv":"secp256k1","x":"%s","y":"%s"}`, m["x"], m["y"])), want: ErrAlgKeyMismatch, code: CodeInvalidProof},
		{name: "ES256K (not supported)", proof: with(p256, "ES256K", pj(p256)), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "Ed448 (not supported)", proof: with(ed, "Ed448", pj(ed)), want: ErrUnsupportedAlg, code: CodeInvalidProof},
	})
}

// Class 4: private key material in the jwk.
func TestAttack04PrivateKeyInJWK(t *testing.T) {
	k := testKey(t, ES256)
	rsaK := atkKey(t, RS256)
	ed := atkKey(t, EdDSA)
	priv := func(k *Key) map[string]string {
		b, err := k.MarshalPrivateJWK()
		if err != nil {
			t.Fatal(err)
		}
		return atkMembers(t, b)
	}
	ecPriv, rsaPriv, edPriv := priv(k), priv(rsaK), priv(ed)
	withJWK := func(signer *Key, members ...string) string {
		jwk := atkWith(string(signer.PublicJWK()), members...)
		return craft(t, signer, atkObj(atkTyp, atkAlg(string(signer.Algorithm())), atkJWKM(jwk)), atkClaims())
	}
	cases := []atkCase{
		{name: "control", proof: atkProof(t, k), jkt: k.Thumbprint()},
		{name: "EC d", proof: withJWK(k, atkStr("d", ecPriv["d"])), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "EC empty d", proof: withJWK(k, atkStr("d", "")), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "Ed25519 d", proof: withJWK(ed, atkStr("d", edPriv["d"])), want: ErrPrivateKey, code: CodeInvalidProof},
		// "D" is an unknown member: ignored, never read as d.
		{name: "EC D is ignored", proof: withJWK(k, atkStr("D", ecPriv["d"])), jkt: k.Thumbprint()},
		{name: "EC d and D", proof: withJWK(k, atkStr("d", ecPriv["d"]), atkStr("D", ecPriv["d"])), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "EC d not a string", proof: withJWK(k, `"d":1`), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "symmetric k", proof: withJWK(k, atkStr("k", "c2VjcmV0")), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "RSA oth", proof: withJWK(rsaK, `"oth":[]`), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "RSA all private members", proof: withJWK(rsaK, atkStr("d", rsaPriv["d"]), atkStr("p", rsaPriv["p"]), atkStr("q", rsaPriv["q"]),
			atkStr("dp", rsaPriv["dp"]), atkStr("dq", rsaPriv["dq"]), atkStr("qi", rsaPriv["qi"])), want: ErrPrivateKey, code: CodeInvalidProof},
		{name: "RSA P and Q are ignored", proof: withJWK(rsaK, atkStr("P", rsaPriv["p"]), atkStr("Q", rsaPriv["q"])), jkt: rsaK.Thumbprint()},
	}
	for _, name := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		cases = append(cases, atkCase{name: "RSA " + name, proof: withJWK(rsaK, atkStr(name, rsaPriv[name])), want: ErrPrivateKey, code: CodeInvalidProof})
	}
	runAttack(t, cases)
}

// atkRawSig replaces the signature of proof by raw.
func atkRawSig(proof string, raw []byte) string { return replaceSegment(proof, 2, atkEnc(raw)) }

// Class 5: "psychic signatures" (CVE-2022-21449).
func TestAttack05PsychicSignatures(t *testing.T) {
	type curveCase struct {
		alg  Algorithm
		n    *big.Int
		size int
	}
	var cases []atkCase
	for _, c := range []curveCase{
		{ES256, elliptic.P256().Params().N, 32},
		{ES384, elliptic.P384().Params().N, 48},
		{ES512, elliptic.P521().Params().N, 66},
	} {
		k := testKey(t, c.alg)
		valid := atkProof(t, k)
		sig := atkDec(t, atkSeg(valid, 2))
		n := c.n.FillBytes(make([]byte, c.size))
		one := big.NewInt(1).FillBytes(make([]byte, c.size))
		zero := make([]byte, c.size)
		cat := func(a, b []byte) []byte { return append(append([]byte{}, a...), b...) }
		a := string(c.alg)
		cases = append(cases,
			atkCase{name: a + " control", proof: valid, jkt: k.Thumbprint()},
			atkCase{name: a + " r=s=0", proof: atkRawSig(valid, cat(zero, zero)), want: ErrInvalidSignature, code: CodeInvalidProof},
			atkCase{name: a + " r=s=n", proof: atkRawSig(valid, cat(n, n)), want: ErrInvalidSignature, code: CodeInvalidProof},
			atkCase{name: a + " r=0, real s", proof: atkRawSig(valid, cat(zero, sig[c.size:])), want: ErrInvalidSignature, code: CodeInvalidProof},
			atkCase{name: a + " real r, s=0", proof: atkRawSig(valid, cat(sig[:c.size], zero)), want: ErrInvalidSignature, code: CodeInvalidProof},
			atkCase{name: a + " r=s=1", proof: atkRawSig(valid, cat(one, one)), want: ErrInvalidSignature, code: CodeInvalidProof},
			atkCase{name: a + " all ones", proof: atkRawSig(valid, []byte(strings.Repeat("\xff", 2*c.size))), want: ErrInvalidSignature, code: CodeInvalidProof},
		)
	}
	ed := atkKey(t, EdDSA)
	edValid := atkProof(t, ed)
	cases = append(cases,
		atkCase{name: "EdDSA control", proof: edValid, jkt: ed.Thumbprint()},
		atkCase{name: "EdDSA all zero", proof: atkRawSig(edValid, make([]byte, 64)), want: ErrInvalidSignature, code: CodeInvalidProof},
	)
	runAttack(t, cases)
}

// Class 6: ECDSA signature encoding.
func TestAttack06ECDSAEncoding(t *testing.T) {
	k := testKey(t, ES256)
	valid := atkProof(t, k)
	sig := atkDec(t, atkSeg(valid, 2))
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	if err != nil {
		t.Fatal(err)
	}
	k384 := testKey(t, ES384)
	v384 := atkProof(t, k384)
	rsaK := atkKey(t, RS256)
	vRSA := atkProof(t, rsaK)
	rsaSig := atkDec(t, atkSeg(vRSA, 2))
	runAttack(t, []atkCase{
		{name: "control ES256", proof: valid, jkt: k.Thumbprint()},
		{name: "control ES384", proof: v384, jkt: k384.Thumbprint()},
		{name: "control RS256", proof: vRSA, jkt: rsaK.Thumbprint()},
		{name: fmt.Sprintf("DER SEQUENCE (%d octets)", len(der)), proof: atkRawSig(valid, der), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "63 octets", proof: atkRawSig(valid, sig[:63]), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "65 octets, zero appended", proof: atkRawSig(valid, append(append([]byte{}, sig...), 0)), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "65 octets, zero prepended", proof: atkRawSig(valid, append([]byte{0}, sig...)), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "one octet", proof: atkRawSig(valid, []byte{1}), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "signature twice", proof: atkRawSig(valid, append(append([]byte{}, sig...), sig...)), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "5000 octets", proof: atkRawSig(valid, make([]byte, 5000)), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "ES384 with a 64-octet signature", proof: atkRawSig(v384, sig), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "RS256 one octet short", proof: atkRawSig(vRSA, rsaSig[1:]), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "RS256 with a leading zero octet", proof: atkRawSig(vRSA, append([]byte{0}, rsaSig...)), want: ErrInvalidSignature, code: CodeInvalidProof},
	})
}

// Class 7: ECDSA malleability. (r, n-s) verifies as well as (r, s); the
// replay store is keyed on (jkt, jti), not on the token, so the twin is a
// replay.
func TestAttack07ECDSAMalleability(t *testing.T) {
	for _, c := range []struct {
		alg  Algorithm
		n    *big.Int
		size int
		hash crypto.Hash
	}{
		{ES256, elliptic.P256().Params().N, 32, crypto.SHA256},
		{ES384, elliptic.P384().Params().N, 48, crypto.SHA384},
		{ES512, elliptic.P521().Params().N, 66, crypto.SHA512},
	} {
		t.Run(string(c.alg), func(t *testing.T) {
			k := testKey(t, c.alg)
			orig := atkProof(t, k)
			sig := atkDec(t, atkSeg(orig, 2))
			r := new(big.Int).SetBytes(sig[:c.size])
			s := new(big.Int).SetBytes(sig[c.size:])
			s2 := new(big.Int).Sub(c.n, s)
			twinSig := append(r.FillBytes(make([]byte, c.size)), s2.FillBytes(make([]byte, c.size))...)
			twin := atkRawSig(orig, twinSig)
			if twin == orig {
				t.Fatal("malleated proof equals the original")
			}
			// The twin is a valid signature for the standard library.
			in := orig[:strings.LastIndexByte(orig, '.')]
			h := c.hash.New()
			h.Write([]byte(in))
			if !ecdsa.Verify(k.Public().(*ecdsa.PublicKey), h.Sum(nil), r, s2) {
				t.Fatal("crypto/ecdsa refuses the malleated signature")
			}
			// And for the verifier, as long as the original was not used.
			v0, _ := newTestVerifier(t, atkNow, VerifierOptions{})
			runSteps(t, v0, []atkStep{
				{name: "malleated proof alone", proof: twin},
				{name: "then the original", proof: orig, want: ErrReplay, code: CodeInvalidProof},
			})
			v, _ := newTestVerifier(t, atkNow, VerifierOptions{})
			runSteps(t, v, []atkStep{
				{name: "original", proof: orig},
				{name: "malleated s -> n-s", proof: twin, want: ErrReplay, code: CodeInvalidProof},
				{name: "original again", proof: orig, want: ErrReplay, code: CodeInvalidProof},
			})
		})
	}
}

// atkSmallXPoint returns a P-256 point with a tiny x, so that x+p still
// fits in 32 octets: the aliased encoding of the same point.
func atkSmallXPoint(t testing.TB) (x, y *big.Int) {
	t.Helper()
	params := elliptic.P256().Params()
	three := big.NewInt(3)
	for i := int64(1); i < 1000; i++ {
		x := big.NewInt(i)
		rhs := new(big.Int).Exp(x, three, params.P)
		rhs.Sub(rhs, new(big.Int).Mul(three, x))
		rhs.Add(rhs, params.B)
		rhs.Mod(rhs, params.P)
		if y := new(big.Int).ModSqrt(rhs, params.P); y != nil {
			pt := append([]byte{4}, append(x.FillBytes(make([]byte, 32)), y.FillBytes(make([]byte, 32))...)...)
			if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt); err != nil {
				t.Fatalf("(%v, %v) is not on P-256: %v", x, y, err)
			}
			return x, y
		}
	}
	t.Fatal("no small x found")
	return nil, nil
}

// Class 8: invalid-curve and non-canonical EC keys.
func TestAttack08InvalidCurvePoint(t *testing.T) {
	k := testKey(t, ES256)
	pt, err := k.Public().(*ecdsa.PublicKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := elliptic.P256().Params().P
	X, Y := pt[1:33], pt[33:]
	bi := func(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
	ecJWK := func(x, y []byte) string {
		return fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}`, atkEnc(x), atkEnc(y))
	}
	ecJWKs := func(x, y string) string {
		return fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}`, x, y)
	}
	signed := func(jwk string) string {
		return craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(jwk)), atkClaims())
	}
	yPlus1 := new(big.Int).Add(bi(Y), big.NewInt(1)).FillBytes(make([]byte, 32))
	xPlusP := new(big.Int).Add(bi(X), p).Bytes() // 33 octets for any x >= 2^256-p
	// The reduced-form alias: a point with a small x, and x+p, which is
	// still 32 octets.
	sx, sy := atkSmallXPoint(t)
	smallJWK := ecJWK(sx.FillBytes(make([]byte, 32)), sy.FillBytes(make([]byte, 32)))
	aliasJWK := ecJWK(new(big.Int).Add(sx, p).FillBytes(make([]byte, 32)), sy.FillBytes(make([]byte, 32)))
	// A key whose x starts with a zero octet, to strip it.
	var zk *Key
	var zx, zy []byte
	for i := 0; i < 1<<16 && zk == nil; i++ {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := priv.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if b[1] == 0 {
			if zk, err = NewKey(priv, ES256); err != nil {
				t.Fatal(err)
			}
			zx, zy = b[1:33], b[33:]
		}
	}
	if zk == nil {
		t.Fatal("no key with a leading zero octet in x")
	}
	zSigned := func(jwk string) string {
		return craft(t, zk, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(jwk)), atkClaims())
	}
	xs := atkEnc(X)
	dirtyX := atkDirtyBits(xs)
	stdX := strings.NewReplacer("-", "+", "_", "/").Replace(xs)

	k384 := testKey(t, ES384)
	pt384, _ := k384.Public().(*ecdsa.PublicKey).Bytes()
	k521 := testKey(t, ES512)
	pt521, _ := k521.Public().(*ecdsa.PublicKey).Bytes()
	crvJWK := func(crv string, x, y []byte) string {
		return fmt.Sprintf(`{"kty":"EC","crv":"%s","x":"%s","y":"%s"}`, crv, atkEnc(x), atkEnc(y))
	}
	plus1 := func(b []byte) []byte { return new(big.Int).Add(bi(b), big.NewInt(1)).FillBytes(make([]byte, len(b))) }

	cases := []atkCase{
		{name: "control", proof: signed(ecJWK(X, Y)), jkt: k.Thumbprint()},
		{name: "control with x starting with a zero octet", proof: zSigned(ecJWK(zx, zy)), jkt: zk.Thumbprint()},
		{name: "y+1 (off the curve)", proof: signed(ecJWK(X, yPlus1)), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: fmt.Sprintf("x+p as %d octets", len(xPlusP)), proof: signed(ecJWK(xPlusP, Y)), want: ErrInvalidJWK, code: CodeInvalidProof},
		// The small point itself is a valid key (so the proof reaches the
		// signature check, which fails: k did not sign for it) ...
		{name: "small-x point, reduced form", proof: signed(smallJWK), want: ErrInvalidSignature, code: CodeInvalidProof},
		// ... but its alias x+p (32 octets, >= p) is refused as a key.
		{name: "small-x point, x+p in 32 octets", proof: signed(aliasJWK), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "31-octet x (leading zero stripped)", proof: zSigned(ecJWK(zx[1:], zy)), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "33-octet x (extra leading zero)", proof: signed(ecJWK(append([]byte{0}, X...), Y)), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "33-octet y (extra leading zero)", proof: signed(ecJWK(X, append([]byte{0}, Y...))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "x with non-zero unused bits", proof: signed(ecJWKs(dirtyX, atkEnc(Y))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "x padded with =", proof: signed(ecJWKs(xs+"=", atkEnc(Y))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "point (0,0)", proof: signed(ecJWK(make([]byte, 32), make([]byte, 32))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "x missing", proof: signed(fmt.Sprintf(`{"kty":"EC","crv":"P-256","y":"%s"}`, atkEnc(Y))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "P-384 y+1", proof: craft(t, k384, atkObj(atkTyp, atkAlg("ES384"), atkJWKM(crvJWK("P-384", pt384[1:49], plus1(pt384[49:])))), atkClaims()), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "P-521 y+1", proof: craft(t, k521, atkObj(atkTyp, atkAlg("ES512"), atkJWKM(crvJWK("P-521", pt521[1:67], plus1(pt521[67:])))), atkClaims()), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "P-521 65-octet x", proof: craft(t, k521, atkObj(atkTyp, atkAlg("ES512"), atkJWKM(crvJWK("P-521", pt521[2:67], pt521[67:]))), atkClaims()), want: ErrInvalidJWK, code: CodeInvalidProof},
	}
	if strings.ContainsAny(xs, "-_") {
		// Only then does the standard alphabet differ.
		cases = append(cases, atkCase{name: "x in the standard alphabet", proof: signed(ecJWKs(stdX, atkEnc(Y))), want: ErrInvalidJWK, code: CodeInvalidProof})
	}
	runAttack(t, cases)

	// The same rules hold for Thumbprint: one key, one thumbprint.
	if _, err := Thumbprint([]byte(smallJWK)); err != nil {
		t.Errorf("Thumbprint of the small-x point: %v", err)
	}
	for name, jwk := range map[string]string{
		"x+p alias":      aliasJWK,
		"31-octet x":     ecJWK(zx[1:], zy),
		"dirty bits":     ecJWKs(dirtyX, atkEnc(Y)),
		"off the curve":  ecJWK(X, yPlus1),
		"33-octet x + p": ecJWK(xPlusP, Y),
	} {
		if _, err := Thumbprint([]byte(jwk)); !errors.Is(err, ErrInvalidJWK) {
			t.Errorf("Thumbprint(%s) = %v, want ErrInvalidJWK", name, err)
		}
	}
}

// Ed25519 has small-order points and non-canonical point encodings, and
// crypto/ed25519 accepts both as public keys. Under a small-order key the
// signature R = identity, S = 0 verifies for a fair share of all messages
// (all of them for the identity point), so anyone who sees such a key can
// forge proofs for it, and a token bound to it is not bound at all. The
// non-canonical encodings also give one point several x values, hence
// several thumbprints, against the "one key, one encoding" rule of jwk.go
// (RFC 7638 §3.3). Both must be refused like an off-curve EC point.
func TestAttack08Ed25519SmallOrderKeys(t *testing.T) {
	ed := atkKey(t, EdDSA)
	forged := make([]byte, ed25519.SignatureSize)
	forged[0] = 1 // R = identity, S = 0
	cases := []atkCase{
		{name: "control", proof: atkProof(t, ed), jkt: ed.Thumbprint()},
		{name: "forged signature under a real key", proof: atkRawSig(atkProof(t, ed), forged), want: ErrInvalidSignature, code: CodeInvalidProof},
	}
	for _, w := range []struct{ name, hex string }{
		{"identity (order 1)", "0100000000000000000000000000000000000000000000000000000000000000"},
		{"order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
		{"order 4", "0000000000000000000000000000000000000000000000000000000000000000"},
		{"order 4, sign bit", "0000000000000000000000000000000000000000000000000000000000000080"},
		{"order 8 (a)", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"},
		{"order 8 (b)", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"},
		{"order 8 (c)", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"},
		{"order 8 (d)", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"},
		{"identity, non-canonical y = 1+p", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
		{"identity, non-canonical negative zero", "0100000000000000000000000000000000000000000000000000000000000080"},
		{"order 4, non-canonical y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
	} {
		pub, err := hex.DecodeString(w.hex)
		if err != nil {
			t.Fatal(err)
		}
		hdrSeg := b64url(atkObj(atkTyp, atkAlg("EdDSA"), atkJWKM(fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","x":"%s"}`, atkEnc(pub)))))
		// Find claims for which the forgery verifies with crypto/ed25519
		// itself: no private key is involved anywhere.
		proof := ""
		for i := 0; i < 1000 && proof == ""; i++ {
			in := hdrSeg + "." + b64url(atkClaims())
			if ed25519.Verify(ed25519.PublicKey(pub), []byte(in), forged) {
				proof = in + "." + atkEnc(forged)
			}
		}
		if proof == "" {
			t.Fatalf("%s: no forgery found; not a small-order point", w.name)
		}
		cases = append(cases, atkCase{name: w.name + ", forged proof", proof: proof, want: ErrInvalidJWK, code: CodeInvalidProof})
	}
	runAttack(t, cases)
}

// atkDirtyBits sets an unused low bit in the last character of an unpadded
// base64url string whose length is not a multiple of four.
func atkDirtyBits(s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		panic("no unused bits in " + s)
	}
	i := strings.IndexByte(alpha, s[len(s)-1])
	return s[:len(s)-1] + string(alpha[i|1])
}

// atkModulus returns random odd bytes of exactly bits bits.
func atkModulus(bits int) []byte {
	b := make([]byte, (bits+7)/8)
	_, _ = rand.Read(b)
	excess := uint(len(b)*8 - bits)
	b[0] &= 0xff >> excess
	b[0] |= 0x80 >> excess
	b[len(b)-1] |= 1
	return b
}

// Class 9: RSA keys that cost too much or are too weak. All are refused by
// the size and exponent caps before any exponentiation.
func TestAttack09RSAKeyBounds(t *testing.T) {
	rsaK := atkKey(t, RS256)
	m := atkMembers(t, rsaK.PublicJWK())
	nBytes := atkDec(t, m["n"])
	rsaJWK := func(n, e string) string { return fmt.Sprintf(`{"kty":"RSA","n":"%s","e":"%s"}`, n, e) }
	signed := func(jwk string) string {
		return craft(t, rsaK, atkObj(atkTyp, atkAlg("RS256"), atkJWKM(jwk)), atkClaims())
	}
	big1M := VerifierOptions{MaxProofSize: MaxProofSizeLimit}

	// A real 1024-bit key, signing its own proof.
	var proof1024 string
	priv1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Logf("rsa.GenerateKey(1024): %v; using a synthetic 1024-bit modulus", err)
		proof1024 = signed(rsaJWK(atkEnc(atkModulus(1024)), "AQAB"))
	} else {
		hdr := atkObj(atkTyp, atkAlg("RS256"), atkJWKM(rsaJWK(atkEnc(priv1024.N.Bytes()), "AQAB")))
		in := b64url(hdr) + "." + b64url(atkClaims())
		sum := sha256.Sum256([]byte(in))
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv1024, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		proof1024 = in + "." + atkEnc(sig)
	}
	e4097 := atkModulus(4097)

	cases := []atkCase{
		{name: "control 2048", proof: signed(rsaJWK(m["n"], m["e"])), jkt: rsaK.Thumbprint()},
		{name: "1024-bit key", proof: proof1024, want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "2047-bit modulus", proof: signed(rsaJWK(atkEnc(atkModulus(2047)), "AQAB")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "4097-bit modulus", proof: signed(rsaJWK(atkEnc(atkModulus(4097)), "AQAB")), opts: big1M, want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "8192-bit modulus", proof: signed(rsaJWK(atkEnc(atkModulus(8192)), "AQAB")), opts: big1M, want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "32768-bit modulus", proof: signed(rsaJWK(atkEnc(atkModulus(32768)), "AQAB")), opts: big1M, want: ErrInvalidJWK, code: CodeInvalidProof, within: time.Second},
		{name: "even modulus", proof: signed(rsaJWK(atkEnc(append(append([]byte{}, nBytes[:len(nBytes)-1]...), nBytes[len(nBytes)-1]&^1)), "AQAB")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "n with a leading zero octet", proof: signed(rsaJWK(atkEnc(append([]byte{0}, nBytes...)), m["e"])), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "empty n", proof: signed(rsaJWK("", "AQAB")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e missing", proof: signed(fmt.Sprintf(`{"kty":"RSA","n":"%s"}`, m["n"])), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e=1", proof: signed(rsaJWK(m["n"], "AQ")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e=2", proof: signed(rsaJWK(m["n"], "Ag")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e=65536", proof: signed(rsaJWK(m["n"], "AQAA")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e=2^31+1", proof: signed(rsaJWK(m["n"], atkEnc([]byte{0x80, 0, 0, 1}))), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "e of 4097 bits", proof: signed(rsaJWK(m["n"], atkEnc(e4097))), opts: big1M, want: ErrInvalidJWK, code: CodeInvalidProof, within: time.Second},
		{name: "e with a leading zero octet", proof: signed(rsaJWK(m["n"], "AAEAAQ")), want: ErrInvalidJWK, code: CodeInvalidProof},
		{name: "empty e", proof: signed(rsaJWK(m["n"], "")), want: ErrInvalidJWK, code: CodeInvalidProof},
		// At the bounds the key is accepted, so the proof reaches the
		// signature check (which fails: the exponent is not the key's).
		{name: "e=3 accepted as a key", proof: signed(rsaJWK(m["n"], "Aw")), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "e=2^31-1 accepted as a key", proof: signed(rsaJWK(m["n"], atkEnc([]byte{0x7f, 0xff, 0xff, 0xff}))), want: ErrInvalidSignature, code: CodeInvalidProof},
	}
	if !testing.Short() {
		priv4096, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			t.Fatal(err)
		}
		k4096, err := NewKey(priv4096, PS512)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, atkCase{name: "control 4096", proof: atkProof(t, k4096), jkt: k4096.Thumbprint()})
	}
	runAttack(t, cases)
}

// Class 10: oversized input, many dots, deep nesting. Each is refused
// without real work, well under a second.
func TestAttack10OversizedInput(t *testing.T) {
	k := testKey(t, ES256)
	valid := atkProof(t, k)
	big1M := VerifierOptions{MaxProofSize: MaxProofSizeLimit}
	deepArrays := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	deepObjects := strings.Repeat(`{"a":`, 8000) + "1" + strings.Repeat("}", 8000)
	nested := func(levels int) string { return strings.Repeat("[", levels) + strings.Repeat("]", levels) }
	hdrWith := func(member string) string { return craft(t, k, atkHeader(k, member), atkClaims()) }
	pad85K := `"pad":"` + strings.Repeat("A", 85<<10) + `"`
	pad40K := `"pad":"` + strings.Repeat("A", 40<<10) + `"`
	var many []string
	for i := range 70 {
		many = append(many, fmt.Sprintf(`"m%02d":0`, i))
	}
	sec := time.Second
	runAttack(t, []atkCase{
		{name: "control", proof: valid, jkt: k.Thumbprint(), within: sec},
		{name: "proof + 10 000 dots", proof: valid + strings.Repeat(".", 10000), want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
		{name: "proof + 10 000 dots, 64 KiB cap", proof: valid + strings.Repeat(".", 10000), opts: big1M, want: ErrMalformed, code: CodeInvalidProof, within: sec},
		{name: "10 000 dots only, 64 KiB cap", proof: strings.Repeat(".", 10000), opts: big1M, want: ErrMalformed, code: CodeInvalidProof, within: sec},
		{name: "85 KiB header", proof: hdrWith(pad85K), want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
		// With the cap lifted, an 85 KiB ignored member is just data.
		{name: "40 KiB header, 64 KiB cap", proof: hdrWith(pad40K), opts: big1M, jkt: k.Thumbprint(), within: sec},
		{name: "85 KiB header, 64 KiB cap", proof: hdrWith(pad85K), opts: big1M, want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
		{name: "10 000-level arrays in an ignored header member", proof: hdrWith(`"x":` + deepArrays), want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
		{name: "10 000-level arrays in an ignored header member, 64 KiB cap", proof: hdrWith(`"x":` + deepArrays), opts: big1M, want: ErrInvalidHeader, code: CodeInvalidProof, within: sec},
		{name: "8 000-level objects in an ignored header member, 64 KiB cap", proof: hdrWith(`"x":` + deepObjects), opts: big1M, want: ErrInvalidHeader, code: CodeInvalidProof, within: sec},
		{name: "10 000-level arrays in an ignored jwk member, 64 KiB cap", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(string(k.PublicJWK()), `"x5c":`+deepArrays))), atkClaims()), opts: big1M, want: ErrInvalidHeader, code: CodeInvalidProof, within: sec},
		{name: "10 000-level arrays in an ignored claim, 64 KiB cap", proof: atkProof(t, k, `"x":`+deepArrays), opts: big1M, want: ErrInvalidClaims, code: CodeInvalidProof, within: sec},
		{name: "100-level arrays in an ignored header member", proof: hdrWith(`"x":` + nested(100)), want: ErrInvalidHeader, code: CodeInvalidProof, within: sec},
		{name: "20-level arrays in an ignored header member", proof: hdrWith(`"x":` + nested(20)), jkt: k.Thumbprint(), within: sec},
		{name: "70 header members", proof: hdrWith(strings.Join(many, ",")), want: ErrInvalidHeader, code: CodeInvalidProof, within: sec},
		{name: "1 MiB of base64url", proof: strings.Repeat("A", 1<<20), want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
		{name: "1 MiB of dots", proof: strings.Repeat(".", 1<<20), want: ErrProofTooLarge, code: CodeInvalidProof, within: sec},
	})
}

// Class 11: duplicate member names (encoding/json keeps the last).
func TestAttack11DuplicateMembers(t *testing.T) {
	k := testKey(t, ES256)
	jwk := string(k.PublicJWK())
	claims := atkClaims()
	m := atkMembers(t, k.PublicJWK())
	hdr := func(members ...string) string { return craft(t, k, atkObj(members...), claims) }
	runAttack(t, []atkCase{
		{name: "control", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(jwk)), jkt: k.Thumbprint()},
		{name: `header "alg":"ES256","alg":"none"`, proof: hdr(atkTyp, atkAlg("ES256"), atkAlg("none"), atkJWKM(jwk)), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: `header "alg":"none","alg":"ES256"`, proof: hdr(atkTyp, atkAlg("none"), atkAlg("ES256"), atkJWKM(jwk)), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header alg twice, same value", proof: hdr(atkTyp, atkAlg("ES256"), atkAlg("ES256"), atkJWKM(jwk)), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header typ twice", proof: hdr(atkTyp, `"typ":"JWT"`, atkAlg("ES256"), atkJWKM(jwk)), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header jwk twice", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(jwk), atkJWKM(string(testKey(t, ES384).PublicJWK()))), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "jwk x twice", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(jwk, atkStr("x", m["y"])))), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "duplicate inside an ignored header member", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(jwk), `"ext":{"a":1,"a":2}`), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: `claims "htm":"GET","htm":"POST"`, proof: atkProof(t, k, `"htm":"GET","htm":"POST"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: `claims "htm":"POST","htm":"GET"`, proof: atkProof(t, k, `"htm":"POST","htm":"GET"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims jti twice", proof: atkProof(t, k, `"jti":"a","jti":"b"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims iat twice", proof: atkProof(t, k, fmt.Sprintf(`"iat":%d,"iat":%d`, atkNow-3600, atkNow)), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims ath twice", proof: atkProof(t, k, `"ath":"a","ath":"b"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims unknown member twice", proof: atkProof(t, k, `"foo":1,"foo":2`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "duplicate via an escaped name", proof: atkProof(t, k, `"htm":"POST","\u0068tm":"GET"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "duplicate inside an ignored claim", proof: atkProof(t, k, `"ext":[{"a":1,"a":2}]`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "unknown claim is accepted", proof: atkProof(t, k, `"foo":1`), jkt: k.Thumbprint()},
	})
}

// Class 12: case-variant member names (encoding/json matches them
// case-insensitively into structs).
func TestAttack12CaseVariantMembers(t *testing.T) {
	k := testKey(t, ES256)
	jwk := atkJWKM(string(k.PublicJWK()))
	claims := atkClaims()
	hdr := func(members ...string) string { return craft(t, k, atkObj(members...), claims) }
	runAttack(t, []atkCase{
		{name: "control", proof: atkProof(t, k), jkt: k.Thumbprint()},
		{name: "htu evil then HTU good", proof: atkProof(t, k, `"htu":"https://evil.example/token","HTU":"`+atkURL+`"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "htu good then HTU evil", proof: atkProof(t, k, `"htu":"`+atkURL+`","HTU":"https://evil.example/token"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "hTu variant", proof: atkProof(t, k, `"htu":"`+atkURL+`","hTu":"`+atkURL+`"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "lone HTU: htu missing", proof: atkProof(t, k, "-htu", `"HTU":"`+atkURL+`"`), want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "lone JTI: jti missing", proof: atkProof(t, k, "-jti", `"JTI":"abc"`), want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "lone Iat: iat missing", proof: atkProof(t, k, "-iat", fmt.Sprintf(`"Iat":%d`, atkNow)), want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "jti and Jti", proof: atkProof(t, k, `"jti":"a","Jti":"b"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "header alg and ALG", proof: hdr(atkTyp, atkAlg("ES256"), `"ALG":"none"`, jwk), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header typ and TYP", proof: hdr(atkTyp, `"TYP":"JWT"`, atkAlg("ES256"), jwk), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header jwk and JWK", proof: hdr(atkTyp, atkAlg("ES256"), jwk, `"JWK":{}`), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "lone Typ: typ missing", proof: hdr(`"Typ":"dpop+jwt"`, atkAlg("ES256"), jwk), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "lone ALG: alg missing", proof: hdr(atkTyp, `"ALG":"ES256"`, jwk), want: ErrUnsupportedAlg, code: CodeInvalidProof},
		{name: "lone JWK: jwk missing", proof: hdr(atkTyp, atkAlg("ES256"), `"JWK":`+string(k.PublicJWK())), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "jwk kty and KTY", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(string(k.PublicJWK()), `"KTY":"RSA"`))), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "jwk lone Y is ignored but y missing", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(strings.Replace(string(k.PublicJWK()), `"y":`, `"Y":`, 1))), want: ErrInvalidJWK, code: CodeInvalidProof},
	})
}

// Class 12, Unicode variants. encoding/json matches names with Unicode
// simple folding (bytes.EqualFold), under which U+212A KELVIN SIGN is a
// case variant of k and U+017F LATIN SMALL LETTER LONG S one of s. A pair
// such as "sub" and "\u017fub" is therefore a case-variant duplicate for
// every encoding/json reader of Proof.Claims (which keeps the last), and
// "jwk" plus "jw\u212a" one for a reader of the header. Such pairs must be
// refused like "htu" and "HTU"; a lone variant stays an unknown member.
func TestAttack12UnicodeCaseVariants(t *testing.T) {
	k := testKey(t, ES256)
	other := atkNewES256(t)
	jwk := string(k.PublicJWK())
	const kelvin, longS = "\u212a", "\u017f"
	hdr := func(members ...string) string { return craft(t, k, atkObj(members...), atkClaims()) }
	runAttack(t, []atkCase{
		{name: "control", proof: atkProof(t, k, `"sub":"alice"`), jkt: k.Thumbprint()},
		{name: "lone long-s sub is an unknown claim", proof: atkProof(t, k, "\""+longS+"ub\":\"mallory\""), jkt: k.Thumbprint()},
		{name: "lone Kelvin kid is an unknown header member", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(jwk), "\""+kelvin+"id\":\"x\""), jkt: k.Thumbprint()},
		{name: "sub and long-s sub", proof: atkProof(t, k, `"sub":"alice"`, "\""+longS+"ub\":\"mallory\""), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "sub and escaped long-s sub", proof: atkProof(t, k, `"sub":"alice"`, `"\u017fub":"mallory"`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "jwk and Kelvin jwk", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(jwk), "\"jw"+kelvin+"\":"+string(other.PublicJWK())), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "jwk kty and Kelvin kty", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(jwk, "\""+kelvin+"ty\":\"RSA\""))), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "jwk kid and Kelvin kid", proof: hdr(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(jwk, `"kid":"a"`, "\""+kelvin+"id\":\"b\""))), want: ErrInvalidHeader, code: CodeInvalidProof},
	})
}

// Class 13: crit. DPoP defines no extension, so any crit is refused.
func TestAttack13Crit(t *testing.T) {
	k := testKey(t, ES256)
	claims := atkClaims()
	h := func(extra ...string) string { return craft(t, k, atkHeader(k, extra...), claims) }
	runAttack(t, []atkCase{
		{name: "control", proof: h(), jkt: k.Thumbprint()},
		{name: "unknown extension", proof: h(`"crit":["urn:example:unknown"]`, `"urn:example:unknown":1`), want: ErrCrit, code: CodeInvalidProof},
		{name: "unknown extension not present", proof: h(`"crit":["urn:example:unknown"]`), want: ErrCrit, code: CodeInvalidProof},
		{name: `crit ["alg"]`, proof: h(`"crit":["alg"]`), want: ErrCrit, code: CodeInvalidProof},
		{name: "b64 false with crit b64", proof: h(`"b64":false`, `"crit":["b64"]`), want: ErrCrit, code: CodeInvalidProof},
		{name: "empty crit", proof: h(`"crit":[]`), want: ErrCrit, code: CodeInvalidProof},
		{name: "crit not an array", proof: h(`"crit":"b64"`), want: ErrCrit, code: CodeInvalidProof},
		{name: "crit null", proof: h(`"crit":null`), want: ErrCrit, code: CodeInvalidProof},
		{name: "Crit is an unknown member", proof: h(`"Crit":["urn:example:unknown"]`), jkt: k.Thumbprint()},
	})
}

// Class 14: key indirection instead of jwk. The key is the jwk and
// nothing else: kid, jku, x5u and x5c are never looked at.
func TestAttack14KeyIndirection(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer srv.Close()

	k := testKey(t, ES256)
	other := atkNewES256(t)
	claims := atkClaims()
	jwk := atkJWKM(string(k.PublicJWK()))
	alg := atkAlg("ES256")
	h := func(members ...string) string { return craft(t, k, atkObj(members...), claims) }
	kid := atkStr("kid", k.Thumbprint())
	jku := atkStr("jku", srv.URL+"/jwks.json")
	x5u := atkStr("x5u", srv.URL+"/cert.pem")
	x5c := `"x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]`
	runAttack(t, []atkCase{
		{name: "control", proof: h(atkTyp, alg, jwk), jkt: k.Thumbprint()},
		{name: "only kid", proof: h(atkTyp, alg, kid), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "only jku", proof: h(atkTyp, alg, jku), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "only x5u", proof: h(atkTyp, alg, x5u), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "only x5c", proof: h(atkTyp, alg, x5c), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "kid, jku, x5u and x5c, no jwk", proof: h(atkTyp, alg, kid, jku, x5u, x5c), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "jwk plus kid, jku, x5u, x5c (ignored)", proof: h(atkTyp, alg, kid, jku, jwk, x5u, x5c), jkt: k.Thumbprint()},
		// jku names a URL that "serves" the signer's key; the header's
		// jwk is another key, and that is the one the signature is
		// checked with.
		{name: "jwk of another key plus jku", proof: h(atkTyp, alg, atkJWKM(string(other.PublicJWK())), jku), want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "jwk as a string", proof: h(atkTyp, alg, `"jwk":`+fmt.Sprintf("%q", string(k.PublicJWK()))), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "jwk null", proof: h(atkTyp, alg, `"jwk":null`), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "jwk array", proof: h(atkTyp, alg, `"jwk":[`+string(k.PublicJWK())+`]`), want: ErrMissingJWK, code: CodeInvalidProof},
		{name: "jwk without coordinates", proof: h(atkTyp, alg, `"jwk":{"kty":"EC","crv":"P-256"}`), want: ErrInvalidJWK, code: CodeInvalidProof},
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("the verifier made %d HTTP requests to jku/x5u", n)
	}
}

// Class 15: non-canonical base64url.
func TestAttack15NonCanonicalBase64(t *testing.T) {
	k := testKey(t, ES256)
	valid := atkProof(t, k)
	hdrSeg, claimsSeg, sig := atkSeg(valid, 0), atkSeg(valid, 1), atkSeg(valid, 2)

	// A signature that uses - or _, so that the standard alphabet differs.
	var withStd string
	for i := 0; i < 200 && withStd == ""; i++ {
		p := atkProof(t, k)
		if s := atkSeg(p, 2); strings.ContainsAny(s, "-_") {
			withStd = replaceSegment(p, 2, strings.NewReplacer("-", "+", "_", "/").Replace(s))
		}
	}
	if withStd == "" {
		t.Fatal("no signature with - or _ in 200 tries")
	}
	// Segments whose length leaves unused bits, signed as they are, so
	// that only the strictness of the decoder refuses them.
	padJSON := func(s string) string {
		for len(s)%3 == 0 {
			s += " "
		}
		return s
	}
	hdrP, claimsP := b64url(padJSON(atkHeader(k))), b64url(padJSON(atkClaims()))
	mid := func(s, ins string) string { return s[:len(s)/2] + ins + s[len(s)/2:] }
	in := hdrSeg + "." + claimsSeg
	runAttack(t, []atkCase{
		{name: "control", proof: valid, jkt: k.Thumbprint()},
		{name: "control with padded JSON", proof: atkSignSegs(t, k, hdrP, claimsP), jkt: k.Thumbprint()},
		{name: "== appended to the signature", proof: valid + "==", want: ErrMalformed, code: CodeInvalidProof},
		{name: "= appended to the signature", proof: valid + "=", want: ErrMalformed, code: CodeInvalidProof},
		{name: "signature in the standard alphabet", proof: withStd, want: ErrMalformed, code: CodeInvalidProof},
		{name: "signature with non-zero unused bits", proof: in + "." + atkDirtyBits(sig), want: ErrMalformed, code: CodeInvalidProof},
		{name: "claims with non-zero unused bits", proof: atkSignSegs(t, k, hdrP, atkDirtyBits(claimsP)), want: ErrMalformed, code: CodeInvalidProof},
		{name: "header with non-zero unused bits", proof: atkSignSegs(t, k, atkDirtyBits(hdrP), claimsP), want: ErrMalformed, code: CodeInvalidProof},
		{name: "= on the header segment", proof: atkSignSegs(t, k, hdrP+"=", claimsP), want: ErrMalformed, code: CodeInvalidProof},
		{name: "== on the claims segment", proof: atkSignSegs(t, k, hdrP, claimsP+"=="), want: ErrMalformed, code: CodeInvalidProof},
		{name: "padded base64url everywhere", proof: atkSignSegs(t, k, base64.URLEncoding.EncodeToString([]byte(padJSON(atkHeader(k)))), base64.URLEncoding.EncodeToString([]byte(padJSON(atkClaims())))), want: ErrMalformed, code: CodeInvalidProof},
		{name: "CRLF in the signature", proof: in + "." + mid(sig, "\r\n"), want: ErrMalformed, code: CodeInvalidProof},
		{name: "LF in the claims", proof: hdrSeg + "." + mid(claimsSeg, "\n") + "." + sig, want: ErrMalformed, code: CodeInvalidProof},
		{name: "CR in the header", proof: mid(hdrSeg, "\r") + "." + claimsSeg + "." + sig, want: ErrMalformed, code: CodeInvalidProof},
		{name: "LF in the header, signed as sent", proof: atkSignSegs(t, k, mid(hdrSeg, "\n"), claimsSeg), want: ErrMalformed, code: CodeInvalidProof},
		{name: "space in the claims", proof: hdrSeg + "." + mid(claimsSeg, " ") + "." + sig, want: ErrMalformed, code: CodeInvalidProof},
		{name: "tab in the signature", proof: in + "." + mid(sig, "\t"), want: ErrMalformed, code: CodeInvalidProof},
		{name: "NUL in the signature", proof: in + "." + mid(sig, "\x00"), want: ErrMalformed, code: CodeInvalidProof},
		{name: "+ in the header", proof: atkSignSegs(t, k, mid(hdrSeg, "+"), claimsSeg), want: ErrMalformed, code: CodeInvalidProof},
		{name: "/ in the claims", proof: atkSignSegs(t, k, hdrSeg, mid(claimsSeg, "/")), want: ErrMalformed, code: CodeInvalidProof},
		{name: "percent-encoded character", proof: in + "." + mid(sig, "%41"), want: ErrMalformed, code: CodeInvalidProof},
	})
}

// Class 16: trailing data and other serialisations.
func TestAttack16WrongSerialisation(t *testing.T) {
	k := testKey(t, ES256)
	valid := atkProof(t, k)
	parts := strings.Split(valid, ".")
	hdrSeg := parts[0]
	jsonSer := fmt.Sprintf(`{"protected":"%s","payload":"%s","signature":"%s"}`, parts[0], parts[1], parts[2])
	claims := atkClaims()
	runAttack(t, []atkCase{
		{name: "control", proof: valid, jkt: k.Thumbprint()},
		{name: "control: claims JSON with trailing white space", proof: craft(t, k, atkHeader(k), atkClaims()+" \n\t\r"), jkt: k.Thumbprint()},
		{name: "control: JSON with inner white space", proof: craft(t, k, " {\n \"typ\" : \"dpop+jwt\" ,\t\"alg\":\"ES256\", \"jwk\" : "+string(k.PublicJWK())+" }", strings.ReplaceAll(atkClaims(), ",", " ,\n ")), jkt: k.Thumbprint()},
		{name: "trailing dot", proof: valid + ".", want: ErrMalformed, code: CodeInvalidProof},
		{name: "leading dot", proof: "." + valid, want: ErrMalformed, code: CodeInvalidProof},
		{name: "space inside", proof: parts[0] + ". " + parts[1] + "." + parts[2], want: ErrMalformed, code: CodeInvalidProof},
		{name: "trailing space", proof: valid + " ", want: ErrMalformed, code: CodeInvalidProof},
		{name: "leading space", proof: " " + valid, want: ErrMalformed, code: CodeInvalidProof},
		{name: "trailing newline", proof: valid + "\n", want: ErrMalformed, code: CodeInvalidProof},
		{name: "Bearer-style prefix", proof: "DPoP " + valid, want: ErrMalformed, code: CodeInvalidProof},
		{name: "JWS JSON serialisation", proof: jsonSer, want: ErrMalformed, code: CodeInvalidProof},
		{name: "JWE compact shape (5 segments)", proof: strings.Join([]string{parts[0], "", "AAAAAAAAAAAAAAAA", parts[1], "AAAAAAAAAAAAAAAAAAAAAA"}, "."), want: ErrMalformed, code: CodeInvalidProof},
		{name: "five non-empty segments", proof: valid + ".AAAA.AAAA", want: ErrMalformed, code: CodeInvalidProof},
		{name: "four segments", proof: valid + ".AAAA", want: ErrMalformed, code: CodeInvalidProof},
		{name: "two segments", proof: parts[0] + "." + parts[1], want: ErrMalformed, code: CodeInvalidProof},
		{name: "one segment", proof: parts[0], want: ErrMalformed, code: CodeInvalidProof},
		{name: "empty header segment", proof: "." + parts[1] + "." + parts[2], want: ErrMalformed, code: CodeInvalidProof},
		{name: "empty claims segment", proof: parts[0] + ".." + parts[2], want: ErrMalformed, code: CodeInvalidProof},
		{name: "two dots", proof: "..", want: ErrMalformed, code: CodeInvalidProof},
		{name: "empty proof", proof: "", want: ErrMissingProof, code: CodeInvalidProof},
		{name: "header is an array", proof: atkSignSegs(t, k, b64url("[]"), parts[1]), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header is null", proof: atkSignSegs(t, k, b64url("null"), parts[1]), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header is a string", proof: atkSignSegs(t, k, b64url(`"dpop+jwt"`), parts[1]), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header is empty JSON object", proof: atkSignSegs(t, k, b64url("{}"), parts[1]), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "header with trailing garbage", proof: craft(t, k, atkHeader(k)+"x", claims), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header with a byte order mark", proof: craft(t, k, "\ufeff"+atkHeader(k), claims), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header with a trailing comma", proof: craft(t, k, strings.TrimSuffix(atkHeader(k), "}")+",}", claims), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "header not JSON at all", proof: atkSignSegs(t, k, b64url("typ=dpop+jwt"), parts[1]), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "claims are an array", proof: atkSignSegs(t, k, hdrSeg, b64url("[]")), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims are null", proof: atkSignSegs(t, k, hdrSeg, b64url("null")), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims with trailing garbage", proof: craft(t, k, atkHeader(k), atkClaims()+"x"), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "two claims objects", proof: craft(t, k, atkHeader(k), atkClaims()+atkClaims()), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims cut short", proof: craft(t, k, atkHeader(k), strings.TrimSuffix(atkClaims(), "}")), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims with a single-quoted string", proof: craft(t, k, atkHeader(k), atkClaims(`"foo":'bar'`)), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "claims with a comment", proof: craft(t, k, atkHeader(k), atkClaims()+"/* c */"), want: ErrInvalidClaims, code: CodeInvalidProof},
	})
}

// Class 17: typ confusion.
func TestAttack17Typ(t *testing.T) {
	k := testKey(t, ES256)
	jwk := atkJWKM(string(k.PublicJWK()))
	claims := atkClaims()
	typ := func(v string) string {
		return craft(t, k, atkObj(`"typ":`+v, atkAlg("ES256"), jwk), claims)
	}
	media := VerifierOptions{MediaTypeTyp: true}
	runAttack(t, []atkCase{
		{name: "control", proof: typ(`"dpop+jwt"`), jkt: k.Thumbprint()},
		{name: "control with MediaTypeTyp", proof: typ(`"dpop+jwt"`), opts: media, jkt: k.Thumbprint()},
		{name: "typ missing", proof: craft(t, k, atkObj(atkAlg("ES256"), jwk), claims), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "JWT", proof: typ(`"JWT"`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "at+jwt", proof: typ(`"at+jwt"`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "at+jwt with MediaTypeTyp", proof: typ(`"at+jwt"`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "application/at+jwt with MediaTypeTyp", proof: typ(`"application/at+jwt"`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "RFC 9449 Figure 8 access token as a proof", proof: atkRFCAccessTokenJWT, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "application/dpop+jwt, exact by default", proof: typ(`"application/dpop+jwt"`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "DPoP+JWT, exact by default", proof: typ(`"DPoP+JWT"`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "application/dpop+jwt with MediaTypeTyp", proof: typ(`"application/dpop+jwt"`), opts: media, jkt: k.Thumbprint()},
		{name: "DPoP+JWT with MediaTypeTyp", proof: typ(`"DPoP+JWT"`), opts: media, jkt: k.Thumbprint()},
		{name: "Application/DPOP+JWT with MediaTypeTyp", proof: typ(`"Application/DPOP+JWT"`), opts: media, jkt: k.Thumbprint()},
		{name: "text/dpop+jwt with MediaTypeTyp", proof: typ(`"text/dpop+jwt"`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "application/ alone with MediaTypeTyp", proof: typ(`"application/"`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "application/application/dpop+jwt with MediaTypeTyp", proof: typ(`"application/application/dpop+jwt"`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "trailing space", proof: typ(`"dpop+jwt "`), opts: media, want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "dpop", proof: typ(`"dpop"`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "empty", proof: typ(`""`), want: ErrInvalidTyp, code: CodeInvalidProof},
		{name: "typ escaped", proof: typ(`"dpop\u002bjwt"`), jkt: k.Thumbprint()},
		{name: "typ a number", proof: typ(`1`), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "typ null", proof: typ(`null`), want: ErrInvalidHeader, code: CodeInvalidProof},
		{name: "typ an array", proof: typ(`["dpop+jwt"]`), want: ErrInvalidHeader, code: CodeInvalidProof},
	})
}

// Class 18: htm variants; methods are case-sensitive.
func TestAttack18HTM(t *testing.T) {
	k := testKey(t, ES256)
	get := &Request{Method: "GET", URL: atkURL}
	runAttack(t, []atkCase{
		{name: "control POST", proof: atkProof(t, k), jkt: k.Thumbprint()},
		{name: "control GET", proof: atkProof(t, k, `"htm":"GET"`), req: get, jkt: k.Thumbprint()},
		{name: "post for POST", proof: atkProof(t, k, `"htm":"post"`), want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "Post for POST", proof: atkProof(t, k, `"htm":"Post"`), want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "GET for POST", proof: atkProof(t, k, `"htm":"GET"`), want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "POST for GET", proof: atkProof(t, k), req: get, want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "POST with a trailing space", proof: atkProof(t, k, `"htm":"POST "`), want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "empty htm", proof: atkProof(t, k, `"htm":""`), want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "request method lower case", proof: atkProof(t, k), req: &Request{Method: "post", URL: atkURL}, want: ErrHTMMismatch, code: CodeInvalidProof},
		{name: "htm missing", proof: atkProof(t, k, "-htm"), want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "htm a number", proof: atkProof(t, k, `"htm":1`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "htm null", proof: atkProof(t, k, `"htm":null`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "htm an array", proof: atkProof(t, k, `"htm":["POST"]`), want: ErrInvalidClaims, code: CodeInvalidProof},
	})
}

// Class 19: htu variants. Both sides are normalised (RFC 3986 §6.2.2,
// §6.2.3); a query or fragment in htu is refused unless StripHTUQuery.
func TestAttack19HTU(t *testing.T) {
	k := testKey(t, ES256)
	htu := func(u string) string { return atkProof(t, k, atkStr("htu", u)) }
	strip := VerifierOptions{StripHTUQuery: true}
	reqURL := func(u string) *Request { return &Request{Method: "POST", URL: u} }
	accept := func(name, proof string) atkCase { return atkCase{name: name, proof: proof, jkt: k.Thumbprint()} }
	refuse := func(name, proof string) atkCase {
		return atkCase{name: name, proof: proof, want: ErrHTUMismatch, code: CodeInvalidProof}
	}
	cases := []atkCase{
		accept("control", atkProof(t, k)),
		accept("host case", htu("https://SERVER.Example.COM/token")),
		accept("scheme case", htu("HTTPS://server.example.com/token")),
		accept("default port", htu("https://server.example.com:443/token")),
		accept("default port with leading zeros", htu("https://server.example.com:0443/token")),
		accept("%74oken", htu("https://server.example.com/%74oken")),
		accept("to%6Ben", htu("https://server.example.com/to%6Ben")),
		accept("/a/../token", htu("https://server.example.com/a/../token")),
		accept("/./token", htu("https://server.example.com/./token")),
		accept("everything at once", htu("HTTPS://SERVER.example.COM:443/a/./b/../../%74oken")),
		{name: "request URL not normalised, with a query", proof: atkProof(t, k), req: reqURL("HTTPS://Server.Example.com:443/./%74oken?x=1#f"), jkt: k.Thumbprint()},
		{name: "empty path equals /", proof: htu("https://server.example.com"), req: reqURL("https://server.example.com/"), jkt: k.Thumbprint()},
		{name: "%7e equals ~", proof: htu("https://server.example.com/%7euser"), req: reqURL("https://server.example.com/~user"), jkt: k.Thumbprint()},
		{name: "query, StripHTUQuery", proof: htu(atkURL + "?x=1"), opts: strip, jkt: k.Thumbprint()},
		{name: "fragment, StripHTUQuery", proof: htu(atkURL + "#frag"), opts: strip, jkt: k.Thumbprint()},
		{name: "query and fragment, StripHTUQuery", proof: htu(atkURL + "?x=1#frag"), opts: strip, jkt: k.Thumbprint()},
		refuse("query ?x=1", htu(atkURL+"?x=1")),
		refuse("fragment #frag", htu(atkURL+"#frag")),
		refuse("empty query", htu(atkURL+"?")),
		refuse("empty fragment", htu(atkURL+"#")),
		refuse("trailing /", htu(atkURL+"/")),
		refuse("http://", htu("http://server.example.com/token")),
		refuse(":8443", htu("https://server.example.com:8443/token")),
		refuse("other host", htu("https://evil.example/token")),
		refuse("host suffix", htu("https://server.example.com.evil.example/token")),
		refuse("userinfo", htu("https://server.example.com@evil.example/token")),
		refuse("/Token", htu("https://server.example.com/Token")),
		refuse("%2Ftoken", htu("https://server.example.com/%2Ftoken")),
		refuse("scheme-relative //host/path", htu("//server.example.com/token")),
		refuse("no scheme", htu("server.example.com/token")),
		refuse("path only", htu("/token")),
		refuse("wss://", htu("wss://server.example.com/token")),
		refuse("space in the path", htu("https://server.example.com/tok en")),
		refuse("leading space", htu(" "+atkURL)),
		refuse("empty htu", htu("")),
		refuse("/token/..", htu("https://server.example.com/token/..")),
		refuse("other endpoint", htu("https://server.example.com/par")),
		{name: "StripHTUQuery does not loosen the path", proof: htu("https://server.example.com/par?x=1"), opts: strip, want: ErrHTUMismatch, code: CodeInvalidProof},
		{name: "request URL relative", proof: atkProof(t, k), req: reqURL("/token"), want: ErrHTUMismatch, code: CodeInvalidProof},
		{name: "htu missing", proof: atkProof(t, k, "-htu"), want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "htu a number", proof: atkProof(t, k, `"htu":1`), want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "htu an object", proof: atkProof(t, k, `"htu":{"href":"`+atkURL+`"}`), want: ErrInvalidClaims, code: CodeInvalidProof},
	}
	runAttack(t, cases)
}

// Class 20: iat variants. The verifier clock is atkNow; the window is
// now-70 s to now+10 s.
func TestAttack20IAT(t *testing.T) {
	k := testKey(t, ES256)
	iat := func(v string) string { return atkProof(t, k, `"iat":`+v) }
	at := func(d int64) string { return iat(fmt.Sprint(atkNow + d)) }
	ok := func(name, proof string) atkCase { return atkCase{name: name, proof: proof, jkt: k.Thumbprint()} }
	bad := func(name, proof string, want error) atkCase {
		return atkCase{name: name, proof: proof, want: want, code: CodeInvalidProof}
	}
	runAttack(t, []atkCase{
		ok("control", at(0)),
		ok("1700000000.5", iat("1700000000.5")),
		ok("+5 s", at(5)),
		ok("+10 s (leeway edge)", at(10)),
		ok("-70 s (window edge)", at(-70)),
		ok("1.7e9", iat("1.7e9")),
		ok("1.7E+9", iat("1.7E+9")),
		ok("17e8", iat("17e8")),
		ok("1700000000.0", iat("1700000000.0")),
		ok("170000000000e-2", iat("170000000000e-2")),
		bad(`"1700000000" (string)`, iat(`"1700000000"`), ErrInvalidClaims),
		bad("+86400", at(86400), ErrIATInFuture),
		bad("-86400 s ago", at(-86400), ErrIATTooOld),
		bad("-86400 (negative)", iat("-86400"), ErrInvalidClaims),
		bad("+11 s", at(11), ErrIATInFuture),
		bad("+10.5 s", iat(fmt.Sprintf("%d.5", atkNow+10)), ErrIATInFuture),
		bad("-71 s", at(-71), ErrIATTooOld),
		bad("1e308", iat("1e308"), ErrInvalidClaims),
		bad("1e309 (overflows)", iat("1e309"), ErrInvalidClaims),
		bad("-1", iat("-1"), ErrInvalidClaims),
		bad("-1e-300", iat("-1e-300"), ErrInvalidClaims),
		bad("9223372036854775808", iat("9223372036854775808"), ErrInvalidClaims),
		bad("9223372036854775807", iat("9223372036854775807"), ErrInvalidClaims),
		bad("253402300799 (last second of 9999)", iat("253402300799"), ErrIATInFuture),
		bad("253402300800", iat("253402300800"), ErrInvalidClaims),
		bad("0", iat("0"), ErrIATTooOld),
		bad("null", iat("null"), ErrInvalidClaims),
		bad("true", iat("true"), ErrInvalidClaims),
		bad("array", iat(fmt.Sprintf("[%d]", atkNow)), ErrInvalidClaims),
		bad("leading zero", iat(fmt.Sprintf("0%d", atkNow)), ErrInvalidClaims),
		bad("leading +", iat(fmt.Sprintf("+%d", atkNow)), ErrInvalidClaims),
		bad("NaN", iat("NaN"), ErrInvalidClaims),
		bad("Infinity", iat("Infinity"), ErrInvalidClaims),
		bad("hex", iat("0x6553F100"), ErrInvalidClaims),
		bad("trailing dot", iat(fmt.Sprintf("%d.", atkNow)), ErrInvalidClaims),
		bad("iat missing", atkProof(t, k, "-iat"), ErrMissingClaim),
	})
}

// Class 21: missing or malformed jti.
func TestAttack21JTI(t *testing.T) {
	k := testKey(t, ES256)
	jti := func(v string) string { return atkProof(t, k, `"jti":`+v) }
	ok := func(name, proof string) atkCase { return atkCase{name: name, proof: proof, jkt: k.Thumbprint()} }
	bad := func(name, proof string, want error) atkCase {
		return atkCase{name: name, proof: proof, want: want, code: CodeInvalidProof}
	}
	runAttack(t, []atkCase{
		ok("control", atkProof(t, k)),
		ok("one character", jti(`"a"`)),
		ok("256 characters", jti(`"`+strings.Repeat("a", MaxJTILength)+`"`)),
		ok("escaped", jti(`"\u0041bc"`)),
		ok("256 escaped characters", jti(`"`+strings.Repeat(`\u0041`, MaxJTILength)+`"`)),
		ok("UUID", jti(`"0d8b5c9e-4a34-4c1e-9a3c-1e8a3b0f2c11"`)),
		bad("missing", atkProof(t, k, "-jti"), ErrMissingClaim),
		bad("numeric", jti("123"), ErrInvalidClaims),
		bad("empty", jti(`""`), ErrInvalidClaims),
		bad("257 characters", jti(`"`+strings.Repeat("a", MaxJTILength+1)+`"`), ErrInvalidClaims),
		bad("4096 characters", jti(`"`+strings.Repeat("a", 4096)+`"`), ErrInvalidClaims),
		bad("null", jti("null"), ErrInvalidClaims),
		bad("array", jti(`["a"]`), ErrInvalidClaims),
		bad("object", jti(`{"a":1}`), ErrInvalidClaims),
		bad("boolean", jti("true"), ErrInvalidClaims),
	})
}

// Class 22: replay. The store is global (not per URI), keyed on the
// thumbprint and the jti, and written only for a proof that passed every
// other check.
func TestAttack22Replay(t *testing.T) {
	a := testKey(t, ES256)
	b := atkKey(t, EdDSA)
	jti := `"jti":"` + atkJTI() + `"`
	par := "https://server.example.com/par"
	pA := atkProof(t, a, jti)
	pAResigned := craft(t, a, atkHeader(a), string(atkDec(t, atkSeg(pA, 1))))
	if pAResigned == pA {
		t.Fatal("re-signing gave the same token")
	}
	pAPar := atkProof(t, a, jti, atkStr("htu", par))
	pAGet := atkProof(t, a, jti, `"htm":"GET"`)
	pB := atkProof(t, b, jti)
	jti2 := `"jti":"` + atkJTI() + `"`
	pA2 := atkProof(t, a, jti2)
	pA2Broken := replaceSegment(pA2, 2, atkSeg(pA, 2))
	jti3 := `"jti":"` + atkJTI() + `"`
	pA3 := atkProof(t, a, jti3)
	jti4 := `"jti":"` + atkJTI() + `"`
	pA4Future := atkProof(t, a, jti4, fmt.Sprintf(`"iat":%d`, atkNow+3600))
	pA4 := atkProof(t, a, jti4)

	v, _ := newTestVerifier(t, atkNow, VerifierOptions{})
	runSteps(t, v, []atkStep{
		{name: "first use", proof: pA},
		{name: "same proof again", proof: pA, want: ErrReplay, code: CodeInvalidProof},
		{name: "same header and claims, new signature", proof: pAResigned, want: ErrReplay, code: CodeInvalidProof},
		{name: "same jti for another htu", proof: pAPar, req: &Request{Method: "POST", URL: par}, want: ErrReplay, code: CodeInvalidProof},
		{name: "same jti for another htm", proof: pAGet, req: &Request{Method: "GET", URL: atkURL}, want: ErrReplay, code: CodeInvalidProof},
		{name: "same jti from another key", proof: pB},
		{name: "that one again", proof: pB, want: ErrReplay, code: CodeInvalidProof},
		{name: "new jti", proof: pA2},
		{name: "bad signature does not record its jti", proof: pA2Broken, want: ErrInvalidSignature, code: CodeInvalidProof},
		{name: "wrong URL first", proof: pA3, req: &Request{Method: "POST", URL: par}, want: ErrHTUMismatch, code: CodeInvalidProof},
		{name: "then the right URL", proof: pA3},
		{name: "then again", proof: pA3, want: ErrReplay, code: CodeInvalidProof},
		{name: "future iat does not record its jti", proof: pA4Future, want: ErrIATInFuture, code: CodeInvalidProof},
		{name: "same jti, valid iat", proof: pA4},
	})

	// Store failures fail closed with temporarily_unavailable.
	full := NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: 1, Now: atkTime})
	if _, err := full.Seen(context.Background(), ReplayKey{1}, atkTime().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	runAttack(t, []atkCase{
		{name: "control", proof: atkProof(t, a)},
		{name: "replay store fails", proof: atkProof(t, a), opts: VerifierOptions{Replay: atkFailingStore{}}, want: ErrStoreUnavailable, code: CodeTemporarilyUnavailable},
		{name: "replay store full", proof: atkProof(t, a), opts: VerifierOptions{Replay: full}, want: ErrStoreUnavailable, code: CodeTemporarilyUnavailable},
	})
}

type atkFailingStore struct{}

func (atkFailingStore) Seen(context.Context, ReplayKey, time.Time) (bool, error) {
	return false, errors.New("store down")
}

// Class 23: ath tricks.
func TestAttack23ATH(t *testing.T) {
	k := testKey(t, ES256)
	// A token whose hash uses - or _, so that every encoding below differs
	// from base64url.
	tok := rfcAccessToken
	for i := 0; !strings.ContainsAny(AccessTokenHash(tok), "-_"); i++ {
		tok = fmt.Sprintf("%s-%d", rfcAccessToken, i)
	}
	sum := sha256.Sum256([]byte(tok))
	withTok := &Request{Method: "POST", URL: atkURL, AccessToken: tok}
	ath := func(v string) string { return atkProof(t, k, atkStr("ath", v)) }
	dpopSum := sha256.Sum256([]byte("DPoP " + tok))
	bad := func(name, proof string, want error) atkCase {
		return atkCase{name: name, proof: proof, req: withTok, want: want, code: CodeInvalidProof}
	}
	runAttack(t, []atkCase{
		{name: "control", proof: ath(AccessTokenHash(tok)), req: withTok, jkt: k.Thumbprint(), check: func(t *testing.T, p *Proof, _ error) {
			if p.ATH != AccessTokenHash(tok) {
				t.Errorf("ATH = %q, want %q", p.ATH, AccessTokenHash(tok))
			}
		}},
		// Without an access token, ath is not compared (the AS case).
		{name: "ath without an access token", proof: ath("anything"), jkt: k.Thumbprint()},
		bad("missing", atkProof(t, k), ErrMissingClaim),
		bad("= padded", ath(base64.URLEncoding.EncodeToString(sum[:])), ErrATHMismatch),
		bad(`hash of "DPoP "+token`, ath(atkEnc(dpopSum[:])), ErrATHMismatch),
		bad("standard base64", ath(base64.StdEncoding.EncodeToString(sum[:])), ErrATHMismatch),
		bad("standard base64 without padding", ath(base64.RawStdEncoding.EncodeToString(sum[:])), ErrATHMismatch),
		bad("hex", ath(hex.EncodeToString(sum[:])), ErrATHMismatch),
		bad("upper-cased", ath(strings.ToUpper(AccessTokenHash(tok))), ErrATHMismatch),
		bad("truncated", ath(AccessTokenHash(tok)[:42]), ErrATHMismatch),
		bad("empty", ath(""), ErrMissingClaim),
		bad("hash of another token", ath(AccessTokenHash(tok+"x")), ErrATHMismatch),
		bad("SHA-512 hash", ath(atkEnc(sha512.New().Sum(nil))), ErrATHMismatch),
		bad("ath a number", atkProof(t, k, `"ath":1`), ErrInvalidClaims),
		bad("ath null", atkProof(t, k, `"ath":null`), ErrInvalidClaims),
	})
}

// Class 24: nonces. A missing, wrong, expired or foreign nonce gets
// use_dpop_nonce with a fresh nonce in Error.Nonce.
func TestAttack24Nonce(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, ES256)
	secret := []byte(strings.Repeat("s", 32))
	src, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "as", Now: atkTime})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "rs", Now: atkTime})
	if err != nil {
		t.Fatal(err)
	}
	past, err := NewHMACNonceSource(HMACNonceOptions{Secret: secret, Scope: "as", Now: func() time.Time { return atkTime().Add(-10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(s *HMACNonceSource) string {
		n, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	good, foreign, expired := issue(src), issue(rs), issue(past)
	swap := byte('A')
	if good[5] == 'A' {
		swap = 'B'
	}
	tampered := good[:5] + string(swap) + good[6:]
	nonce := func(v string) string { return atkProof(t, k, atkStr("nonce", v)) }
	withSrc := VerifierOptions{Nonces: src}
	// freshFrom checks that a use_dpop_nonce error carries a nonce that the
	// source accepts.
	freshFrom := func(s NonceSource) func(t *testing.T, p *Proof, err error) {
		return func(t *testing.T, _ *Proof, err error) {
			var e *Error
			if !errors.As(err, &e) || e.Nonce == "" {
				t.Fatalf("no fresh nonce in %v", err)
			}
			if !IsValidNonce(e.Nonce) {
				t.Errorf("fresh nonce %q is not 1*NQCHAR", e.Nonce)
			}
			if err := s.Check(ctx, e.Nonce); err != nil {
				t.Errorf("fresh nonce %q does not check: %v", e.Nonce, err)
			}
		}
	}
	expect := func(want string) func(t *testing.T, p *Proof, err error) {
		return func(t *testing.T, _ *Proof, err error) {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			if e.Nonce != want {
				t.Fatalf("Error.Nonce = %q, want %q", e.Nonce, want)
			}
		}
	}
	rfcNonce := "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	exact := &Request{Method: "POST", URL: atkURL, Nonce: rfcNonce}
	runAttack(t, []atkCase{
		{name: "control: issued nonce", proof: nonce(good), opts: withSrc, jkt: k.Thumbprint(), check: func(t *testing.T, p *Proof, _ error) {
			if p.Nonce != good {
				t.Errorf("Nonce = %q, want %q", p.Nonce, good)
			}
		}},
		{name: "control: no nonce source, no nonce", proof: atkProof(t, k), jkt: k.Thumbprint()},
		{name: "control: no nonce source, nonce ignored", proof: nonce("whatever"), jkt: k.Thumbprint()},
		{name: "control: exact Request.Nonce (RFC example)", proof: nonce(rfcNonce), req: exact, jkt: k.Thumbprint()},
		{name: "omitted", proof: atkProof(t, k), opts: withSrc, want: ErrNonceRequired, code: CodeUseNonce, check: freshFrom(src)},
		{name: "empty", proof: nonce(""), opts: withSrc, want: ErrNonceRequired, code: CodeUseNonce, check: freshFrom(src)},
		{name: "with a space (not NQCHAR)", proof: nonce(good[:10] + " " + good[10:]), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "abc def", proof: nonce("abc def"), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "other scope", proof: nonce(foreign), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "expired", proof: nonce(expired), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "tampered", proof: nonce(tampered), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "RFC example nonce", proof: nonce(rfcNonce), opts: withSrc, want: ErrNonceInvalid, code: CodeUseNonce, check: freshFrom(src)},
		{name: "nonce a number", proof: atkProof(t, k, `"nonce":1`), opts: withSrc, want: ErrInvalidClaims, code: CodeInvalidProof},
		{name: "exact nonce omitted", proof: atkProof(t, k), req: exact, want: ErrNonceRequired, code: CodeUseNonce, check: expect(rfcNonce)},
		{name: "exact nonce wrong", proof: nonce(rfcNonce + "x"), req: exact, want: ErrNonceInvalid, code: CodeUseNonce, check: expect(rfcNonce)},
		{name: "exact nonce, case differs", proof: nonce(strings.ToLower(rfcNonce)), req: exact, want: ErrNonceInvalid, code: CodeUseNonce, check: expect(rfcNonce)},
		{name: "nonce source down", proof: nonce(good), opts: VerifierOptions{Nonces: atkFailingNonces{}}, want: ErrStoreUnavailable, code: CodeTemporarilyUnavailable},
		{name: "nonce source down, no nonce", proof: atkProof(t, k), opts: VerifierOptions{Nonces: atkFailingNonces{}}, want: ErrStoreUnavailable, code: CodeTemporarilyUnavailable},
	})
}

type atkFailingNonces struct{}

func (atkFailingNonces) Nonce(context.Context) (string, error) { return "", errors.New("down") }
func (atkFailingNonces) Check(context.Context, string) error   { return errors.New("down") }

// Class 25: DPoP header multiplicity (RFC 9449 §4.3 check 1).
func TestAttack25HeaderMultiplicity(t *testing.T) {
	k := testKey(t, ES256)
	valid := atkProof(t, k)
	other := atkProof(t, k)
	wire := func(lines ...string) http.Header {
		raw := "POST /token HTTP/1.1\r\nHost: server.example.com\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatal(err)
		}
		return r.Header
	}
	cases := []struct {
		name string
		h    http.Header
		want error
		code string
	}{
		{name: "control: canonical Dpop", h: http.Header{"Dpop": {valid}}},
		{name: "control: DPoP", h: http.Header{"DPoP": {valid}}},
		{name: "control: dpop", h: http.Header{"dpop": {valid}}},
		{name: "control: DPOP", h: http.Header{"DPOP": {valid}}},
		{name: "control: surrounding blanks", h: http.Header{"Dpop": {" \t" + valid + "\t "}}},
		{name: "control: from the wire, dpop:", h: wire("dpop: " + valid)},
		{name: "control: with DPoP-Nonce and Authorization", h: http.Header{"Dpop": {valid}, "Dpop-Nonce": {"n"}, "Authorization": {"DPoP " + rfcAccessToken}}},
		{name: "two field lines", h: http.Header{"Dpop": {valid, other}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "the same proof twice", h: http.Header{"Dpop": {valid, valid}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "two spellings", h: http.Header{"Dpop": {valid}, "dpop": {other}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "from the wire, two lines", h: wire("DPoP: "+valid, "dpop: "+other), want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "comma-joined", h: http.Header{"Dpop": {valid + ", " + other}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "comma-joined, no space", h: http.Header{"Dpop": {valid + "," + other}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "trailing comma", h: http.Header{"Dpop": {valid + ","}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "a proof and an empty line", h: http.Header{"Dpop": {valid, ""}}, want: ErrMultipleProofs, code: CodeInvalidProof},
		{name: "empty value", h: http.Header{"Dpop": {""}}, want: ErrMalformed, code: CodeInvalidProof},
		{name: "blank value", h: http.Header{"Dpop": {" \t "}}, want: ErrMalformed, code: CodeInvalidProof},
		{name: "from the wire, empty", h: wire("DPoP:"), want: ErrMalformed, code: CodeInvalidProof},
		{name: "no DPoP field", h: http.Header{"Authorization": {"DPoP " + rfcAccessToken}, "Dpop-Nonce": {"n"}}, want: ErrMissingProof, code: CodeInvalidProof},
		{name: "field with no values", h: http.Header{"Dpop": {}}, want: ErrMissingProof, code: CodeInvalidProof},
		{name: "nil header", h: nil, want: ErrMissingProof, code: CodeInvalidProof},
		{name: "DPoP- prefix only", h: http.Header{"Dpop-": {valid}}, want: ErrMissingProof, code: CodeInvalidProof},
	}
	pos := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proof, err := ProofFromHeader(tc.h)
			if tc.want != nil {
				if proof != "" {
					t.Errorf("proof %q returned with an error", proof)
				}
				if err == nil {
					t.Fatalf("accepted; want %v", tc.want)
				}
				atkCheckErr(t, err, tc.want, tc.code)
				return
			}
			pos++
			if err != nil || proof != valid {
				t.Fatalf("ProofFromHeader = %q, %v; want the proof", proof, err)
			}
			v, _ := newTestVerifier(t, atkNow, VerifierOptions{})
			p, err := v.Verify(context.Background(), proof, Request{Method: "POST", URL: atkURL})
			atkCheckVerdict(t, p, err, nil, "")
		})
	}
	if pos == 0 {
		t.Fatal("no positive control ran")
	}
}

// Classes 26 to 29 are about the Authorization header: which scheme a token
// came with and whether the token is bound at all. That part belongs to the
// resource-server middleware, which turns the header and the token's cnf
// into Request.AccessToken and Request.BoundKey. The core can check only
// what it is given: ath against AccessToken and the proof key against
// BoundKey, with invalid_token for a key mismatch (RFC 9449 Figure 16).

// Class 26: bound token downgraded to Bearer. The middleware must refuse
// "Authorization: Bearer" for a bound token; the core refuses a proof of
// another key, a proof without ath, and no proof.
func TestAttack26BearerDowngrade(t *testing.T) {
	a := testKey(t, ES256)
	b := atkNewES256(t)
	tok := rfcAccessToken
	bound := &Request{Method: "GET", URL: atkURL, AccessToken: tok, BoundKey: a.Thumbprint()}
	get := func(k *Key, edits ...string) string {
		return atkProof(t, k, append([]string{`"htm":"GET"`}, edits...)...)
	}
	withATH := atkStr("ath", AccessTokenHash(tok))
	runAttack(t, []atkCase{
		{name: "control: bound token with its key's proof", proof: get(a, withATH), req: bound, jkt: a.Thumbprint()},
		{name: "proof of another key", proof: get(b, withATH), req: bound, want: ErrKeyMismatch, code: CodeInvalidToken},
		{name: "proof without ath", proof: get(a), req: bound, want: ErrMissingClaim, code: CodeInvalidProof},
		{name: "no proof", proof: "", req: bound, want: ErrMissingProof, code: CodeInvalidProof},
	})
}

// Class 27: unbound token under the DPoP scheme. An unbound token has no
// cnf.jkt, and refusing it is the middleware's job (A5); the core refuses
// any BoundKey that is not exactly the proof key's thumbprint.
func TestAttack27UnboundTokenUnderDPoP(t *testing.T) {
	a := testKey(t, ES256)
	tok := rfcAccessToken
	req := func(bound string) *Request {
		return &Request{Method: "POST", URL: atkURL, AccessToken: tok, BoundKey: bound}
	}
	p := func() string { return atkProof(t, a, atkStr("ath", AccessTokenHash(tok))) }
	sum := sha256.Sum256(a.PublicJWK())
	runAttack(t, []atkCase{
		{name: "control: exact thumbprint", proof: p(), req: req(a.Thumbprint()), jkt: a.Thumbprint()},
		{name: "not a thumbprint", proof: p(), req: req("unbound"), want: ErrKeyMismatch, code: CodeInvalidToken},
		{name: "thumbprint in upper case", proof: p(), req: req(strings.ToUpper(a.Thumbprint())), want: ErrKeyMismatch, code: CodeInvalidToken},
		{name: "thumbprint with padding", proof: p(), req: req(a.Thumbprint() + "="), want: ErrKeyMismatch, code: CodeInvalidToken},
		{name: "thumbprint in hex", proof: p(), req: req(hex.EncodeToString(sum[:])), want: ErrKeyMismatch, code: CodeInvalidToken},
		{name: "thumbprint in standard base64", proof: p(), req: req(base64.StdEncoding.EncodeToString(sum[:])), want: ErrKeyMismatch, code: CodeInvalidToken},
	})
}

// Class 28: wrong key for the token.
func TestAttack28WrongKey(t *testing.T) {
	a := testKey(t, ES256)
	tok := rfcAccessToken
	bound := &Request{Method: "POST", URL: atkURL, AccessToken: tok, BoundKey: a.Thumbprint()}
	withATH := atkStr("ath", AccessTokenHash(tok))
	rsReq := func(jkt string) *Request {
		return &Request{Method: "GET", URL: "https://resource.example.org/protectedresource", AccessToken: rfcAccessToken, BoundKey: jkt}
	}
	cases := []atkCase{
		{name: "control", proof: atkProof(t, a, withATH), req: bound, jkt: a.Thumbprint()},
		{name: "control: RFC resource proof", proof: rfcResourceProof, req: rsReq(rfcJKT), at: rfcResourceIAT, jkt: rfcJKT},
		{name: "RFC resource proof, token bound to the RFC 7638 key", proof: rfcResourceProof, req: rsReq(atkRFC7638JKT), at: rfcResourceIAT, want: ErrKeyMismatch, code: CodeInvalidToken},
	}
	for _, alg := range []Algorithm{ES256, ES384, EdDSA, RS256, PS256} {
		k := atkKey(t, alg)
		if alg == ES256 {
			k = atkNewES256(t)
		}
		cases = append(cases, atkCase{name: "proof from a " + string(alg) + " key", proof: atkProof(t, k, withATH), req: bound, want: ErrKeyMismatch, code: CodeInvalidToken})
	}
	runAttack(t, cases)
}

// Class 29: scheme spelling. "Authorization: dpop <token>" is the same
// scheme; parsing it is the middleware's job. The core sees the token
// alone, and a middleware that forgot to strip the scheme gets a mismatch.
func TestAttack29SchemeSpelling(t *testing.T) {
	a := testKey(t, ES256)
	tok := rfcAccessToken
	p := func() string { return atkProof(t, a, atkStr("ath", AccessTokenHash(tok))) }
	req := func(token string) *Request {
		return &Request{Method: "POST", URL: atkURL, AccessToken: token, BoundKey: a.Thumbprint()}
	}
	runAttack(t, []atkCase{
		{name: "control: token without the scheme", proof: p(), req: req(tok), jkt: a.Thumbprint()},
		{name: `"DPoP " left on the token`, proof: p(), req: req("DPoP " + tok), want: ErrATHMismatch, code: CodeInvalidProof},
		{name: `"dpop " left on the token`, proof: p(), req: req("dpop " + tok), want: ErrATHMismatch, code: CodeInvalidProof},
		{name: "token with a trailing space", proof: p(), req: req(tok + " "), want: ErrATHMismatch, code: CodeInvalidProof},
		{name: "token in another case", proof: p(), req: req(strings.ToUpper(tok)), want: ErrATHMismatch, code: CodeInvalidProof},
	})
}

// Class 30: thumbprints are computed from the required members only, in
// lexical order, whatever the jwk carries and in whatever order.
func TestAttack30Thumbprint(t *testing.T) {
	var cases []atkCase
	extraJWK := map[Algorithm]func(m map[string]string) string{
		ES256: func(m map[string]string) string {
			return fmt.Sprintf(`{"use":"sig","y":"%s","kid":"k1","x":"%s","alg":"ES256","key_ops":["verify"],"kty":"EC","crv":"P-256","ext":true}`, m["y"], m["x"])
		},
		EdDSA: func(m map[string]string) string {
			return fmt.Sprintf(` { "x" : "%s" , "kid":"k2", "crv":"Ed25519","use":"sig", "kty":"OKP" } `, m["x"])
		},
		RS256: func(m map[string]string) string {
			return fmt.Sprintf(`{"n":"%s","kid":"2011-04-29","alg":"RS256","e":"%s","use":"sig","kty":"RSA","x5c":[]}`, m["n"], m["e"])
		},
	}
	for _, alg := range []Algorithm{ES256, EdDSA, RS256} {
		k := atkKey(t, alg)
		m := atkMembers(t, k.PublicJWK())
		jwk := extraJWK[alg](m)
		if got, err := Thumbprint([]byte(jwk)); err != nil || got != k.Thumbprint() {
			t.Errorf("Thumbprint(%s) = %q, %v; want %q", jwk, got, err, k.Thumbprint())
		}
		a := string(alg)
		hdr := atkObj(atkAlg(a), atkJWKM(jwk), atkTyp)
		cases = append(cases,
			atkCase{name: a + " control", proof: atkProof(t, k), jkt: k.Thumbprint()},
			atkCase{name: a + " with kid, use, alg, key_ops in non-lexical order", proof: craft(t, k, hdr, atkClaims()), jkt: k.Thumbprint()},
			atkCase{name: a + " bound token, decorated jwk", proof: craft(t, k, hdr, atkClaims(atkStr("ath", rfcATH))),
				req: &Request{Method: "POST", URL: atkURL, AccessToken: rfcAccessToken, BoundKey: k.Thumbprint()}, jkt: k.Thumbprint()},
		)
	}
	k := testKey(t, ES256)
	m := atkMembers(t, k.PublicJWK())
	cases = append(cases,
		atkCase{name: "decorated jwk with a case-variant duplicate", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(string(k.PublicJWK()), `"KTY":"EC"`))), atkClaims()), want: ErrInvalidHeader, code: CodeInvalidProof},
		atkCase{name: "x with dirty bits (would be a second jkt)", proof: craft(t, k, atkObj(atkTyp, atkAlg("ES256"),
			atkJWKM(fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":"%s","y":"%s"}`, atkDirtyBits(m["x"]), m["y"]))), atkClaims()), want: ErrInvalidJWK, code: CodeInvalidProof},
	)
	runAttack(t, cases)

	// Known answers: RFC 7638 §3.1 and the RFC 9449 key, decorated.
	for jwk, want := range map[string]string{
		`{"kty":"RSA","n":"` + atkRFC7638N + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`:                                                                                  atkRFC7638JKT,
		`{"e":"AQAB","kid":"2011-04-29","n":"` + atkRFC7638N + `","kty":"RSA"}`:                                                                                                atkRFC7638JKT,
		atkWith(rfcJWK, `"kid":"x"`, `"use":"sig"`, `"alg":"ES256"`):                                                                                                           rfcJKT,
		"{\n  \"y\": \"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA\",\n  \"crv\": \"P-256\",\n  \"x\": \"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs\",\n  \"kty\": \"EC\"\n}": rfcJKT,
	} {
		if got, err := Thumbprint([]byte(jwk)); err != nil || got != want {
			t.Errorf("Thumbprint(%s) = %q, %v; want %q", jwk, got, err, want)
		}
	}
}

// Class 31: cross-endpoint replay of the RFC's token-endpoint proof.
func TestAttack31CrossEndpoint(t *testing.T) {
	rs := "https://resource.example.org/protectedresource"
	tokenReq := &Request{Method: "POST", URL: "https://server.example.com/token"}
	bad := func(name, proof string, req *Request, at int64, want error) atkCase {
		return atkCase{name: name, proof: proof, req: req, at: at, want: want, code: CodeInvalidProof}
	}
	runAttack(t, []atkCase{
		{name: "control: token proof at the token endpoint", proof: rfcTokenProof, req: tokenReq, at: rfcTokenIAT, jkt: rfcJKT},
		{name: "control: resource proof at the resource", proof: rfcResourceProof, req: &Request{Method: "GET", URL: rs, AccessToken: rfcAccessToken}, at: rfcResourceIAT, jkt: rfcJKT},
		bad("token proof at the resource", rfcTokenProof, &Request{Method: "GET", URL: rs, AccessToken: rfcAccessToken}, rfcTokenIAT, ErrHTMMismatch),
		bad("token proof POSTed to the resource", rfcTokenProof, &Request{Method: "POST", URL: rs, AccessToken: rfcAccessToken}, rfcTokenIAT, ErrHTUMismatch),
		bad("token proof POSTed to the resource, no token", rfcTokenProof, &Request{Method: "POST", URL: rs}, rfcTokenIAT, ErrHTUMismatch),
		bad("token proof with an access token", rfcTokenProof, &Request{Method: "POST", URL: "https://server.example.com/token", AccessToken: rfcAccessToken}, rfcTokenIAT, ErrMissingClaim),
		bad("token proof at the PAR endpoint", rfcTokenProof, &Request{Method: "POST", URL: "https://server.example.com/par"}, rfcTokenIAT, ErrHTUMismatch),
		bad("resource proof at the token endpoint", rfcResourceProof, tokenReq, rfcResourceIAT, ErrHTMMismatch),
		bad("resource proof as GET to the token endpoint", rfcResourceProof, &Request{Method: "GET", URL: "https://server.example.com/token"}, rfcResourceIAT, ErrHTUMismatch),
		bad("resource proof at another resource", rfcResourceProof, &Request{Method: "GET", URL: "https://resource.example.org/other", AccessToken: rfcAccessToken}, rfcResourceIAT, ErrHTUMismatch),
	})
}

// Class 32: invalid UTF-8. encoding/json would turn each of these into
// U+FFFD, so that different raw jtis collide; the strict reader refuses
// them.
func TestAttack32InvalidUTF8(t *testing.T) {
	k := testKey(t, ES256)
	jti := func(raw string) string { return atkProof(t, k, `"jti":"`+raw+`"`) }
	ok := func(name, proof string) atkCase { return atkCase{name: name, proof: proof, jkt: k.Thumbprint()} }
	bad := func(name, proof string, want error) atkCase {
		return atkCase{name: name, proof: proof, want: want, code: CodeInvalidProof}
	}
	runAttack(t, []atkCase{
		ok("control", jti("abc")),
		ok("real U+FFFD", jti("abc\uFFFD")),
		ok("raw UTF-8", jti("jt\u00ed-\u00fc-\U0001F600")),
		ok("escaped BMP", jti(`\u00e9t\u00e9`)),
		ok("escaped surrogate pair", jti(`\ud83d\ude00`)),
		bad("byte 0xFF", jti("abc\xff"), ErrInvalidClaims),
		bad("byte 0xFE", jti("abc\xfe"), ErrInvalidClaims),
		bad("lone continuation byte", jti("a\x80b"), ErrInvalidClaims),
		bad("truncated sequence", jti("a\xe2\x82"), ErrInvalidClaims),
		bad("overlong /", jti("a\xc0\xafb"), ErrInvalidClaims),
		bad("UTF-8 encoded surrogate", jti("a\xed\xa0\x80b"), ErrInvalidClaims),
		bad("escaped lone high surrogate", jti(`a\ud800b`), ErrInvalidClaims),
		bad("escaped lone low surrogate", jti(`a\udc00b`), ErrInvalidClaims),
		bad("escaped high surrogate at the end", jti(`a\ud800`), ErrInvalidClaims),
		bad("escaped reversed pair", jti(`\ude00\ud83d`), ErrInvalidClaims),
		bad("raw control character", jti("a\x01b"), ErrInvalidClaims),
		bad("invalid UTF-8 with an escape", jti(`\u0041`+"\xff"), ErrInvalidClaims),
		bad("0xFF in htu", atkProof(t, k, `"htu":"`+atkURL+"\xff"+`"`), ErrInvalidClaims),
		bad("0xFF in an unknown claim", atkProof(t, k, `"x":"\xff"`), ErrInvalidClaims),
		bad("0xFF in a member name", atkProof(t, k, "\"x\xff\":1"), ErrInvalidClaims),
		bad("0xFF in an unknown header member", craft(t, k, atkHeader(k, "\"x\":\"\xff\""), atkClaims()), ErrInvalidHeader),
		bad("0xFF in an ignored jwk member", craft(t, k, atkObj(atkTyp, atkAlg("ES256"), atkJWKM(atkWith(string(k.PublicJWK()), "\"kid\":\"\xff\""))), atkClaims()), ErrInvalidHeader),
	})
}

// Class 33: replay-store flooding with validly signed proofs from
// throw-away keys. Every proof is accepted once and refused after; the
// header cache stays bounded however many distinct headers arrive; refused
// proofs never reach the replay store.
func TestAttack33ReplayStoreFlooding(t *testing.T) {
	const nKeys, perKey = 50, 100
	keys := make([]*Key, nKeys)
	for i := range keys {
		keys[i] = atkNewES256(t)
	}
	// Each proof has its own ignored kid, so the 5 000 proofs carry 5 000
	// distinct header segments: more than the header cache holds.
	var proofs, broken, wrongURL []string
	for i, k := range keys {
		for j := range perKey {
			hdr := atkHeader(k, atkStr("kid", fmt.Sprintf("%d-%d", i, j)))
			proofs = append(proofs, craft(t, k, hdr, atkClaims()))
			if j < 10 {
				p := craft(t, k, hdr, atkClaims())
				broken = append(broken, replaceSegment(p, 2, atkSeg(proofs[0], 2)))
				wrongURL = append(wrongURL, craft(t, k, hdr, atkClaims(atkStr("htu", "https://server.example.com/other"))))
			}
		}
	}
	v, _ := newTestVerifier(t, atkNow, VerifierOptions{})
	store, ok := v.replay.(*MemoryReplayStore)
	if !ok {
		t.Fatalf("default replay store is %T", v.replay)
	}
	small, _ := newTestVerifier(t, atkNow, VerifierOptions{HeaderCacheSize: 16})

	phases := []struct {
		name   string
		v      *Verifier
		proofs []string
		want   error
		store  int // replay store length after the phase
	}{
		{name: "flood accepted once", v: v, proofs: proofs, store: len(proofs)},
		{name: "flood replayed", v: v, proofs: proofs, want: ErrReplay, store: len(proofs)},
		{name: "bad signatures not recorded", v: v, proofs: broken, want: ErrInvalidSignature, store: len(proofs)},
		{name: "wrong htu not recorded", v: v, proofs: wrongURL, want: ErrHTUMismatch, store: len(proofs)},
		{name: "small cache, accepted", v: small, proofs: proofs[:500], store: -1},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			bad, firstErr := 0, ""
			const workers = 4
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(ph.proofs); i += workers {
						p, err := ph.v.Verify(context.Background(), ph.proofs[i], Request{Method: "POST", URL: atkURL})
						good := err == nil && p != nil
						if ph.want != nil {
							good = errors.Is(err, ph.want) && ErrorCode(err) == CodeInvalidProof && p == nil
						}
						if !good {
							mu.Lock()
							if bad == 0 {
								firstErr = fmt.Sprint(err)
							}
							bad++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if bad != 0 {
				t.Fatalf("%d of %d proofs got the wrong verdict, first: %v (want %v)", bad, len(ph.proofs), firstErr, ph.want)
			}
			if ph.store >= 0 && store.Len() != ph.store {
				t.Errorf("replay store holds %d entries, want %d", store.Len(), ph.store)
			}
		})
	}
	cacheLen := func(v *Verifier) int {
		v.cache.mu.RLock()
		defer v.cache.mu.RUnlock()
		return len(v.cache.m)
	}
	switch n := cacheLen(v); {
	case n > DefaultHeaderCacheSize:
		t.Errorf("header cache holds %d entries, more than DefaultHeaderCacheSize = %d", n, DefaultHeaderCacheSize)
	case n != DefaultHeaderCacheSize:
		t.Errorf("header cache holds %d entries after %d distinct headers, want it full (%d)", n, len(proofs), DefaultHeaderCacheSize)
	}
	if n := cacheLen(small); n > 16 {
		t.Errorf("small header cache holds %d entries, want at most 16", n)
	}
}

// Class 34: happy paths for every algorithm, and the allow-list.
func TestAttack34HappyPaths(t *testing.T) {
	all := []Algorithm{ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512}
	var cases []atkCase
	for _, alg := range all {
		k := atkKey(t, alg)
		proof, err := k.Proof("POST", atkURL, WithIssuedAt(atkTime()))
		if err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, p *Proof, _ error) {
			if p.Algorithm != alg || p.HTM != "POST" || p.HTU != atkURL || !p.IssuedAt.Equal(atkTime()) || !k.pub.key.(interface{ Equal(crypto.PublicKey) bool }).Equal(p.PublicKey) {
				t.Errorf("verified as %+v", p)
			}
		}
		cases = append(cases,
			atkCase{name: string(alg) + " Key.Proof", proof: proof, jkt: k.Thumbprint(), check: check},
			atkCase{name: string(alg) + " crafted", proof: atkProof(t, k), jkt: k.Thumbprint(), check: check},
			atkCase{name: string(alg) + " alone on the allow-list", proof: atkProof(t, k), opts: VerifierOptions{Algorithms: []Algorithm{alg}}, jkt: k.Thumbprint()},
		)
		for _, other := range all {
			if other != alg {
				cases = append(cases, atkCase{name: string(alg) + " not on [" + string(other) + "]", proof: atkProof(t, k),
					opts: VerifierOptions{Algorithms: []Algorithm{other}}, want: ErrUnsupportedAlg, code: CodeInvalidProof})
			}
		}
	}
	es256Only := VerifierOptions{Algorithms: []Algorithm{ES256}}
	cases = append(cases,
		atkCase{name: "Ed25519 key on [ES256]", proof: atkProof(t, atkKey(t, EdDSA)), opts: es256Only, want: ErrUnsupportedAlg, code: CodeInvalidProof},
		atkCase{name: "RS256 on [PS256, ES256]", proof: atkProof(t, atkKey(t, RS256)), opts: VerifierOptions{Algorithms: []Algorithm{PS256, ES256}}, want: ErrUnsupportedAlg, code: CodeInvalidProof},
		atkCase{name: "PS256 on [PS256, ES256]", proof: atkProof(t, atkKey(t, PS256)), opts: VerifierOptions{Algorithms: []Algorithm{PS256, ES256}}, jkt: atkKey(t, PS256).Thumbprint()},
		atkCase{name: "RFC token proof on [ES256]", proof: rfcTokenProof, at: rfcTokenIAT, opts: es256Only, jkt: rfcJKT},
		atkCase{name: "RFC token proof on [EdDSA]", proof: rfcTokenProof, at: rfcTokenIAT, opts: VerifierOptions{Algorithms: []Algorithm{EdDSA}}, want: ErrUnsupportedAlg, code: CodeInvalidProof},
	)
	runAttack(t, cases)

	// The allow-list is what the verifier reports, without duplicates.
	v, _ := newTestVerifier(t, atkNow, VerifierOptions{Algorithms: []Algorithm{PS256, ES256, PS256}})
	if got := v.Algorithms(); len(got) != 2 || got[0] != PS256 || got[1] != ES256 {
		t.Errorf("Algorithms() = %v, want [PS256 ES256]", got)
	}
	// A header refused for its alg is not cached: it stays refused on the
	// second attempt.
	vES, _ := newTestVerifier(t, atkNow, es256Only)
	ed := atkKey(t, EdDSA)
	for i := range 2 {
		_, err := vES.Verify(context.Background(), atkProof(t, ed), Request{Method: "POST", URL: atkURL})
		if !errors.Is(err, ErrUnsupportedAlg) {
			t.Fatalf("attempt %d: %v, want ErrUnsupportedAlg", i, err)
		}
	}
}
