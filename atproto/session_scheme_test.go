package atproto

import (
	"net/http"
	"testing"
)

// TestInvalidTokenSchemeCase: the auth-scheme of the challenge is matched
// case-insensitively (RFC 9110 §11.1), and only a DPoP challenge with
// error="invalid_token" counts.
func TestInvalidTokenSchemeCase(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  bool
	}{
		{`DPoP error="invalid_token"`, true},
		{`dpop error="invalid_token"`, true},
		{`DPOP error="invalid_token"`, true},
		{`DPoP error="use_dpop_nonce"`, false},
		{`Bearer error="invalid_token"`, false},
		{`DPoP algs="ES256"`, false},
	} {
		resp := &http.Response{Header: http.Header{"Www-Authenticate": {tc.field}}}
		if got := invalidToken(resp); got != tc.want {
			t.Errorf("invalidToken(%q) = %v, want %v", tc.field, got, tc.want)
		}
	}
}
