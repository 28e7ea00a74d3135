package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The benchmarks come in pairs: the library call beside the bare crypto
// call it wraps, on the same key and input, so their ratio is the
// library's overhead. Compare them within one run.

const benchURL = "https://server.example.com/token"

// swappableStore is a real MemoryReplayStore that the benchmark replaces
// (with the timer stopped) each time the pool of proofs is used up, so every
// measured Verify performs a real replay check.
type swappableStore struct{ s *MemoryReplayStore }

func (w *swappableStore) Seen(ctx context.Context, k ReplayKey, exp time.Time) (bool, error) {
	return w.s.Seen(ctx, k, exp)
}

func benchVerify(b *testing.B, alg Algorithm) {
	k, err := GenerateKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	const pool = 512
	proofs := make([]string, pool)
	for i := range proofs {
		if proofs[i], err = k.Proof("POST", benchURL); err != nil {
			b.Fatal(err)
		}
	}
	store := &swappableStore{s: NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: 1 << 16})}
	v, err := NewVerifier(VerifierOptions{Replay: store})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := Request{Method: "POST", URL: benchURL}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			store.s = NewMemoryReplayStore(MemoryReplayOptions{MaxEntries: 1 << 16})
			b.StartTimer()
		}
		if _, err := v.Verify(ctx, proofs[i%pool], req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchProof(b *testing.B, alg Algorithm) {
	k, err := GenerateKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := k.Proof("POST", benchURL); err != nil {
			b.Fatal(err)
		}
	}
}

// signingInput returns the signing input and signature of a real proof.
func signingInput(b *testing.B, k *Key) (msg []byte, sig []byte) {
	p, err := k.Proof("POST", benchURL)
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndexByte(p, '.')
	sig, _ = decodeB64([]byte(p[i+1:]))
	return []byte(p[:i]), sig
}

func BenchmarkVerifyES256(b *testing.B)   { benchVerify(b, ES256) }
func BenchmarkVerifyEd25519(b *testing.B) { benchVerify(b, EdDSA) }
func BenchmarkVerifyPS256(b *testing.B)   { benchVerify(b, PS256) }
func BenchmarkProofES256(b *testing.B)    { benchProof(b, ES256) }
func BenchmarkProofEd25519(b *testing.B)  { benchProof(b, EdDSA) }
func BenchmarkProofPS256(b *testing.B)    { benchProof(b, PS256) }

func BenchmarkRawVerifyES256(b *testing.B) {
	k, _ := GenerateKey(ES256)
	msg, sig := signingInput(b, k)
	digest := sha256.Sum256(msg)
	der := rawToDER(nil, sig, 32)
	pub := k.Public().(*ecdsa.PublicKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ecdsa.VerifyASN1(pub, digest[:], der) {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkRawSignES256(b *testing.B) {
	k, _ := GenerateKey(ES256)
	msg, _ := signingInput(b, k)
	digest := sha256.Sum256(msg)
	priv := k.signer.(*ecdsa.PrivateKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawVerifyEd25519(b *testing.B) {
	k, _ := GenerateKey(EdDSA)
	msg, sig := signingInput(b, k)
	pub := k.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkRawSignEd25519(b *testing.B) {
	k, _ := GenerateKey(EdDSA)
	msg, _ := signingInput(b, k)
	priv := k.signer.(ed25519.PrivateKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = ed25519.Sign(priv, msg)
	}
}

func BenchmarkRawVerifyPS256(b *testing.B) {
	k, _ := GenerateKey(PS256)
	msg, sig := signingInput(b, k)
	digest := sha256.Sum256(msg)
	pub := k.Public().(*rsa.PublicKey)
	opts := &rsa.PSSOptions{SaltLength: 32}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawSignPS256(b *testing.B) {
	k, _ := GenerateKey(PS256)
	msg, _ := signingInput(b, k)
	digest := sha256.Sum256(msg)
	priv := k.signer.(*rsa.PrivateKey)
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, digest[:], opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRejectGarbage1MiB measures the refusal of a 1 MiB DPoP value.
func BenchmarkRejectGarbage1MiB(b *testing.B) {
	v, _ := NewVerifier(VerifierOptions{})
	garbage := strings.Repeat("A.", 1<<19)
	ctx := context.Background()
	req := Request{Method: "POST", URL: benchURL}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, garbage, req); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRejectGarbageHeader1MiB refuses a 1 MiB DPoP header field the
// way a server meets it: ProofFromHeader, then Verify only if it passed.
func BenchmarkRejectGarbageHeader1MiB(b *testing.B) {
	v, _ := NewVerifier(VerifierOptions{})
	h := http.Header{"Dpop": {strings.Repeat("A,", 1<<19)}}
	ctx := context.Background()
	req := Request{Method: "POST", URL: benchURL}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		proof, err := ProofFromHeader(h)
		if err == nil {
			_, err = v.Verify(ctx, proof, req)
		}
		if err == nil {
			b.Fatal("accepted")
		}
	}
}
