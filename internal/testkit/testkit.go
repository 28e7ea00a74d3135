// Package testkit holds the test helpers that need the core: keys, proofs
// and a replay store that cannot answer, shared by the tests of the
// packages above the core (client, authserver, resource, dpoptest,
// redisstore, cmd/dpop and the modules beside them).
//
// The core's own in-package tests cannot import it (it imports the core);
// what they share with the others, such as the settable clock, lives in
// internal/testsupport, which imports only the standard library. Nothing
// here is part of the public API.
package testkit

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
)

// Key returns a fresh ES256 key, failing t if it cannot be made.
func Key(t testing.TB) *dpop.Key {
	t.Helper()
	return KeyAlg(t, dpop.ES256)
}

// KeyAlg returns a fresh key for alg, failing t if it cannot be made.
func KeyAlg(t testing.TB, alg dpop.Algorithm) *dpop.Key {
	t.Helper()
	k, err := dpop.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Proof returns a proof by k for method and url, failing t if it cannot be
// made.
func Proof(t testing.TB, k *dpop.Key, method, url string, opts ...dpop.ProofOption) string {
	t.Helper()
	p, err := k.Proof(method, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ErrStoreDown is what a FailingStore answers when its Err is nil.
var ErrStoreDown = errors.New("store down")

// FailingStore is a replay store that cannot answer: every Seen returns
// Err, or ErrStoreDown when Err is nil.
type FailingStore struct {
	Err error
}

// Seen fails.
func (s FailingStore) Seen(context.Context, dpop.ReplayKey, time.Time) (bool, error) {
	if s.Err != nil {
		return false, s.Err
	}
	return false, ErrStoreDown
}

// SignES256 signs a JWS whose header and claims are the given JSON texts,
// whatever they hold, with priv: the compact serialization with the fixed
// 64-octet r||s signature of RFC 7518 §3.4. Tests use it to build proofs
// and tokens the core would refuse to make.
func SignES256(t testing.TB, priv *ecdsa.PrivateKey, header, claims []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

// RedirectQuery plays the browser at an authorization endpoint that
// approves at once (dpoptest's): it opens authURL without following the
// redirect, fails t unless the answer is 302 Found with a Location, and
// returns the query of that Location.
func RedirectQuery(t testing.TB, authURL string) url.Values {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization: HTTP %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}
