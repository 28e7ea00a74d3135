package authserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/dpopkit/dpop"
)

// FuzzParseDPoPJKT: an accepted value is the canonical encoding of 32
// bytes; anything else is an invalid_request *Error.
func FuzzParseDPoPJKT(f *testing.F) {
	for _, s := range []string{rfcJKT, rfcDPoPJKT, "", "abc", rfcJKT + "=", rfcJKT[:42] + "J", rfcJKT[:20] + "\n" + rfcJKT[21:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDPoPJKT(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code() != dpop.CodeInvalidRequest || !errors.Is(err, ErrInvalidJKT) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		b, derr := base64.RawURLEncoding.DecodeString(s)
		if got != s || derr != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("%q accepted", s)
		}
	})
}

// FuzzParseClientMetadata: accepted input is one JSON object whose
// dpop_bound_access_tokens, if any, is the boolean returned.
func FuzzParseClientMetadata(f *testing.F) {
	for _, s := range []string{`{}`, `{"dpop_bound_access_tokens":true}`, `{"dpop_bound_access_tokens":"true"}`, `{"a":[1,{"b":null}]}`, `{} {}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := ParseClientMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidClientMetadata) {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil || m == nil {
			t.Fatalf("%q accepted but not an object", data)
		}
		if v, ok := m["dpop_bound_access_tokens"]; ok && v != md.DPoPBoundAccessTokens || !ok && md.DPoPBoundAccessTokens {
			t.Fatalf("%q: %+v", data, md)
		}
	})
}

// FuzzParseClientMetadataDocument: any input is accepted with client_id
// equal to the URL, or refused with an invalid_client_metadata *Error;
// never a panic.
func FuzzParseClientMetadataDocument(f *testing.F) {
	const id = "https://app.example.com/client-metadata.json"
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}}`))
	f.Add([]byte(`{"client_id":"` + id + `","client_secret":"x"}`))
	f.Add([]byte(`{"client_id":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseClientMetadataDocument(id, data)
		if err == nil {
			if d.ClientID != id || len(d.RedirectURIs) == 0 || (d.TokenEndpointAuthMethod != "none" && d.TokenEndpointAuthMethod != "private_key_jwt") {
				t.Fatalf("accepted %+v", d)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Code() != CodeInvalidClientMetadata || !errors.Is(err, ErrInvalidClientMetadata) {
			t.Fatalf("%T %v", err, err)
		}
	})
}
