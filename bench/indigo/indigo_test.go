package indigo

import (
	"context"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/auth/oauth"
	"github.com/dpopkit/dpop"
)

const benchURL = "https://server.example.com/token"

// TestIndigoProofVerifies checks that dpop accepts indigo's proofs, so the
// benchmark measures working proofs.
func TestIndigoProofVerifies(t *testing.T) {
	priv, err := atcrypto.GeneratePrivateKeyP256()
	if err != nil {
		t.Fatal(err)
	}
	p, err := oauth.NewAuthDPoP("POST", benchURL, "", priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), p, dpop.Request{Method: "POST", URL: benchURL}); err != nil {
		t.Fatalf("dpop refuses indigo's proof: %v", err)
	}
}

// BenchmarkCreate has the name of the parent package's benchmark so that
// benchstat lists indigo beside the others. indigo signs DPoP proofs with
// P-256 only, so there is no Ed25519 case.
func BenchmarkCreate(b *testing.B) {
	b.Run("ES256", func(b *testing.B) {
		b.Run("indigo", func(b *testing.B) {
			priv, err := atcrypto.GeneratePrivateKeyP256()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := oauth.NewAuthDPoP("POST", benchURL, "", priv); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
