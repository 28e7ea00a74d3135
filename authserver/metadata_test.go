package authserver

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/dpopkit/dpop"
)

// TestMetadata: dpop_signing_alg_values_supported is the verifier's
// allow-list, in order, never empty, without none or HS* (AS-5.1-01, M-01,
// M-02, M-05).
func TestMetadata(t *testing.T) {
	for _, algs := range [][]dpop.Algorithm{nil, {dpop.ES256}, {dpop.EdDSA, dpop.ES256}} {
		a := newAS(t, dpop.VerifierOptions{Algorithms: algs}, nil)
		want := algs
		if want == nil {
			want = dpop.DefaultAlgorithms()
		}
		md := a.Metadata()
		if len(md.DPoPSigningAlgValuesSupported) == 0 || len(md.DPoPSigningAlgValuesSupported) != len(want) {
			t.Fatalf("%v: %v", algs, md.DPoPSigningAlgValuesSupported)
		}
		for i, alg := range md.DPoPSigningAlgValuesSupported {
			if alg != string(want[i]) || alg == "none" || alg[:2] == "HS" {
				t.Errorf("%v: %v", algs, md.DPoPSigningAlgValuesSupported)
			}
		}
		m := map[string]any{"issuer": "https://server.example.com"}
		md.Set(m)
		got, _ := json.Marshal(m)
		list, _ := json.Marshal(md.DPoPSigningAlgValuesSupported)
		if wantJSON := `{"dpop_signing_alg_values_supported":` + string(list) + `,"issuer":"https://server.example.com"}`; string(got) != wantJSON {
			t.Errorf("%s\nwant %s", got, wantJSON)
		}
	}
	// Set copies; an empty list is omitted.
	m := map[string]any{}
	Metadata{}.Set(m)
	if len(m) != 0 {
		t.Errorf("empty list published: %v", m)
	}
	md := Metadata{DPoPSigningAlgValuesSupported: []string{"ES256"}}
	md.Set(m)
	md.DPoPSigningAlgValuesSupported[0] = "XX"
	if got := m["dpop_signing_alg_values_supported"].([]string); !slices.Equal(got, []string{"ES256"}) {
		t.Errorf("Set shares the slice: %v", got)
	}
	// Embedded in a larger struct.
	type serverMetadata struct {
		Issuer string `json:"issuer"`
		Metadata
	}
	a := newAS(t, dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256, dpop.PS256}}, nil)
	b, _ := json.Marshal(serverMetadata{"https://server.example.com", a.Metadata()})
	if want := `{"issuer":"https://server.example.com","dpop_signing_alg_values_supported":["ES256","PS256"]}`; string(b) != want {
		t.Errorf("%s", b)
	}
}

// TestParseClientMetadata: dpop_bound_access_tokens is a boolean, false
// when absent (AS-5.2-01).
func TestParseClientMetadata(t *testing.T) {
	good := map[string]bool{
		`{}`:                                 false,
		`{"client_name":"x"}`:                false,
		`{"dpop_bound_access_tokens":true}`:  true,
		`{"dpop_bound_access_tokens":false}`: false,
		` { "redirect_uris" : ["https://c/cb"], "dpop_bound_access_tokens" : true } `: true,
		`{"DPoP_Bound_Access_Tokens":"yes"}`:                                          false, // another member: names are case-sensitive
		`{"x":{"dpop_bound_access_tokens":1}}`:                                        false,
	}
	for in, want := range good {
		md, err := ParseClientMetadata([]byte(in))
		if err != nil || md.DPoPBoundAccessTokens != want {
			t.Errorf("%s: %+v, %v", in, md, err)
		}
	}
	bad := []string{
		``, `null`, `[]`, `true`, `{`, `{"a":1,}`, `{} {}`, `{}x`,
		`{"dpop_bound_access_tokens":"true"}`,
		`{"dpop_bound_access_tokens":1}`,
		`{"dpop_bound_access_tokens":null}`,
		`{"dpop_bound_access_tokens":{}}`,
		`{"dpop_bound_access_tokens":false,"dpop_bound_access_tokens":true}`,
	}
	for _, in := range bad {
		_, err := ParseClientMetadata([]byte(in))
		var e *Error
		if !errors.As(err, &e) || e.Code() != "invalid_client_metadata" || e.Status != 400 || !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// TestConfirmation: the cnf claim of a JWT access token (AS-6.1-01) with
// the RFC 9449 Figure 9 values.
func TestConfirmation(t *testing.T) {
	claims := map[string]any{"sub": "someone@example.com", "iss": "https://server.example.com", "nbf": 1562262611, "exp": 1562266216}
	if err := SetConfirmation(claims, rfcJKT); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	const fig9 = `{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"exp":1562266216,"iss":"https://server.example.com","nbf":1562262611,"sub":"someone@example.com"}`
	if string(b) != fig9 {
		t.Errorf("%s", b)
	}
	if b, _ := json.Marshal(struct {
		Cnf *Confirmation `json:"cnf,omitempty"`
	}{NewConfirmation(rfcJKT)}); string(b) != `{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}` {
		t.Errorf("%s", b)
	}
	if NewConfirmation("") != nil {
		t.Error("cnf for an unbound token")
	}
	// Other cnf members are kept; the same jkt again is fine; unbound changes nothing.
	c := map[string]any{"cnf": map[string]any{"x5t#S256": "abc"}}
	if err := SetConfirmation(c, rfcJKT); err != nil || SetConfirmation(c, rfcJKT) != nil || SetConfirmation(c, "") != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(c); string(b) != `{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I","x5t#S256":"abc"}}` {
		t.Errorf("%s", b)
	}
	for name, tc := range map[string]struct {
		claims map[string]any
		jkt    string
	}{
		"another jkt":      {map[string]any{"cnf": map[string]any{"jkt": rfcDPoPJKT}}, rfcJKT},
		"cnf not object":   {map[string]any{"cnf": "x"}, rfcJKT},
		"cnf null":         {map[string]any{"cnf": nil}, rfcJKT},
		"not a thumbprint": {map[string]any{}, "abc"},
	} {
		if err := SetConfirmation(tc.claims, tc.jkt); !errors.Is(err, ErrConfirmation) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestIntrospection: an RFC 7662 response for a DPoP-bound token carries
// cnf.jkt as a top-level member and token_type DPoP (AS-6.2-01, AS-6.2-02,
// I-02), with the RFC 9449 Figure 11 values.
func TestIntrospection(t *testing.T) {
	resp := map[string]any{"active": true, "sub": "someone@example.com", "iss": "https://server.example.com", "nbf": 1562262611, "exp": 1562266216, "token_type": "Bearer"}
	if err := SetIntrospection(resp, rfcJKT); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	const want = `{"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"exp":1562266216,"iss":"https://server.example.com","nbf":1562262611,"sub":"someone@example.com","token_type":"DPoP"}`
	if string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
	if err := SetIntrospection(map[string]any{"cnf": 1}, rfcJKT); !errors.Is(err, ErrConfirmation) {
		t.Errorf("conflict: %v", err)
	}
	unbound := map[string]any{"active": true}
	if err := SetIntrospection(unbound, ""); err != nil || len(unbound) != 1 {
		t.Errorf("unbound: %v %v", unbound, err)
	}

	type response struct {
		Active bool `json:"active"`
		Introspection
	}
	b, _ = json.Marshal(response{true, IntrospectionFor(rfcJKT)})
	if string(b) != `{"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"token_type":"DPoP"}` {
		t.Errorf("%s", b)
	}
	b, _ = json.Marshal(response{true, IntrospectionFor("")})
	if string(b) != `{"active":true}` {
		t.Errorf("%s", b)
	}
}
