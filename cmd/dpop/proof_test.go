package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
)

// TestRoundTrip runs keygen, proof and verify for a few algorithms, with
// the key both in a file and on stdin.
func TestRoundTrip(t *testing.T) {
	const (
		url   = "https://api.example.com/resource"
		token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
		nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	)
	for _, alg := range []dpop.Algorithm{dpop.ES256, dpop.EdDSA, dpop.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			jwk := mustRun(t, exitOK, "", "keygen", "-alg", string(alg)).stdout
			jkt := strings.TrimSpace(mustRun(t, exitOK, jwk, "thumbprint").stdout)
			keyFile := writeFile(t, "key.jwk", jwk)

			// A plain proof, key on stdin, verified from stdin.
			p := mustRun(t, exitOK, jwk, "proof", "-key", "-", "-method", "POST", "-url", url+"?q=1#f")
			if strings.Count(p.stdout, "\n") != 1 || strings.Count(p.stdout, ".") != 2 {
				t.Fatalf("proof output = %q, want one compact JWS line", p.stdout)
			}
			r := mustRun(t, exitOK, p.stdout, "verify", "-method", "POST", "-url", url, "-")
			obj := decodeOne(t, r.stdout)
			if obj["valid"] != true || obj["alg"] != string(alg) || obj["jkt"] != jkt || obj["htu"] != url || obj["htm"] != "POST" {
				t.Errorf("result = %v", obj)
			}
			if _, ok := obj["nonce"]; ok {
				t.Errorf("result has a nonce: %v", obj)
			}
			if _, ok := obj["ath"]; ok {
				t.Errorf("result has an ath: %v", obj)
			}

			// Every claim set, key from a file, verified as an argument.
			p = mustRun(t, exitOK, "", "proof", "-key", keyFile, "-method", "GET", "-url", url,
				"-nonce", nonce, "-access-token", token, "-iat", "1700000000")
			proof := strings.TrimSpace(p.stdout)
			args := []string{"verify", "-method", "GET", "-url", url, "-nonce", nonce,
				"-access-token", token, "-jkt", jkt, "-algs", string(alg), "-now", "1700000005", proof}
			obj = decodeOne(t, mustRun(t, exitOK, "", args...).stdout)
			want := map[string]any{
				"valid": true, "alg": string(alg), "jkt": jkt, "htm": "GET", "htu": url,
				"iat": json.Number("1700000000"), "nonce": nonce, "ath": dpop.AccessTokenHash(token),
			}
			for k, v := range want {
				if obj[k] != v {
					t.Errorf("%s = %v, want %v", k, obj[k], v)
				}
			}
			if jti, _ := obj["jti"].(string); len(jti) < 16 {
				t.Errorf("jti = %q", jti)
			}

			// The same proof fails for another token, key or nonce.
			bad := map[string][]string{
				"token": {"-access-token", "other"},
				"key":   {"-jkt", strings.Repeat("x", 42) + "w"},
				"nonce": {"-nonce", "other"},
			}
			for name, flags := range bad {
				a := append([]string{"verify", "-method", "GET", "-url", url, "-now", "1700000005"}, flags...)
				r := mustRun(t, exitFail, "", append(a, proof)...)
				if obj := decodeOne(t, r.stdout); obj["error"] == nil {
					t.Errorf("other %s: %v", name, obj)
				}
			}
		})
	}
}

// TestProofsAreFresh checks that two proofs for the same request differ and
// are both accepted by one verifier.
func TestProofsAreFresh(t *testing.T) {
	key := writeFile(t, "key.jwk", mustRun(t, exitOK, "", "keygen").stdout)
	args := []string{"proof", "-key", key, "-method", "POST", "-url", rfcURL}
	a := mustRun(t, exitOK, "", args...).stdout
	b := mustRun(t, exitOK, "", args...).stdout
	if a == b {
		t.Fatal("two proofs are identical")
	}
	r := mustRun(t, exitOK, a+b, "verify", "-method", "POST", "-url", rfcURL, "-")
	if objs := decodeLines(t, r.stdout); len(objs) != 2 {
		t.Errorf("stdout = %s", r.stdout)
	}
}
