package resource

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dpopkit/dpop"
)

// FuzzAuthorization feeds arbitrary Authorization and DPoP values to the
// middleware: it must never panic, never call the handler, and always send
// a challenge made of allowed characters.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"", "DPoP", "DPoP abc", "Bearer x", "dpop a b", `DPoP a"b`, "Basic x", "DPoP a,Bearer b", "DPoP \x00"} {
		f.Add(s, "e30.e30.sig")
	}
	f.Fuzz(func(t *testing.T, auth, proof string) {
		e := newEnv(t)
		m := e.middleware(t, mwConfig{bearer: true})
		h := &recorder{}
		r := httptest.NewRequest("GET", "http://internal/data", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["Dpop"] = []string{proof}
		w := httptest.NewRecorder()
		m.Wrap(h).ServeHTTP(w, r)
		if h.calls != 0 || w.Code < 400 {
			t.Fatalf("accepted: %d", w.Code)
		}
		for _, v := range w.Header().Values("WWW-Authenticate") {
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("challenge byte %#x in %q", v[i], v)
				}
			}
		}
	})
}

// FuzzIntrospectionResponse checks that any response body either fails or
// yields a consistent binding.
func FuzzIntrospectionResponse(f *testing.F) {
	for _, s := range []string{`{"active":true}`, `{"active":false}`, `{"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"token_type":"DPoP"}`, `{"active":true,"exp":1e308}`, `{"active":true,"aud":[1]}`, `[]`} {
		f.Add([]byte(s))
	}
	in, err := NewIntrospector(IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", Audience: "x"})
	if err != nil {
		f.Fatal(err)
	}
	in.audience = ""
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := in.interpret(body)
		if err == nil && info.JKT != "" && !dpop.IsThumbprint(info.JKT) {
			t.Fatalf("bad JKT %q", info.JKT)
		}
	})
}

// FuzzTokenParam checks the detection of an access_token parameter in a
// query or form body against net/url's parser, given the names only (a
// malformed value does not hide a name) and ';' as a separator too: the
// two agree on every input.
func FuzzTokenParam(f *testing.F) {
	for _, s := range []string{"access_token=X", "access%5Ftoken=X", "%61ccess_token", "a=1;access_token=", "access+token=1", "access%ZZtoken=1", "&&=&", "%", "access_token%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		pairs := strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' })
		for i, p := range pairs {
			pairs[i], _, _ = strings.Cut(p, "=")
		}
		vals, _ := url.ParseQuery(strings.Join(pairs, "&"))
		if got, want := hasTokenParam(q), vals.Has(accessTokenParam); got != want {
			t.Fatalf("hasTokenParam(%q) = %v, net/url says %v", q, got, want)
		}
	})
}
