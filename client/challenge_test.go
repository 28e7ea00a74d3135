package client

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

func TestParseChallenges(t *testing.T) {
	type C = Challenge
	type P = map[string]string
	for _, tc := range []struct {
		in   string
		want []C
		bad  bool
	}{
		// RFC 9449 Figures 15-19, 24.
		{`DPoP algs="ES256 PS256"`, []C{{Scheme: "DPoP", Params: P{"algs": "ES256 PS256"}}}, false},
		{`DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"`,
			[]C{{Scheme: "DPoP", Params: P{"error": "invalid_token", "error_description": "Invalid DPoP key binding", "algs": "ES256"}}}, false},
		{`Bearer, DPoP algs="ES256 PS256"`, []C{{Scheme: "Bearer"}, {Scheme: "DPoP", Params: P{"algs": "ES256 PS256"}}}, false},
		{`Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"`,
			[]C{{Scheme: "Bearer", Params: P{"error": "invalid_token", "error_description": "Invalid token"}}, {Scheme: "DPoP", Params: P{"algs": "ES256 PS256"}}}, false},
		{`Bearer error="invalid_request", error_description="Multiple methods used to include access token", DPoP algs="ES256 PS256", error="invalid_request", error_description="Multiple methods used to include access token"`,
			[]C{{Scheme: "Bearer", Params: P{"error": "invalid_request", "error_description": "Multiple methods used to include access token"}},
				{Scheme: "DPoP", Params: P{"algs": "ES256 PS256", "error": "invalid_request", "error_description": "Multiple methods used to include access token"}}}, false},
		{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`,
			[]C{{Scheme: "DPoP", Params: P{"error": "use_dpop_nonce", "error_description": "Resource server requires nonce in DPoP proof"}}}, false},
		// Token values, odd spacing, case, empty list elements.
		{`dpop ERROR = use_dpop_nonce ,, algs=ES256`, []C{{Scheme: "dpop", Params: P{"error": "use_dpop_nonce", "algs": "ES256"}}}, false},
		{` , Basic realm="a, b", DPoP foo="bar", error="use_dpop_nonce"`,
			[]C{{Scheme: "Basic", Params: P{"realm": "a, b"}}, {Scheme: "DPoP", Params: P{"foo": "bar", "error": "use_dpop_nonce"}}}, false},
		// Escapes inside quoted strings.
		{`DPoP error_description="say \"hi\" \\ there", error="x"`, []C{{Scheme: "DPoP", Params: P{"error_description": `say "hi" \ there`, "error": "x"}}}, false},
		// token68, alone and followed by another challenge.
		{`Negotiate abc+/def==, DPoP algs="ES256"`, []C{{Scheme: "Negotiate", Token68: "abc+/def=="}, {Scheme: "DPoP", Params: P{"algs": "ES256"}}}, false},
		{`Other a.b~c`, []C{{Scheme: "Other", Token68: "a.b~c"}}, false},
		{`Other x=`, []C{{Scheme: "Other", Token68: "x="}}, false},
		// Duplicate parameter: the first wins.
		{`DPoP error="a", error="b"`, []C{{Scheme: "DPoP", Params: P{"error": "a"}}}, false},
		{``, nil, false},
		// Malformed: what came before the error is kept.
		{`Bearer realm="x", DPoP error="unterminated`, []C{{Scheme: "Bearer", Params: P{"realm": "x"}}}, true},
		{`DPoP error=`, []C{{Scheme: "DPoP", Token68: "error="}}, false}, // a token68 by the grammar
		{`DPoP a=b, =c`, []C{{Scheme: "DPoP", Params: P{"a": "b"}}}, true},
		{`DPoP error="a" junk`, nil, true},
		{`="x"`, nil, true},
		{`DPoP "quoted"`, nil, true},
		{"DPoP error=\"a\x01\"", nil, true},
		{`DPoP error="a\`, nil, true},
	} {
		got, err := ParseChallenges(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v", tc.in, err)
		}
		if err != nil && !errors.Is(err, ErrMalformedChallenge) {
			t.Errorf("%q: error %v does not wrap ErrMalformedChallenge", tc.in, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
	}
}

func TestChallengesFromHeader(t *testing.T) {
	h := http.Header{}
	h.Add("WWW-Authenticate", `Bearer realm="x"`)
	h.Add("WWW-Authenticate", `Broken "`)
	h.Add("Www-Authenticate", `DPoP algs="ES256 XX999 PS256", error="use_dpop_nonce", resource_metadata="https://rs.example/.well-known/oauth-protected-resource"`)
	cs := ChallengesFromHeader(h)
	if len(cs) != 2 {
		t.Fatalf("%d challenges: %#v", len(cs), cs)
	}
	c, ok := dpopChallenge(h)
	if !ok || c.Param("ERROR") != "use_dpop_nonce" {
		t.Fatalf("DPoP challenge %#v", c)
	}
	if got := c.Algorithms(); !reflect.DeepEqual(got, []dpop.Algorithm{dpop.ES256, dpop.PS256}) {
		t.Errorf("algs %v", got)
	}
	if c.Param("resource_metadata") == "" {
		t.Error("resource_metadata not available from a DPoP challenge")
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`DPoP algs="ES256 PS256"`,
		`Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"`,
		`Bearer, DPoP algs="ES256 PS256"`,
		`DPoP error="use_dpop_nonce", error_description="x \"y\" \\"`,
		`Negotiate abc==, Basic realm="r"`,
		` ,, a b=c ,d=e,, f`,
		`DPoP error=`,
		"DPoP a=\"\xff\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cs, err := ParseChallenges(in)
		if err != nil && !errors.Is(err, ErrMalformedChallenge) {
			t.Fatalf("unexpected error type %v", err)
		}
		for _, c := range cs {
			if c.Scheme == "" || !isTokenString(c.Scheme) {
				t.Fatalf("bad scheme %q", c.Scheme)
			}
			if c.Token68 != "" && c.Params != nil {
				t.Fatalf("challenge with token68 and params: %#v", c)
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) || !isTokenString(k) {
					t.Fatalf("bad param name %q", k)
				}
			}
			// Re-serialising and parsing again gives the same challenge.
			again, err := ParseChallenges(serialize(c))
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], c) {
				t.Fatalf("round trip of %#v: %#v, %v", c, again, err)
			}
		}
	})
}

func isTokenString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !syntax.IsTChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// serialize writes c in the canonical form: token68 as is, every
// parameter value as a quoted string.
func serialize(c Challenge) string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteString(" " + c.Token68)
		return b.String()
	}
	first := true
	for k, v := range c.Params {
		if first {
			b.WriteString(" ")
		} else {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(k + `="`)
		for i := 0; i < len(v); i++ {
			if v[i] == '"' || v[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteString(`"`)
	}
	return b.String()
}
