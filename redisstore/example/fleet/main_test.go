package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop/redisstore/internal/redistest"
)

// TestRun runs the example against a redis-server of its own.
func TestRun(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, srv.Addr, "", &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	got := out.String()
	for _, want := range []string{
		"request 1: 200 hello alice (round trips so far: 2)", // one use_dpop_nonce, then accepted
		"request 2: 200 hello alice (round trips so far: 3)", // the nonce from b works at a
		"request 4: 200 hello alice (round trips so far: 5)",
		"same proof at instance a: 200 accepted",
		`same proof at instance b: 401 refused: DPoP error="invalid_dpop_proof"`,
		"DPoP proof was already used",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRunKeyring: a configured keyring (current, previous) is used.
func TestRunKeyring(t *testing.T) {
	srv := redistest.Start(t)
	enc := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	var out strings.Builder
	if err := run(context.Background(), srv.Addr, enc()+", "+enc(), &out); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"AAAA", "!!"} {
		if err := run(context.Background(), srv.Addr, bad, &out); err == nil {
			t.Errorf("keyring %q accepted", bad)
		}
	}
}
