package dpop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Tests of Key.Proof and its helpers: what a client sends (RFC 9449
// §4.2, client rows).

// ptParts is a proof split into its decoded parts.
type ptParts struct {
	header       map[string]any
	claims       map[string]any
	rawClaims    []byte
	sig          []byte
	signingInput string
}

// ptDecode splits a compact JWS and decodes its header and claims with
// encoding/json, independently of the package's own reader.
func ptDecode(t testing.TB, proof string) ptParts {
	t.Helper()
	segs := strings.Split(proof, ".")
	if len(segs) != 3 {
		t.Fatalf("proof has %d segments, want 3: %q", len(segs), proof)
	}
	var p ptParts
	dec := func(i int) []byte {
		b, err := base64.RawURLEncoding.Strict().DecodeString(segs[i])
		if err != nil {
			t.Fatalf("segment %d is not strict unpadded base64url: %v", i, err)
		}
		return b
	}
	if err := json.Unmarshal(dec(0), &p.header); err != nil {
		t.Fatalf("header: %v", err)
	}
	p.rawClaims = dec(1)
	d := json.NewDecoder(bytes.NewReader(p.rawClaims))
	d.UseNumber()
	if err := d.Decode(&p.claims); err != nil {
		t.Fatalf("claims: %v", err)
	}
	p.sig = dec(2)
	p.signingInput = segs[0] + "." + segs[1]
	return p
}

// ptIAT returns the iat claim as an integer.
func ptIAT(t testing.TB, p ptParts) int64 {
	t.Helper()
	n, ok := p.claims["iat"].(json.Number)
	if !ok {
		t.Fatalf("iat is %T, want a number", p.claims["iat"])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("iat %q is not an integer: %v", n, err)
	}
	return v
}

// The header and claims of a proof, decoded by a general JSON decoder.
// C-4.2-01, C-4.2-02, C-4.2-04, C-4.2-05, C-4.2-06, C-4.2-08, C-4.2-09,
// C-4.2-10.
func TestProofClaims(t *testing.T) {
	for _, alg := range []Algorithm{ES256, EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			before := time.Now().Unix()
			proof, err := k.Proof("POST", "https://Server.Example.com:443/token?x=1#f")
			after := time.Now().Unix()
			if err != nil {
				t.Fatal(err)
			}
			p := ptDecode(t, proof)

			// Header: exactly typ, alg and the public jwk.
			if len(p.header) != 3 || p.header["typ"] != "dpop+jwt" || p.header["alg"] != string(alg) {
				t.Fatalf("header = %v", p.header)
			}
			jwk, ok := p.header["jwk"].(map[string]any)
			if !ok {
				t.Fatalf("jwk is %T, want an object", p.header["jwk"])
			}
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := jwk[m]; ok {
					t.Errorf("header jwk has private member %q (C-4.2-05)", m)
				}
			}
			// The jwk is the key's public JWK, with the same thumbprint.
			raw, _ := json.Marshal(jwk)
			if jkt, err := Thumbprint(raw); err != nil || jkt != k.Thumbprint() {
				t.Errorf("Thumbprint(header jwk) = %q, %v; want %q", jkt, err, k.Thumbprint())
			}

			// Claims: jti, htm, htu, iat and nothing else.
			if len(p.claims) != 4 {
				t.Errorf("claims = %s, want exactly jti, htm, htu, iat", p.rawClaims)
			}
			if p.claims["htm"] != "POST" {
				t.Errorf("htm = %v", p.claims["htm"])
			}
			// C-4.2-09: normalised, without query and fragment.
			if p.claims["htu"] != "https://server.example.com/token" {
				t.Errorf("htu = %v, want https://server.example.com/token", p.claims["htu"])
			}
			if iat := ptIAT(t, p); iat < before || iat > after {
				t.Errorf("iat = %d, want within [%d, %d]", iat, before, after)
			}
			for _, c := range []string{"nonce", "ath"} {
				if _, ok := p.claims[c]; ok {
					t.Errorf("claim %q present although not asked for", c)
				}
			}
			// C-4.2-07: jti is at least 96 bits of randomness.
			jti, ok := p.claims["jti"].(string)
			if !ok {
				t.Fatalf("jti is %T", p.claims["jti"])
			}
			b, err := base64.RawURLEncoding.Strict().DecodeString(jti)
			if err != nil {
				t.Fatalf("jti %q is not base64url: %v", jti, err)
			}
			if len(b) < 12 {
				t.Errorf("jti carries %d bytes, want at least 12", len(b))
			}
		})
	}
}

// htu is the normal form of the request URL without query and fragment.
// C-4.2-09, ALL-4.3-12.
func TestProofHTU(t *testing.T) {
	k := testKey(t, EdDSA)
	cases := []struct{ in, want string }{
		{"https://Server.Example.com:443/token?x=1#f", "https://server.example.com/token"},
		{"HTTPS://server.example.com/token", "https://server.example.com/token"},
		{"https://server.example.com", "https://server.example.com/"},
		{"https://server.example.com/a/../token?", "https://server.example.com/token"},
		{"https://server.example.com/%7etoken#", "https://server.example.com/~token"},
		{"http://localhost:8080/cb?code=1", "http://localhost:8080/cb"},
		{"https://[::1]:8443/x", "https://[::1]:8443/x"},
	}
	for _, tc := range cases {
		proof, err := k.Proof("GET", tc.in)
		if err != nil {
			t.Errorf("Proof(%q): %v", tc.in, err)
			continue
		}
		if got := ptDecode(t, proof).claims["htu"]; got != tc.want {
			t.Errorf("Proof(%q): htu = %v, want %q", tc.in, got, tc.want)
		}
	}
}

// WithIssuedAt sets iat; the proof is then only accepted around that time.
// C-4.2-10.
func TestProofWithIssuedAt(t *testing.T) {
	k := testKey(t, ES256)
	at := time.Unix(1_700_000_000, 900_000_000)
	proof, err := k.Proof("GET", "https://rs.example.com/r", WithIssuedAt(at))
	if err != nil {
		t.Fatal(err)
	}
	if got := ptIAT(t, ptDecode(t, proof)); got != 1_700_000_000 {
		t.Fatalf("iat = %d, want 1700000000", got)
	}
	v, _ := newTestVerifier(t, 1_700_000_005, VerifierOptions{})
	if _, err := v.Verify(context.Background(), proof, Request{Method: "GET", URL: "https://rs.example.com/r"}); err != nil {
		t.Fatalf("Verify at iat+5s: %v", err)
	}
	v, _ = newTestVerifier(t, time.Now().Unix(), VerifierOptions{})
	if _, err := v.Verify(context.Background(), proof, Request{Method: "GET", URL: "https://rs.example.com/r"}); !errors.Is(err, ErrIATTooOld) {
		t.Fatalf("Verify now: %v, want ErrIATTooOld", err)
	}
}

// nonce appears only when given, exactly as given. C-4.2-13, ALL-8.1-01.
func TestProofNonce(t *testing.T) {
	k := testKey(t, ES256)
	const nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	proof, err := k.Proof("POST", "https://server.example.com/token", WithNonce(nonce))
	if err != nil {
		t.Fatal(err)
	}
	p := ptDecode(t, proof)
	if p.claims["nonce"] != nonce {
		t.Fatalf("nonce = %v, want %q", p.claims["nonce"], nonce)
	}
	if _, ok := p.claims["ath"]; ok {
		t.Fatal("ath present without an access token")
	}
	// Every NQCHAR survives unescaped.
	var all []byte
	for c := byte(0x21); c <= 0x7e; c++ {
		if c != '"' && c != '\\' {
			all = append(all, c)
		}
	}
	proof, err = k.Proof("POST", "https://server.example.com/token", WithNonce(string(all)))
	if err != nil {
		t.Fatalf("nonce of every NQCHAR: %v", err)
	}
	if got := ptDecode(t, proof).claims["nonce"]; got != string(all) {
		t.Fatalf("nonce = %v, want %q", got, all)
	}
	// An empty nonce means no nonce.
	proof, err = k.Proof("POST", "https://server.example.com/token", WithNonce(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ptDecode(t, proof).claims["nonce"]; ok {
		t.Fatal(`WithNonce("") produced a nonce claim`)
	}
}

// ath is the hash of the access token, only when one is given. C-4.2-11,
// C-4.2-12, C-7-02.
func TestProofATH(t *testing.T) {
	if got := AccessTokenHash(rfcAccessToken); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Fatalf("AccessTokenHash(RFC example) = %q", got)
	}
	k := testKey(t, EdDSA)
	proof, err := k.Proof("GET", "https://resource.example.org/protectedresource", WithAccessToken(rfcAccessToken))
	if err != nil {
		t.Fatal(err)
	}
	p := ptDecode(t, proof)
	if p.claims["ath"] != rfcATH {
		t.Fatalf("ath = %v, want %q", p.claims["ath"], rfcATH)
	}
	if _, ok := p.claims["nonce"]; ok {
		t.Fatal("nonce present without WithNonce")
	}
	// The hash is over the token exactly as given, padding included.
	for _, tok := range []string{"abc", "abc=", "a/b+c~d.e_f-g==", "x"} {
		sum := sha256.Sum256([]byte(tok))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if got := AccessTokenHash(tok); got != want || len(got) != 43 {
			t.Errorf("AccessTokenHash(%q) = %q, want %q", tok, got, want)
		}
		proof, err := k.Proof("GET", "https://rs.example.com/", WithAccessToken(tok))
		if err != nil {
			t.Errorf("WithAccessToken(%q): %v", tok, err)
			continue
		}
		if got := ptDecode(t, proof).claims["ath"]; got != want {
			t.Errorf("WithAccessToken(%q): ath = %v, want %q", tok, got, want)
		}
	}
	// Both options together, and a verifier accepts the result.
	proof, err = k.Proof("GET", "https://rs.example.com/r", WithAccessToken(rfcAccessToken), WithNonce("n-1"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), proof, Request{
		Method: "GET", URL: "https://rs.example.com/r", AccessToken: rfcAccessToken,
		BoundKey: k.Thumbprint(), Nonce: "n-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ATH != rfcATH || got.Nonce != "n-1" {
		t.Fatalf("verified ath %q nonce %q", got.ATH, got.Nonce)
	}
}

// Every proof has its own jti, also for the same request made twice.
// C-4-01, C-4.2-07, C-7.3-01.
func TestProofJTIUnique(t *testing.T) {
	k := testKey(t, EdDSA)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	seen := make(map[string]struct{}, n)
	for i := 0; i < n; i++ {
		proof, err := k.Proof("POST", "https://server.example.com/token")
		if err != nil {
			t.Fatal(err)
		}
		// The claims segment starts with {"jti":"<22 characters>".
		claims, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		const prefix = `{"jti":"`
		if !bytes.HasPrefix(claims, []byte(prefix)) {
			t.Fatalf("claims %s do not start with jti", claims)
		}
		end := bytes.IndexByte(claims[len(prefix):], '"')
		jti := string(claims[len(prefix) : len(prefix)+end])
		if _, dup := seen[jti]; dup {
			t.Fatalf("duplicate jti %q after %d proofs", jti, i)
		}
		seen[jti] = struct{}{}
	}

	// Two consecutive proofs for the same request differ, and both are
	// accepted once each.
	v, err := NewVerifier(VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Method: "POST", URL: "https://server.example.com/token"}
	a, errA := k.Proof(req.Method, req.URL)
	b, errB := k.Proof(req.Method, req.URL)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b {
		t.Fatal("two proofs for the same request are identical")
	}
	if ptDecode(t, a).claims["jti"] == ptDecode(t, b).claims["jti"] {
		t.Fatal("two proofs for the same request share a jti")
	}
	for _, p := range []string{a, b} {
		if _, err := v.Verify(context.Background(), p, req); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
}

type ptFailingReader struct{ err error }

func (r ptFailingReader) Read([]byte) (int, error) { return 0, r.err }

// A failing random source is an error, never a panic or a proof with a
// predictable jti. C-4.2-07.
func TestProofRandFailure(t *testing.T) {
	boom := errors.New("entropy source down")
	for _, alg := range []Algorithm{ES256, EdDSA} {
		k := testKey(t, alg)
		proof, err := k.Proof("GET", "https://rs.example.com/", withRand(ptFailingReader{boom}))
		if err == nil || proof != "" || !errors.Is(err, boom) {
			t.Errorf("%s: failing reader: proof %q, err %v; want an error wrapping %v", alg, proof, err, boom)
		}
		// A short read is not enough for a jti either.
		proof, err = k.Proof("GET", "https://rs.example.com/", withRand(bytes.NewReader(make([]byte, jtiBytes-1))))
		if err == nil || proof != "" {
			t.Errorf("%s: short reader: proof %q, err %v; want an error", alg, proof, err)
		}
	}
	// withRand supplies the jti bytes.
	fixed := bytes.Repeat([]byte{0xA5}, jtiBytes)
	proof, err := testKey(t, EdDSA).Proof("GET", "https://rs.example.com/", withRand(io.MultiReader(bytes.NewReader(fixed), ptFailingReader{io.EOF})))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ptDecode(t, proof).claims["jti"], base64.RawURLEncoding.EncodeToString(fixed); got != want {
		t.Fatalf("jti = %v, want %q", got, want)
	}
}

// Inputs that cannot appear in a proof are refused before anything is
// signed. C-4.2-08, C-4.2-09, ALL-2-01, ALL-8.1-01, ALL-4.1-02.
func TestProofInvalidInput(t *testing.T) {
	k := testKey(t, ES256)
	const url = "https://server.example.com/token"
	cases := []struct {
		name, method, url string
		opts              []ProofOption
	}{
		{"empty method", "", url, nil},
		{"method with space", "GE T", url, nil},
		{"method with newline", "GET\n", url, nil},
		{"method with colon", "GET:", url, nil},
		{"method with quote", `GE"T`, url, nil},
		{"method non-ASCII", "GÉT", url, nil},
		{"relative URL", "GET", "/token", nil},
		{"scheme-relative URL", "GET", "//server.example.com/token", nil},
		{"ftp URL", "GET", "ftp://server.example.com/token", nil},
		{"URL with space", "GET", "https://server.example.com/to ken", nil},
		{"URL with userinfo", "GET", "https://user@server.example.com/token", nil},
		{"empty URL", "GET", "", nil},
		{"URL with newline", "GET", "https://server.example.com/token\n", nil},
		{"nonce with space", "GET", url, []ProofOption{WithNonce("abc def")}},
		{"nonce with quote", "GET", url, []ProofOption{WithNonce(`abc"def`)}},
		{"nonce with backslash", "GET", url, []ProofOption{WithNonce(`abc\def`)}},
		{"nonce with DEL", "GET", url, []ProofOption{WithNonce("abc\x7f")}},
		{"nonce non-ASCII", "GET", url, []ProofOption{WithNonce("nonce-é")}},
		{"access token with space", "GET", url, []ProofOption{WithAccessToken("abc def")}},
		{"access token with quote", "GET", url, []ProofOption{WithAccessToken(`abc"def`)}},
		{"access token with scheme", "GET", url, []ProofOption{WithAccessToken("DPoP abc")}},
		{"access token with inner =", "GET", url, []ProofOption{WithAccessToken("ab=c")}},
		{"access token only =", "GET", url, []ProofOption{WithAccessToken("==")}},
		{"access token with comma", "GET", url, []ProofOption{WithAccessToken("a,b")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proof, err := k.Proof(tc.method, tc.url, tc.opts...)
			if !errors.Is(err, ErrInvalidProofInput) || proof != "" {
				t.Fatalf("Proof = %q, %v; want ErrInvalidProofInput", proof, err)
			}
		})
	}
	// Valid unusual inputs: extension methods, and options left empty.
	for _, m := range []string{"PATCH", "M-SEARCH", "get", "!#$%&'*+-.^_`|~09azAZ"} {
		if _, err := k.Proof(m, url); err != nil {
			t.Errorf("method %q: %v", m, err)
		}
	}
	if _, err := k.Proof("GET", url, WithNonce(""), WithAccessToken("")); err != nil {
		t.Errorf("empty nonce and token: %v", err)
	}
}

// IsValidNonce implements 1*NQCHAR of RFC 9449 §8.1. ALL-8.1-01.
func TestIsValidNonce(t *testing.T) {
	cases := []struct {
		nonce string
		valid bool
	}{
		{"eyJ7S_zG.eyJH0-Z.HX4w-7v", true},
		{"eyJ7S_zG.eyJbYu3.xQmBj-1", true},
		{"a", true},
		{"!", true},
		{"~", true},
		{"#[]{}!$%&'()*+,-./:;<=>?@^_`|~", true},
		{"", false},
		{"abc def", false},
		{" abc", false},
		{"abc\t", false},
		{`"`, false},
		{`ab"c`, false},
		{`\`, false},
		{`ab\c`, false},
		{"abc\x7f", false},
		{"abc\x00", false},
		{"abc\n", false},
		{"é", false},
		{"nonce\u00a0", false},
		{"\xff", false},
	}
	for _, tc := range cases {
		if got := IsValidNonce(tc.nonce); got != tc.valid {
			t.Errorf("IsValidNonce(%q) = %v, want %v", tc.nonce, got, tc.valid)
		}
	}
	// Exhaustively over single bytes.
	for c := 0; c < 256; c++ {
		want := c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
		if got := IsValidNonce(string([]byte{byte(c)})); got != want {
			t.Errorf("IsValidNonce(%#x) = %v, want %v", c, got, want)
		}
	}
}

// IsToken68 follows RFC 9110 token68. ALL-4.1-02.
func TestIsToken68(t *testing.T) {
	cases := []struct {
		s  string
		ok bool
	}{
		{rfcAccessToken, true},
		{"abc", true},
		{"abc=", true},
		{"abc==", true},
		{"a+b/c~d.e_f-g", true},
		{"", false},
		{"=", false},
		{"a=b", false},
		{"a b", false},
		{"a\tb", false},
		{`a"b`, false},
		{"a,b", false},
		{"a;b", false},
		{"é", false},
	}
	for _, tc := range cases {
		if got := IsToken68(tc.s); got != tc.ok {
			t.Errorf("IsToken68(%q) = %v, want %v", tc.s, got, tc.ok)
		}
	}
}

// A proof's ES256 signature is the raw r||s, verifiable with the public
// key. X-05.
func TestProofSignatureVerifiesDirectly(t *testing.T) {
	k := testKey(t, ES256)
	proof, err := k.Proof("GET", "https://rs.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	p := ptDecode(t, proof)
	if len(p.sig) != 64 {
		t.Fatalf("signature has %d octets, want 64", len(p.sig))
	}
	sum := sha256.Sum256([]byte(p.signingInput))
	r, s := new(big.Int).SetBytes(p.sig[:32]), new(big.Int).SetBytes(p.sig[32:])
	if !ecdsa.Verify(k.Public().(*ecdsa.PublicKey), sum[:], r, s) {
		t.Fatal("signature does not verify with crypto/ecdsa")
	}
}
