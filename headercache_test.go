package dpop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func cacheEntries(v *Verifier) (n, bytes int) {
	v.cache.mu.RLock()
	defer v.cache.mu.RUnlock()
	return len(v.cache.m), v.cache.bytes
}

// TestHeaderCacheUnsigned: headers padded with an ignored member under a
// signature that does not verify must not stay in memory. On a verifier
// that cached headers before the signature check, 4,096 such proofs held
// each padded header (about 35 MiB here).
func TestHeaderCacheUnsigned(t *testing.T) {
	k := testKey(t, ES256)
	v, err := NewVerifier(VerifierOptions{MaxProofSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4096
	hdr := headerJSON(k)
	claims := b64url(claimsJSON("POST", "https://server.example.com/par", atkTime(), ""))
	sig := strings.Repeat("A", 86)
	pad := make([]byte, 4500)
	mk := func() string {
		_, _ = rand.Read(pad)
		h := strings.Replace(hdr, `{`, `{"kid":"`+base64.RawURLEncoding.EncodeToString(pad)+`",`, 1)
		return b64url(h) + "." + claims + "." + sig
	}
	ctx := context.Background()
	req := Request{Method: "POST", URL: "https://server.example.com/par"}
	verify := func() {
		if _, err := v.Verify(ctx, mk(), req); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("err = %v, want ErrInvalidSignature", err)
		}
	}
	verify() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		verify()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got, _ := cacheEntries(v); got != 0 {
		t.Errorf("header cache holds %d unsigned headers", got)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("live heap grew by %d KiB over %d unsigned proofs", grew>>10, n)
	}
	// A proof that verifies puts its header in, once, at a fixed cost.
	v, _ = NewVerifier(VerifierOptions{Now: atkTime})
	for range 3 {
		p, err := k.Proof("POST", req.URL, WithIssuedAt(atkTime()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, p, req); err != nil {
			t.Fatal(err)
		}
	}
	if got, bytes := cacheEntries(v); got != 1 || bytes > headerCacheEntryBytes {
		t.Errorf("after 3 signed proofs of one key: %d entries, %d bytes", got, bytes)
	}
}

// TestHeaderCacheBounds: the cache keeps to its entry and byte bounds
// whatever it is given.
func TestHeaderCacheBounds(t *testing.T) {
	c := newHeaderCache(64)
	mkHeader := func(jwkLen int) *header {
		return &header{key: &publicKey{jkt: strings.Repeat("j", 43), jwk: make([]byte, jwkLen)}}
	}
	for i := range 1000 {
		var k headerKey
		copy(k[:], fmt.Sprint(i))
		jwkLen := 100
		if i%2 == 1 {
			jwkLen = 1500 // an RSA-4096 key's JWK is about this long
		}
		c.put(&k, mkHeader(jwkLen))
		if len(c.m) > c.max || c.bytes > c.maxBytes {
			t.Fatalf("after %d puts: %d entries (max %d), %d bytes (max %d)", i+1, len(c.m), c.max, c.bytes, c.maxBytes)
		}
	}
	sum := 0
	for _, h := range c.m {
		sum += headerCost(h)
	}
	if sum != c.bytes {
		t.Errorf("byte count %d, entries hold %d", c.bytes, sum)
	}
	// An entry larger than the whole budget is not kept.
	small := newHeaderCache(1)
	var k headerKey
	small.put(&k, mkHeader(4096))
	if len(small.m) != 0 {
		t.Error("oversized entry kept")
	}
	// Putting the same key again does not count it twice.
	small = newHeaderCache(4)
	small.put(&k, mkHeader(10))
	small.put(&k, mkHeader(10))
	if len(small.m) != 1 || small.bytes != headerCost(mkHeader(10)) {
		t.Errorf("re-put: %d entries, %d bytes", len(small.m), small.bytes)
	}
}

// TestClaimsCopy: Proof.Claims is the caller's to write; the string
// fields never change under it.
func TestClaimsCopy(t *testing.T) {
	k := testKey(t, ES256)
	v, _ := NewVerifier(VerifierOptions{Now: atkTime})
	const u = "https://server.example.com/token"
	p, err := k.Proof("POST", u, WithIssuedAt(atkTime()), WithNonce("n-1"), WithAccessToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), p, Request{Method: "POST", URL: u, AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	before := [...]string{got.JTI, got.HTM, got.HTU, got.Nonce, got.ATH}
	saved := strings.Clone(got.HTU)
	for i := range got.Claims {
		got.Claims[i] = 'X'
	}
	// Appending cannot reach memory behind Claims either.
	if cap(got.Claims) != len(got.Claims) {
		t.Errorf("Claims has spare capacity %d", cap(got.Claims)-len(got.Claims))
	}
	grown := append(got.Claims, bytes.Repeat([]byte("Y"), 64)...)
	_ = grown
	after := [...]string{got.JTI, got.HTM, got.HTU, got.Nonce, got.ATH}
	if before != after || got.HTU != saved || got.HTU != u {
		t.Errorf("writing into Claims changed the claims: %q", after)
	}
}
