package resource

import "testing"

// TestChallenge covers B-03/B-04: each parameter at most once, quoted,
// and restricted to the characters RFC 6750 §3 allows.
func TestChallenge(t *testing.T) {
	cases := []struct {
		c    challenge
		want string
	}{
		{challenge{scheme: SchemeBearer}, `Bearer`},
		{challenge{scheme: SchemeDPoP, algs: "ES256 PS256"}, `DPoP algs="ES256 PS256"`},
		{challenge{scheme: SchemeDPoP, err: "invalid_token", description: "Invalid DPoP key binding", algs: "ES256"}, `DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"`},
		{challenge{scheme: SchemeDPoP, err: "invalid_token", description: "a\"b\\c\r\nd\x00é"}, `DPoP error="invalid_token", error_description="abcd"`},
		{challenge{scheme: SchemeBearer, realm: "r", err: "insufficient_scope", description: "d", scope: "a b", metadata: "https://x/.well-known/oauth-protected-resource"}, `Bearer realm="r", error="insufficient_scope", error_description="d", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource"`},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	if got := joinChallenges([]challenge{{scheme: SchemeBearer}, {scheme: SchemeDPoP, algs: "ES256"}}); got != `Bearer, DPoP algs="ES256"` {
		t.Errorf("joined: %s", got)
	}
}

func TestParseAuthorization(t *testing.T) {
	cases := []struct {
		in, scheme, token string
		ok                bool
	}{
		{"DPoP abc", "DPoP", "abc", true},
		{"dpop   a.b-c_d~e+f/g==", "dpop", "a.b-c_d~e+f/g==", true},
		{"DPoP", "DPoP", "", false},
		{"DPoP ", "DPoP", "", false},
		{"DPoP a b", "DPoP", "a b", false},
		{"DPoP a=b", "DPoP", "a=b", false},
		{"DPoP =", "DPoP", "=", false},
		{"DPoP a,b", "DPoP", "a,b", false},
		{"DPoP\tabc", "DPoP\tabc", "", false},
	}
	for _, tc := range cases {
		s, tok, ok := parseAuthorization(tc.in)
		if s != tc.scheme || tok != tc.token || ok != tc.ok {
			t.Errorf("%q: %q %q %v", tc.in, s, tok, ok)
		}
	}
}
