package dpop

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Helpers for building proofs by hand, including broken ones.

// testKeys holds one key per algorithm, generated once per test binary.
var testKeys = map[Algorithm]*Key{}

func testKey(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	if k, ok := testKeys[alg]; ok {
		return k
	}
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	testKeys[alg] = k
	return k
}

// headerJSON returns the JOSE header JSON that k puts in its proofs.
func headerJSON(k *Key) string {
	raw, err := base64.RawURLEncoding.DecodeString(string(k.header[:len(k.header)-1]))
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// claimsJSON returns typical valid claims for method and url at time at.
func claimsJSON(method, url string, at time.Time, extra string) string {
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	s := fmt.Sprintf(`{"jti":"%s","htm":"%s","htu":"%s","iat":%d`,
		base64.RawURLEncoding.EncodeToString(jti[:]), method, url, at.Unix())
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// craft signs header and claims, given verbatim as JSON, with k's private
// key and returns the compact JWS. Nothing is validated.
func craft(t testing.TB, k *Key, header, claims string) string {
	t.Helper()
	in := b64url(header) + "." + b64url(claims)
	sig, err := k.sign(rand.Reader, nil, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// replaceSegment replaces segment i (0, 1 or 2) of a compact JWS.
func replaceSegment(jws string, i int, seg string) string {
	parts := strings.Split(jws, ".")
	parts[i] = seg
	return strings.Join(parts, ".")
}
