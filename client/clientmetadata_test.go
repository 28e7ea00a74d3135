package client

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientMetadata(t *testing.T) {
	k := mustClientKey(t)
	const id = "https://app.example/oauth/client-metadata.json"
	m := NewClientMetadata(id, []string{"https://app.example/callback"}, "atproto", k)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	got, err := ParseClientMetadata(body, id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.DPoPBoundAccessTokens || got.TokenEndpointAuthMethod != "private_key_jwt" || got.TokenEndpointAuthSigningAlg != "ES256" {
		t.Fatalf("served %s", body)
	}
	var set struct{ Keys []struct{ Kid string } }
	if json.Unmarshal(got.JWKS, &set) != nil || len(set.Keys) != 1 || set.Keys[0].Kid != k.KeyID() {
		t.Fatalf("jwks %s", got.JWKS)
	}
	if _, err := ParseClientMetadata(body, "https://app.example/other.json"); !errors.Is(err, ErrClientMetadata) {
		t.Fatalf("document accepted for another client_id: %v", err)
	}

	for name, change := range map[string]func(m *ClientMetadata){
		"http client_id":     func(m *ClientMetadata) { m.ClientID = "http://app.example/c.json" },
		"no path":            func(m *ClientMetadata) { m.ClientID = "https://app.example" },
		"fragment":           func(m *ClientMetadata) { m.ClientID = "https://app.example/c.json#x" },
		"dot segment":        func(m *ClientMetadata) { m.ClientID = "https://app.example/a/../c.json" },
		"no redirect":        func(m *ClientMetadata) { m.RedirectURIs = nil },
		"relative redirect":  func(m *ClientMetadata) { m.RedirectURIs = []string{"/cb"} },
		"secret method":      func(m *ClientMetadata) { m.TokenEndpointAuthMethod = "client_secret_basic" },
		"no keys":            func(m *ClientMetadata) { m.JWKS = nil },
		"both keys":          func(m *ClientMetadata) { m.JWKSURI = "https://app.example/jwks" },
		"private key":        func(m *ClientMetadata) { m.JWKS = json.RawMessage(`{"keys":[{"kty":"EC","d":"x"}]}`) },
		"empty set":          func(m *ClientMetadata) { m.JWKS = json.RawMessage(`{"keys":[]}`) },
		"none with keys":     func(m *ClientMetadata) { m.TokenEndpointAuthMethod = "none" },
		"no code":            func(m *ClientMetadata) { m.ResponseTypes = []string{"token"} },
		"no code grant":      func(m *ClientMetadata) { m.GrantTypes = []string{"client_credentials"} },
		"http jwks_uri":      func(m *ClientMetadata) { m.JWKS = nil; m.JWKSURI = "http://app.example/jwks" },
		"userinfo client_id": func(m *ClientMetadata) { m.ClientID = "https://u@app.example/c.json" },
	} {
		t.Run(name, func(t *testing.T) {
			bad := *NewClientMetadata(id, []string{"https://app.example/callback"}, "atproto", k)
			change(&bad)
			if err := bad.Validate(); !errors.Is(err, ErrClientMetadata) || !strings.Contains(err.Error(), "expected") {
				t.Fatalf("got %v", err)
			}
		})
	}
	withSecret := strings.Replace(string(body), `{`, `{"client_secret":"s",`, 1)
	if _, err := ParseClientMetadata([]byte(withSecret), id); !errors.Is(err, ErrClientMetadata) {
		t.Fatalf("client_secret accepted: %v", err)
	}
	pub := NewClientMetadata(id, []string{"http://127.0.0.1/cb"}, "atproto")
	if err := pub.Validate(); err != nil || pub.TokenEndpointAuthMethod != "none" {
		t.Fatalf("public client: %v", err)
	}
}

func FuzzParseClientMetadata(f *testing.F) {
	const id = "https://app.example/c.json"
	b, _ := json.Marshal(NewClientMetadata(id, []string{"https://app.example/cb"}, "atproto"))
	f.Add(b)
	f.Add([]byte(`{"client_id":"https://app.example/c.json","redirect_uris":["https://a/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseClientMetadata(data, id)
		if err != nil {
			if !errors.Is(err, ErrClientMetadata) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if m.ClientID != id || len(m.RedirectURIs) == 0 {
			t.Fatalf("accepted %+v", m)
		}
	})
}
