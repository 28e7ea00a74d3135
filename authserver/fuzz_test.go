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
