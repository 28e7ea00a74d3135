package syntax

import (
	"net/url"
	"strings"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"", false},
		{"localhost.", false},
		{"foo.localhost", false},
		{"localhost.example.com", false},
		{"127.0.0.1.example.com", false},
		{"128.0.0.1", false},
		{"126.255.255.255", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::2", false},
		{"::ffff:127.0.0.1", false},
		{"fe80::1%lo", false},
		{"::1%lo", false},
		{"127.1", false},
		{"0x7f.0.0.1", false},
		{"2130706433", false},
		{"example.com", false},
		{"[::1]", false},
	} {
		if got := IsLoopbackHost(tc.host); got != tc.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestIsSecureURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://as.example.com/token", true},
		{"https://127.0.0.1:8443/", true},
		{"HTTPS://as.example.com/", true},
		{"http://127.0.0.1:8080/cb", true},
		{"http://localhost/", true},
		{"http://LOCALHOST:9/", true},
		{"http://[::1]:8080/", true},
		{"http://as.example.com/token", false},
		{"http://localhost.evil.example/", false},
		{"http://localhost@evil.example/", false},
		{"http://127.0.0.1.nip.io/", false},
		{"http://[::ffff:127.0.0.1]/", false},
		{"http://10.0.0.1/", false},
		{"ftp://localhost/", false},
		{"ws://localhost/", false},
		{"https:///path", false},
		{"/relative", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.url, err)
		}
		if got := IsSecureURL(u); got != tc.want {
			t.Errorf("IsSecureURL(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
	if IsSecureURL(nil) {
		t.Error("IsSecureURL(nil) = true")
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		s              string
		token, token68 bool
	}{
		{"GET", true, true},
		{"M-SEARCH", true, true},
		{"!#$%&'*+-.^_`|~", true, false},
		{"abc~+/", false, true},
		{"abc==", false, true},
		{"abc=d", false, false},
		{"=", false, false},
		{"", false, false},
		{"a b", false, false},
		{"a,b", false, false},
		{"a\"b", false, false},
		{"a/b", false, true},
		{"é", false, false},
		{"a\x00", false, false},
		{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_", true, true},
	} {
		if got := IsToken(tc.s); got != tc.token {
			t.Errorf("IsToken(%q) = %v, want %v", tc.s, got, tc.token)
		}
		if got := IsToken68(tc.s); got != tc.token68 {
			t.Errorf("IsToken68(%q) = %v, want %v", tc.s, got, tc.token68)
		}
	}
	// The character classes, byte by byte, against their RFC 9110 lists.
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if want := alnum || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0; IsTChar(b) != want {
			t.Errorf("IsTChar(%#x) = %v", b, !want)
		}
		if want := alnum || strings.IndexByte("-._~+/", b) >= 0; IsToken68Char(b) != want {
			t.Errorf("IsToken68Char(%#x) = %v", b, !want)
		}
	}
}

func TestParams(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := b == 0x20 || b == 0x21 || 0x23 <= b && b <= 0x5b || 0x5d <= b && b <= 0x7e
		if IsParamChar(b) != want {
			t.Errorf("IsParamChar(%#x) = %v", b, !want)
		}
	}
	for _, tc := range []struct{ in, clean string }{
		{"DPoP proof is too old", "DPoP proof is too old"},
		{"bad \"x\"\\\n\u00e9", "bad x"},
		{"a\"b\\c\r\nd\x00é", "abcd"},
		{"", ""},
		{"\x7f\x80\xff", ""},
	} {
		if got := CleanParam(tc.in); got != tc.clean {
			t.Errorf("CleanParam(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if !IsParamText(CleanParam(tc.in)) {
			t.Errorf("CleanParam(%q) is not param text", tc.in)
		}
		if IsParamText(tc.in) != (tc.in == tc.clean) {
			t.Errorf("IsParamText(%q) = %v", tc.in, !(tc.in == tc.clean))
		}
	}
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"invalid_request", true},
		{"use_dpop_nonce", true},
		{"", false},
		{"bad code", false},
		{"bad\"code", false},
		{"bad\\code", false},
		{"códe", false},
	} {
		if got := IsNQChars(tc.s); got != tc.want {
			t.Errorf("IsNQChars(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestEqualFoldASCII(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"DPoP", "dpop", true},
		{"application/DPOP+JWT", "application/dpop+jwt", true},
		{"", "", true},
		{"a", "", false},
		{"dpop", "dpo", false},
		{"ſ", "s", false},
		{"K", "k", true},       // ASCII K
		{"\u212a", "k", false}, // Kelvin sign folds to k in Unicode only
		{"@", "`", false},      // differ in bit 0x20, not letters
		{"[", "{", false},
		{"\x00", " ", false},
		{"alg", "ALG", true},
		{"HtU", "hTu", true},
		{"a", "b", false},
		{"alg", "alg ", false},
		{"]", "}", false},
		{"^", "~", false},
		{"_", "\x7f", false},
		{"1", "\x11", false},
		{"\xc1", "\xe1", false},
		{"é", "É", false},
	} {
		if got := EqualFoldASCII(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := EqualFoldASCII([]byte(tc.b), []byte(tc.a)); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
	for x := 0; x < 256; x++ {
		for y := 0; y < 256; y++ {
			lx, ly := byte(x), byte(y)
			if 'A' <= lx && lx <= 'Z' {
				lx += 'a' - 'A'
			}
			if 'A' <= ly && ly <= 'Z' {
				ly += 'a' - 'A'
			}
			if got := EqualFoldASCII([]byte{byte(x)}, []byte{byte(y)}); got != (lx == ly) {
				t.Fatalf("EqualFoldASCII(%#x, %#x) = %v", x, y, got)
			}
		}
	}
}

func FuzzCleanParam(f *testing.F) {
	f.Add("bad \"x\"\\\n\u00e9")
	f.Fuzz(func(t *testing.T, s string) {
		c := CleanParam(s)
		if !IsParamText(c) || len(c) > len(s) {
			t.Fatalf("CleanParam(%q) = %q", s, c)
		}
		if IsParamText(s) && c != s {
			t.Fatalf("CleanParam changed clean %q", s)
		}
	})
}

func TestBase64URL(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		if got := Base64URLValue(alphabet[i]); int(got) != i {
			t.Errorf("Base64URLValue(%q) = %d, want %d", alphabet[i], got, i)
		}
	}
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"AQ", true},   // 0x01
		{"AR", false},  // unused bits set
		{"AQE", true},  // 0x01 0x01
		{"AQF", false}, // unused bits set
		{"AQID", true},
		{"A", false}, // a length no encoding has
		{"AQIDB", false},
	} {
		if got := IsCanonicalBase64URL(tc.s); got != tc.want {
			t.Errorf("IsCanonicalBase64URL(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
