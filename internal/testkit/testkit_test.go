package testkit

import (
	"context"
	"errors"
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
