package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/dpopkit/dpop"
)

// A client makes one key and keeps it for as long as its tokens are bound
// to it. The thumbprint is the value a server binds tokens to (cnf.jkt) and
// the dpop_jkt authorization request parameter.
func ExampleGenerateKey() {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alg:", key.Algorithm())
	fmt.Println("thumbprint length:", len(key.Thumbprint()))

	// Saving the key: MarshalPrivateJWK is the only way to get the private
	// part out, and ParseKey reads it back.
	saved, err := key.MarshalPrivateJWK()
	if err != nil {
		log.Fatal(err)
	}
	restored, err := dpop.ParseKey(saved)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same key after restore:", restored.Thumbprint() == key.Thumbprint())

	// Printing a key never shows the private part.
	fmt.Println(strings.HasPrefix(fmt.Sprint(key), "dpop.Key{alg=ES256, jkt="))
	// Output:
	// alg: ES256
	// thumbprint length: 43
	// same key after restore: true
	// true
}

// A proof for a request to a protected resource carries the hash of the
// access token (ath) and the last nonce the server sent. The query of the
// URL is not part of htu.
func ExampleKey_Proof() {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	const accessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	proof, err := key.Proof("GET", "https://resource.example.org/protectedresource?page=2",
		dpop.WithAccessToken(accessToken),
		dpop.WithNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"))
	if err != nil {
		log.Fatal(err)
	}
	// The request carries:
	//   Authorization: DPoP <accessToken>
	//   DPoP: <proof>

	// What the server sees in the payload:
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[1])
	if err != nil {
		log.Fatal(err)
	}
	var claims struct {
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		ATH   string `json:"ath"`
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		log.Fatal(err)
	}
	fmt.Println("htm:", claims.HTM)
	fmt.Println("htu:", claims.HTU)
	fmt.Println("ath:", claims.ATH)
	fmt.Println("nonce:", claims.Nonce)
	fmt.Println("ath is AccessTokenHash:", claims.ATH == dpop.AccessTokenHash(accessToken))
	// Output:
	// htm: GET
	// htu: https://resource.example.org/protectedresource
	// ath: fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo
	// nonce: eyJ7S_zG.eyJH0-Z.HX4w-7v
	// ath is AccessTokenHash: true
}

// A server makes one Verifier per role and checks every request's proof
// against the method and the public URL of that request. The result tells
// which key signed it, for binding the token it issues.
func ExampleVerifier_Verify() {
	// Client side.
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := key.Proof("POST", "https://server.example.com/token")
	if err != nil {
		log.Fatal(err)
	}

	// Server side.
	verifier, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		log.Fatal(err)
	}
	req := dpop.Request{Method: "POST", URL: "https://server.example.com/token"}
	p, err := verifier.Verify(context.Background(), proof, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("htm:", p.HTM)
	fmt.Println("jkt matches the client key:", p.JKT == key.Thumbprint())

	// The same proof a second time is a replay.
	_, err = verifier.Verify(context.Background(), proof, req)
	fmt.Println("again:", dpop.ErrorCode(err), errors.Is(err, dpop.ErrReplay))
	// Output:
	// htm: POST
	// jkt matches the client key: true
	// again: invalid_dpop_proof true
}

// A verifier with a nonce source requires a server nonce in every proof. The
// first proof of a client has none: the rejection carries a fresh nonce,
// which the server sends in a DPoP-Nonce header, and the client retries
// with a new proof that includes it.
func ExampleVerifier_Verify_nonce() {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	nonces, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: secret, Scope: "as"})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := dpop.NewVerifier(dpop.VerifierOptions{Nonces: nonces})
	if err != nil {
		log.Fatal(err)
	}
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	req := dpop.Request{Method: "POST", URL: "https://server.example.com/token"}

	proof, err := key.Proof(req.Method, req.URL)
	if err != nil {
		log.Fatal(err)
	}
	_, err = verifier.Verify(ctx, proof, req)
	var e *dpop.Error
	if !errors.As(err, &e) {
		log.Fatal(err)
	}
	fmt.Println("first attempt:", e.Code)
	fmt.Println("DPoP-Nonce sent:", dpop.IsValidNonce(e.Nonce))

	// The retry is a new proof with the nonce.
	proof, err = key.Proof(req.Method, req.URL, dpop.WithNonce(e.Nonce))
	if err != nil {
		log.Fatal(err)
	}
	p, err := verifier.Verify(ctx, proof, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retry accepted with the nonce:", p.Nonce == e.Nonce)
	// Output:
	// first attempt: use_dpop_nonce
	// DPoP-Nonce sent: true
	// retry accepted with the nonce: true
}

// The RFC 7638 thumbprint depends only on the required members of the key:
// kid, use, alg and the member order do not change it.
func ExampleThumbprint() {
	// The public key of RFC 9449's examples, with a kid.
	jwk := `{"kty":"EC","kid":"client-key-1","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`
	jkt, err := dpop.Thumbprint([]byte(jwk))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(jkt)
	// Output:
	// 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
}

// hsmKey stands for a key held by an HSM, a KMS or a TPM: the process can
// ask it to sign, but never sees the private key.
type hsmKey struct {
	handle *ecdsa.PrivateKey // in real code, a handle to the device
}

func (k hsmKey) Public() crypto.PublicKey { return k.handle.Public() }

func (k hsmKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.handle.Sign(rand, digest, opts)
}

// NewKey wraps any crypto.Signer, such as a key in an HSM. Such a key
// signs proofs like any other, and cannot be exported.
func ExampleNewKey() {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	key, err := dpop.NewKey(hsmKey{handle: priv}, dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := key.Proof("POST", "https://server.example.com/token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("proof segments:", strings.Count(proof, ".")+1)

	_, err = key.MarshalPrivateJWK()
	fmt.Println("exportable:", !errors.Is(err, dpop.ErrKeyNotExportable))

	// The algorithm must fit the key.
	_, err = dpop.NewKey(hsmKey{handle: priv}, dpop.ES384)
	fmt.Println("ES384 with a P-256 key:", errors.Is(err, dpop.ErrAlgKeyMismatch))
	// Output:
	// proof segments: 3
	// exportable: false
	// ES384 with a P-256 key: true
}

// ProofFromHeader takes the proof from a request's header fields, and
// refuses a request that carries more than one.
func ExampleProofFromHeader() {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := key.Proof("GET", "https://resource.example.org/protectedresource")
	if err != nil {
		log.Fatal(err)
	}

	h := http.Header{}
	h.Set("DPoP", proof)
	got, err := dpop.ProofFromHeader(h)
	fmt.Println("one proof:", got == proof, err)

	second, err := key.Proof("GET", "https://resource.example.org/protectedresource")
	if err != nil {
		log.Fatal(err)
	}
	h.Add("DPoP", second)
	_, err = dpop.ProofFromHeader(h)
	fmt.Println("two proofs:", dpop.ErrorCode(err), errors.Is(err, dpop.ErrMultipleProofs))
	// Output:
	// one proof: true <nil>
	// two proofs: invalid_dpop_proof true
}
