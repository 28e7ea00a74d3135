package testkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

func TestProofVerifies(t *testing.T) {
	k := Key(t)
	p := Proof(t, k, "GET", "https://rs.example/x")
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(t.Context(), p, dpop.Request{Method: "GET", URL: "https://rs.example/x"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.JKT != k.Thumbprint() {
		t.Fatalf("thumbprint %q, want %q", got.JKT, k.Thumbprint())
	}
}

func TestFailingStore(t *testing.T) {
	if _, err := (FailingStore{}).Seen(context.Background(), dpop.ReplayKey{}, time.Now()); !errors.Is(err, ErrStoreDown) {
		t.Fatalf("Seen = %v, want ErrStoreDown", err)
	}
	if _, err := (FailingStore{Err: context.DeadlineExceeded}).Seen(context.Background(), dpop.ReplayKey{}, time.Now()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Seen = %v, want its Err", err)
	}
}

func TestSignES256Verifies(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + string(k.PublicJWK()) + `}`
	claims := `{"jti":"testkit-1","htm":"GET","htu":"https://rs.example/x","iat":` + strconv.FormatInt(time.Now().Unix(), 10) + `}`
	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), SignES256(t, priv, []byte(hdr), []byte(claims)), dpop.Request{Method: "GET", URL: "https://rs.example/x"}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
