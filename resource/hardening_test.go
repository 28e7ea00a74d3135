package resource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
	"github.com/dpopkit/dpop/internal/testkit"
)

const chMultiple = `DPoP error="invalid_request", error_description="Multiple methods used to include access token", algs="ES256 PS256"`

// TestTokenInQuery checks RFC 6750 §3.1: a token in the query beside the
// Authorization field is a 400 invalid_request however the parameter name
// is percent-encoded, and names that only look alike are not tokens.
func TestTokenInQuery(t *testing.T) {
	e := newEnv(t)
	m := e.middleware(t, mwConfig{})
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"access_token=X", 400},
		{"access%5Ftoken=X", 400},
		{"access%5ftoken=X", 400},
		{"%61ccess_token=X", 400},
		{"%61%63%63%65%73%73%5F%74%6F%6B%65%6E=X", 400},
		{"a=1&access%5Ftoken=X&b=2", 400},
		{"a=1;access_token=X", 400},
		{"access_token=", 400},
		{"access_token", 400},
		{"access_tokens=X", 200},
		{"maccess_token=X", 200},
		{"x=access_token", 200},
		{"access%5Ftoken%5F=X", 200},
		{"access+token=X", 200},
		{"access%ZZtoken=X", 200},
		{"", 200},
	} {
		r := request([]string{"DPoP " + e.bound}, testkit.Proof(t, e.key, "GET", testURL, dpop.WithAccessToken(e.bound)))
		r.URL.RawQuery = tc.query
		h := &recorder{}
		w := httptest.NewRecorder()
		m.Wrap(h).ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("?%s: status %d, want %d", tc.query, w.Code, tc.status)
		}
		if tc.status == 400 && (w.Header().Get("WWW-Authenticate") != chMultiple || h.calls != 0) {
			t.Errorf("?%s: %q, handler calls %d", tc.query, w.Header().Get("WWW-Authenticate"), h.calls)
		}
	}
}

// countingBody counts the bytes read from it.
type countingBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

// bodyRecorder is a protected handler that reads the whole body.
type bodyRecorder struct {
	calls int
	body  []byte
}

func (h *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.body, _ = io.ReadAll(r.Body)
	_ = r.Body.Close()
}

// TestTokenInFormBody checks the form-body method (RFC 6750 §2.2): an
// application/x-www-form-urlencoded body naming access_token within its
// first MaxFormPeek bytes is a second method (400 invalid_request), the
// handler still reads the body as sent, and the body of a request refused
// on its credentials is never read.
func TestTokenInFormBody(t *testing.T) {
	e := newEnv(t)
	m := e.middleware(t, mwConfig{})
	filler := strings.Repeat("f", 100<<10)
	edge := strings.Repeat("x", MaxFormPeek-len("a=&access_token")) // the peek ends inside a name
	for _, tc := range []struct {
		name   string
		ctype  string
		body   string
		status int
	}{
		{"token in the body", "application/x-www-form-urlencoded", "access_token=X&a=1", 400},
		{"percent-encoded name", "application/x-www-form-urlencoded", "a=1&access%5Ftoken=X", 400},
		{"content type with parameters", "Application/X-WWW-Form-Urlencoded; charset=utf-8", "%61ccess_token=X", 400},
		{"token after a large value, within the peek", "application/x-www-form-urlencoded", "a=" + filler[:MaxFormPeek-40] + "&access_token=X&" + filler, 400},
		{"no token, large body read whole", "application/x-www-form-urlencoded", "a=1&b=" + filler, 200},
		{"token beyond the peek is not seen", "application/x-www-form-urlencoded", "a=" + filler + "&access_token=X", 200},
		{"name cut by the peek", "application/x-www-form-urlencoded", "a=" + edge + "&access_token_other=1", 200},
		{"empty body", "application/x-www-form-urlencoded", "", 200},
		{"JSON body", "application/json", `{"x":"access_token=X"}`, 200},
		{"multipart body", "multipart/form-data; boundary=b", "access_token=X", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{r: strings.NewReader(tc.body)}
			r := httptest.NewRequest("POST", "http://internal/data", body)
			r.Header.Set("Content-Type", tc.ctype)
			r.Header.Set("Authorization", "DPoP "+e.bound)
			r.Header.Set("DPoP", testkit.Proof(t, e.key, "POST", testURL, dpop.WithAccessToken(e.bound)))
			h := &bodyRecorder{}
			w := httptest.NewRecorder()
			m.Wrap(h).ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if tc.status == 400 {
				if w.Header().Get("WWW-Authenticate") != chMultiple || h.calls != 0 {
					t.Errorf("%q, handler calls %d", w.Header().Get("WWW-Authenticate"), h.calls)
				}
				if body.read > MaxFormPeek {
					t.Errorf("read %d bytes of the body", body.read)
				}
				return
			}
			if h.calls != 1 || string(h.body) != tc.body || !body.closed {
				t.Errorf("the handler read %d bytes of %d (closed %v)", len(h.body), len(tc.body), body.closed)
			}
		})
	}

	t.Run("already parsed form", func(t *testing.T) {
		r := httptest.NewRequest("POST", "http://internal/data", strings.NewReader(""))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "DPoP "+e.bound)
		r.Header.Set("DPoP", testkit.Proof(t, e.key, "POST", testURL, dpop.WithAccessToken(e.bound)))
		r.PostForm = url.Values{"access_token": {"X"}}
		w := httptest.NewRecorder()
		m.Wrap(&recorder{}).ServeHTTP(w, r)
		if w.Code != 400 || w.Header().Get("WWW-Authenticate") != chMultiple {
			t.Errorf("status %d, %q", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	})

	t.Run("refused credentials: the body is not read", func(t *testing.T) {
		for _, auth := range []string{"", "DPoP junk-token", "DPoP " + e.bound} {
			body := &countingBody{r: strings.NewReader("access_token=X")}
			r := httptest.NewRequest("POST", "http://internal/data", body)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			r.Header.Set("DPoP", testkit.Proof(t, e.key2, "POST", testURL, dpop.WithAccessToken(e.bound)))
			w := httptest.NewRecorder()
			m.Wrap(&recorder{}).ServeHTTP(w, r)
			if w.Code != 401 || body.read != 0 {
				t.Errorf("%q: status %d, %d bytes of the body read", auth, w.Code, body.read)
			}
		}
	})
}

// TestIntrospectorRedacted checks that no fmt verb prints the client
// secret of an Introspector or of its options, by pointer, by value or
// inside another struct.
func TestIntrospectorRedacted(t *testing.T) {
	const secret = "rs:Mku-6g_lCzKIdz4fsN7kYcya+Ti"
	opts := IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", ClientSecret: secret}
	in, err := NewIntrospector(opts)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"pointer": in, "value": *in, "options": opts, "options pointer": &opts,
		"nested": struct{ In Introspector }{*in}, "nested options": struct{ O IntrospectionOptions }{opts},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(out, "Mku-6g") || strings.Contains(out, fmt.Sprintf("%x", secret)[:20]) {
				t.Errorf("%s %s prints the secret: %s", name, verb, out)
			}
		}
	}
	if s := in.String(); !strings.Contains(s, "[redacted]") || !strings.Contains(s, "https://as.example.com/introspect") || !strings.Contains(s, "rs") {
		t.Errorf("String() = %s", s)
	}
	if s := fmt.Sprintf("%#v", opts); !strings.Contains(s, "ClientSecret=[redacted]") {
		t.Errorf("%%#v = %s", s)
	}
}

// setUnusedBits returns seg with the unused low bits of its last
// base64url character set, so that it decodes to the same bytes under a
// lenient decoder; ok is false when seg has no unused bits.
func setUnusedBits(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var unused byte
	switch len(seg) % 4 {
	case 2:
		unused = 0x0f
	case 3:
		unused = 0x03
	default:
		return seg, false
	}
	v := byte(strings.IndexByte(alphabet, seg[len(seg)-1]))
	return seg[:len(seg)-1] + string(alphabet[v|unused]), true
}

// TestJWTNonCanonicalBase64 checks that a JWT access token whose segment
// ends in a character with non-zero unused bits is refused, as the core
// refuses such proofs, though go-jose would decode it.
func TestJWTNonCanonicalBase64(t *testing.T) {
	as := newTestAS(t)
	v := as.validator(t, nil)
	claims := stdClaims("", time.Now())
	tampered := 0
	for pad := 0; pad < 4 && tampered < 3; pad++ {
		claims["p"] = strings.Repeat("p", pad) // vary the segment lengths
		tok := as.mint(claims)
		if _, err := v.ValidateToken(context.Background(), tok); err != nil {
			t.Fatalf("the untouched token: %v", err)
		}
		segs := strings.Split(tok, ".")
		for i := range segs {
			bad, ok := setUnusedBits(segs[i])
			if !ok {
				continue
			}
			parts := append([]string(nil), segs...)
			parts[i] = bad
			_, err := v.ValidateToken(context.Background(), strings.Join(parts, "."))
			var oe *dpop.Error
			if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &oe) || oe.Check != "token" {
				t.Errorf("segment %d with unused bits set: %v", i+1, err)
			}
			tampered++
		}
	}
	if tampered == 0 {
		t.Fatal("no segment had unused bits")
	}
	for _, s := range []string{"", "AA", "AAA", "AAAA", "AQ", "AAE"} {
		if !syntax.IsCanonicalBase64URL(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"A", "AB", "AAB", "AAAAA", "_-"} {
		if syntax.IsCanonicalBase64URL(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestExpBoundary checks RFC 7519 §4.1.4 (a token is refused on or after
// exp) and §4.1.5 (accepted from nbf on), without and with the leeway,
// for the JWT validator and the introspector.
func TestExpBoundary(t *testing.T) {
	as := newTestAS(t)
	exp := time.Unix(1893456000, 0)
	var now time.Time
	clock := func() time.Time { return now }
	claims := stdClaims("", exp.Add(-time.Hour))
	claims["exp"] = exp.Unix()
	claims["nbf"] = exp.Add(-time.Minute).Unix()
	tok := as.mint(claims)
	none := as.validator(t, func(o *JWTOptions) { o.Leeway = -1; o.Now = clock })
	def := as.validator(t, func(o *JWTOptions) { o.Now = clock })
	in, _ := NewIntrospector(IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", Leeway: -1, Now: clock})
	inDef, _ := NewIntrospector(IntrospectionOptions{Endpoint: "https://as.example.com/introspect", ClientID: "rs", Now: clock})
	body := []byte(fmt.Sprintf(`{"active":true,"exp":%d,"nbf":%d}`, exp.Unix(), exp.Add(-time.Minute).Unix()))
	l := DefaultJWTLeeway
	for _, tc := range []struct {
		name string
		at   time.Time
		v    TokenValidator
		in   *Introspector
		ok   bool
	}{
		{"one second before exp", exp.Add(-time.Second), none, in, true},
		{"exactly exp", exp, none, in, false},
		{"exactly nbf", exp.Add(-time.Minute), none, in, true},
		{"one second before nbf", exp.Add(-time.Minute - time.Second), none, in, false},
		{"exp, within the leeway", exp.Add(l - time.Second), def, inDef, true},
		{"exactly exp + leeway", exp.Add(l), def, inDef, false},
		{"nbf - leeway", exp.Add(-time.Minute - l), def, inDef, true},
	} {
		now = tc.at
		if _, err := tc.v.ValidateToken(context.Background(), tok); (err == nil) != tc.ok {
			t.Errorf("JWT, %s: %v", tc.name, err)
		}
		if _, err := tc.in.interpret(body); (err == nil) != tc.ok {
			t.Errorf("introspection, %s: %v", tc.name, err)
		}
	}
}
