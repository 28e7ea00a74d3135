package keyfile

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
)

func pemBlock(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock(t, "PRIVATE KEY", der)
}

// TestParsePEM: every PEM encoding of every supported key type gives a key
// that signs proofs the core verifies, with the thumbprint of its public
// key, and the algorithm of its type.
func TestParsePEM(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sec1, _ := x509.MarshalECPrivateKey(ec256)
	cases := []struct {
		name   string
		pem    []byte
		signer crypto.Signer
		alg    dpop.Algorithm
	}{
		{"PKCS#8 P-256", pkcs8(t, ec256), ec256, dpop.ES256},
		{"PKCS#8 P-384", pkcs8(t, ec384), ec384, dpop.ES384},
		{"PKCS#8 Ed25519", pkcs8(t, ed), ed, dpop.EdDSA},
		{"PKCS#8 RSA", pkcs8(t, rk), rk, dpop.PS256},
		{"SEC 1 P-256", pemBlock(t, "EC PRIVATE KEY", sec1), ec256, dpop.ES256},
		{"PKCS#1 RSA", pemBlock(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), rk, dpop.PS256},
	}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Detect(c.pem); got != PEMPrivate {
				t.Fatalf("Detect = %v, want PEMPrivate", got)
			}
			k, err := ParseKey(append([]byte("\n"), c.pem...))
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != c.alg {
				t.Errorf("alg %s, want %s", k.Algorithm(), c.alg)
			}
			jwk, err := PublicKeyJWK(c.signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			want, err := dpop.Thumbprint(jwk)
			if err != nil {
				t.Fatal(err)
			}
			if k.Thumbprint() != want {
				t.Errorf("thumbprint %s, want %s", k.Thumbprint(), want)
			}
			if tp, err := Thumbprint(c.pem); err != nil || tp != want {
				t.Errorf("Thumbprint(PEM) = %q, %v; want %s", tp, err, want)
			}
			proof, err := k.Proof("GET", "https://rs.example/x")
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), proof, dpop.Request{Method: "GET", URL: "https://rs.example/x"})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != want {
				t.Errorf("verified jkt %s, want %s", p.JKT, want)
			}
		})
	}
}

// TestParseKeyNamesWhatItGot: each kind of file that is not a private key
// gives an error saying what it is.
func TestParseKeyNamesWhatItGot(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(ec.Public())
	k, _ := dpop.GenerateKey(dpop.ES256)
	cases := []struct {
		in   string
		kind Kind
		want string
	}{
		{`{"keys":[` + string(k.PublicJWK()) + `]}`, JWKSet, "this is a JWK Set"},
		{string(k.PublicJWK()), PublicJWK, "this is a public JWK"},
		{`{"version":1,"token":{"access_token":"x"},"jkt":"y"}`, Session, "this is a session file"},
		{string(pemBlock(t, "PUBLIC KEY", pubDER)), PEMPublic, "this is a PEM public key"},
		{string(pemBlock(t, "CERTIFICATE", []byte{1, 2})), PEMCertificate, "this is a PEM certificate"},
		{"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", PEMOther, "this is PEM, but not a key"},
		{"eyJhbGciOiJFUzI1NiJ9.e30.c2ln", Compact, "this is a JWS in compact form"},
		{`{"hello":1}`, JSON, "this is JSON, but not a JWK"},
		{"hello world", Unknown, "this is not a key"},
		{"   ", Empty, "this is empty"},
	}
	for _, c := range cases {
		if got := Detect([]byte(c.in)); got != c.kind {
			t.Errorf("Detect(%.30q) = %v, want %v", c.in, got, c.kind)
		}
		_, err := ParseKey([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "expected") {
			t.Errorf("ParseKey(%.30q) error %v, want it to contain %q and what is expected", c.in, err, c.want)
		}
	}
	enc := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
	if _, err := ParseKey([]byte(enc)); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted PEM: %v", err)
	}
	if _, err := Thumbprint([]byte(`{"keys":[]}`)); err == nil || !strings.Contains(err.Error(), "JWK Set") {
		t.Errorf("Thumbprint(JWK Set): %v", err)
	}
}

// TestPrivateJWK: a private JWK still reads as dpop.ParseKey reads it.
func TestPrivateJWK(t *testing.T) {
	k, _ := dpop.GenerateKey(dpop.EdDSA)
	jwk, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKey(jwk)
	if err != nil || got.Thumbprint() != k.Thumbprint() || got.Algorithm() != dpop.EdDSA {
		t.Fatalf("ParseKey = %v, %v", got, err)
	}
}

// FuzzParseKey: any input gives a key or an error, never a panic, and
// Detect agrees with ParseKey on what a private key is.
func FuzzParseKey(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	f.Add(pkcs8(f, ec))
	f.Add(pemBlock(f, "EC PRIVATE KEY", sec1))
	f.Add(pemBlock(f, "RSA PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}))
	k, _ := dpop.GenerateKey(dpop.ES256)
	jwk, _ := k.MarshalPrivateJWK()
	f.Add(jwk)
	f.Add(k.PublicJWK())
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"version":1,"token":{}}`))
	f.Add([]byte("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kind := Detect(data)
		key, err := ParseKey(data)
		if err == nil && kind != PrivateJWK && kind != PEMPrivate {
			t.Fatalf("ParseKey accepted %v", kind)
		}
		if err == nil && key.Thumbprint() == "" {
			t.Fatal("a key without a thumbprint")
		}
		_, _ = Thumbprint(data)
		_ = kind.String()
	})
}

// TestParseSigner: a JWK and a PEM key give a signer whose public key has
// the key's thumbprint; a public key does not.
func TestParseSigner(t *testing.T) {
	k, _ := dpop.GenerateKey(dpop.ES256)
	jwk, _ := k.MarshalPrivateJWK()
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, in := range [][]byte{jwk, pkcs8(t, ec)} {
		s, alg, err := ParseSigner(in)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := PublicKeyJWK(s.Public())
		want, _ := Thumbprint(in)
		if got, _ := dpop.Thumbprint(pub); got != want || alg == "" {
			t.Errorf("signer thumbprint %s alg %s, want %s", got, alg, want)
		}
	}
	if _, _, err := ParseSigner(k.PublicJWK()); err == nil {
		t.Error("a public JWK gave a signer")
	}
}
