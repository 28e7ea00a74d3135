package client

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/testkit"
	"golang.org/x/oauth2"
)

func testSession(k *dpop.Key) *Session {
	return &Session{
		Token:  &oauth2.Token{AccessToken: "at", TokenType: "DPoP", RefreshToken: "rt", Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		Key:    k,
		Nonces: map[string]string{"https://as.example:443": "n1"},
	}
}

func TestSessionExportedKey(t *testing.T) {
	k := testkit.Key(t)
	s := testSession(k)
	if _, err := s.Save(SaveOptions{}); err == nil {
		t.Fatal("saved without KeyRef or ExportPrivateKey")
	}
	data, err := s.Save(SaveOptions{ExportPrivateKey: true, IncludeNonces: true})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || raw["private_jwk"] == nil || raw["jkt"] != k.Thumbprint() {
		t.Fatalf("saved %s", data)
	}
	got, err := LoadSession(context.Background(), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key.Thumbprint() != k.Thumbprint() || got.Token.RefreshToken != "rt" || !got.Token.Expiry.Equal(s.Token.Expiry) || got.Nonces["https://as.example:443"] != "n1" {
		t.Fatalf("loaded %+v", got)
	}
	// Proofs from the restored key verify as the original key's.
	v, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	proof, err := got.Key.Proof("POST", "https://as.example/token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), proof, dpop.Request{Method: "POST", URL: "https://as.example/token", BoundKey: k.Thumbprint()}); err != nil {
		t.Fatal(err)
	}
}

func TestSessionKeyByReference(t *testing.T) {
	k := newOpaqueKey(t)
	s := testSession(k)
	if _, err := s.Save(SaveOptions{ExportPrivateKey: true}); !errors.Is(err, dpop.ErrKeyNotExportable) {
		t.Fatalf("exporting an opaque key: %v", err)
	}
	s.KeyRef = "kms://keys/dpop-1"
	data, err := s.Save(SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"d"`) || strings.Contains(string(data), "private_jwk") || strings.Contains(string(data), "nonces") {
		t.Fatalf("saved %s", data)
	}
	resolve := func(_ context.Context, ref string) (*dpop.Key, error) {
		if ref != "kms://keys/dpop-1" {
			return nil, errors.New("unknown key")
		}
		return k, nil
	}
	got, err := LoadSession(context.Background(), data, resolve)
	if err != nil || got.Key != k || got.KeyRef != s.KeyRef {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	// A reference that resolves to another key is refused.
	if _, err := LoadSession(context.Background(), data, func(context.Context, string) (*dpop.Key, error) { return testkit.Key(t), nil }); err == nil {
		t.Error("loaded with the wrong key")
	}
	if _, err := LoadSession(context.Background(), data, nil); err == nil {
		t.Error("loaded without a resolver")
	}
	if _, err := LoadSession(context.Background(), data, func(context.Context, string) (*dpop.Key, error) { return nil, nil }); err == nil {
		t.Error("loaded a nil key")
	}
}

func TestLoadSessionRejects(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{"version":2,"token":{"access_token":"a"},"jkt":"x","key_ref":"r"}`,
		`{"version":1,"token":{},"jkt":"x","key_ref":"r"}`,
		`{"version":1,"token":{"access_token":"a"},"jkt":"x","private_jwk":{"kty":"oct","k":"AAAA"}}`,
	} {
		if _, err := LoadSession(context.Background(), []byte(in), func(context.Context, string) (*dpop.Key, error) { return nil, errors.New("no") }); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
