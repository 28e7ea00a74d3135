package dpop

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unsafe"
)

// normalizeURLCases is the table of TestNormalizeURL; its inputs also seed
// FuzzNormalizeURL. want == "" means the input must be rejected.
var normalizeURLCases = []struct {
	name, in, want string
}{
	// Already in normal form.
	{"normal", "https://server.example.com/token", "https://server.example.com/token"},
	{"normal http", "http://server.example.com/token", "http://server.example.com/token"},
	{"trailing slash kept", "https://h/token/", "https://h/token/"},
	{"path case kept", "https://h/Token", "https://h/Token"},
	{"encoded slash kept", "https://h/%2Ftoken", "https://h/%2Ftoken"},
	{"encoded non-ASCII kept", "https://h/%C3%A9", "https://h/%C3%A9"},
	{"all pchar kept", "https://h/a:b@c!$&'()*+,;=", "https://h/a:b@c!$&'()*+,;="},
	{"dots inside names kept", "https://h/a/.b/..c/d.", "https://h/a/.b/..c/d."},
	{"reg-name characters", "https://sub-1.ex_am~ple.com/", "https://sub-1.ex_am~ple.com/"},
	{"IPv4 with port", "https://192.0.2.1:8443/a", "https://192.0.2.1:8443/a"},
	{"IPv6 with port", "https://[::1]:8443/x", "https://[::1]:8443/x"},
	{"IPv4-mapped IPv6", "https://[::ffff:192.0.2.1]/", "https://[::ffff:192.0.2.1]/"},
	{"highest port", "https://h:65535/", "https://h:65535/"},
	{"lowest port", "https://h:1/", "https://h:1/"},
	{"http port on https", "https://h:80/", "https://h:80/"},
	{"https port on http", "http://h:443/", "http://h:443/"},

	// Scheme and host case.
	{"case of scheme and host", "HTTPS://SERVER.Example.COM:443/token", "https://server.example.com/token"},
	{"mixed case scheme", "HtTp://h/", "http://h/"},

	// Ports.
	{"default http port", "http://h:80/", "http://h/"},
	{"default https port", "https://h:443/x", "https://h/x"},
	{"default port with leading zero", "https://h:0443/x", "https://h/x"},
	{"default http port with leading zeros", "http://h:0080/x", "http://h/x"},
	{"leading zero", "https://h:08443/x", "https://h:8443/x"},
	{"empty port", "https://h:/x", "https://h/x"},
	{"IPv6 default port", "https://[::1]:443/", "https://[::1]/"},

	// IPv6 literals.
	{"IPv6 uppercase", "https://[2001:DB8::1]/", "https://[2001:db8::1]/"},
	{"IPv6 long form", "https://[2001:0db8:0:0:0:0:0:1]/", "https://[2001:db8::1]/"},

	// Empty path.
	{"no path", "https://h", "https://h/"},
	{"no path with query", "https://h?x", "https://h/"},
	{"no path with port", "https://h:8443", "https://h:8443/"},

	// Percent-encoding.
	{"encoded unreserved", "https://server.example.com/%74oken", "https://server.example.com/token"},
	{"encoded tilde", "https://h/%7euser", "https://h/~user"},
	{"encoded letters", "https://h/%41%42c", "https://h/ABc"},
	{"lowercase encoded slash", "https://h/a%2fb", "https://h/a%2Fb"},
	{"lowercase encoded sub-delim", "https://h/a%3db", "https://h/a%3Db"},
	{"lowercase encoded non-ASCII", "https://h/%c3%a9", "https://h/%C3%A9"},

	// Dot segments.
	{"dot-dot", "https://server.example.com/a/../token", "https://server.example.com/token"},
	{"dot and dot-dot", "https://h/a/./b/../c", "https://h/a/c"},
	{"dot-dot at end", "https://h/a/b/..", "https://h/a/"},
	{"dot at end", "https://h/a/.", "https://h/a/"},
	{"dot-dot above root", "https://h/../../x", "https://h/x"},
	{"lone dot-dot", "https://h/..", "https://h/"},
	{"lone dot", "https://h/.", "https://h/"},
	{"leading dot", "https://h/./a", "https://h/a"},
	{"dot-dot removes empty segment", "https://h/a//../b", "https://h/a/b"},
	{"encoded dot-dot", "https://h/%2E%2E/x", "https://h/x"},
	{"encoded dot", "https://h/a/%2e", "https://h/a/"},
	{"mixed dot segments", "https://h/a/../../b/./c/.", "https://h/b/c/"},

	// Query and fragment.
	{"query", "https://h/token?x=1", "https://h/token"},
	{"query and fragment", "https://h/token?x=1#f", "https://h/token"},
	{"fragment", "https://h/token#frag", "https://h/token"},
	{"empty query", "https://h/?", "https://h/"},
	{"query not inspected", "https://h/p?%zz", "https://h/p"},
	{"at sign in fragment", "https://h#x@evil.example", "https://h/"},

	// Rejected.
	{"empty", "", ""},
	{"scheme-relative", "//host/x", ""},
	{"relative path", "/relative", ""},
	{"relative name", "token", ""},
	{"query only", "?x", ""},
	{"other scheme", "ftp://h/", ""},
	{"scheme with digit first", "1http://h/", ""},
	{"scheme only", "https:", ""},
	{"no authority", "https:/x", ""},
	{"opaque", "https:x", ""},
	{"empty host", "https:///x", ""},
	{"empty host with port", "https://:443/", ""},
	{"userinfo", "https://user@h/", ""},
	{"userinfo with password", "https://user:pw@h/", ""},
	{"port too large", "https://h:99999/", ""},
	{"port just too large", "https://h:65536/", ""},
	{"port zero", "https://h:0/", ""},
	{"port zeros", "https://h:000/", ""},
	{"port not digits", "https://h:8x/", ""},
	{"port sign", "https://h:+443/", ""},
	{"space in path", "https://h/a b", ""},
	{"bad percent", "https://h/%zz", ""},
	{"short percent", "https://h/%4", ""},
	{"short percent before query", "https://h/%4?x", ""},
	{"lone percent", "https://h/%", ""},
	{"non-ASCII host", "https://hé/", ""},
	{"non-ASCII path", "https://h/é", ""},
	{"NUL in path", "https://h/\x00", ""},
	{"tab in path", "https://h/a\tb", ""},
	{"DEL in host", "https://h\x7f/", ""},
	{"space in host", "https://h h/", ""},
	{"encoded host", "https://h%41/", ""},
	{"bracket in host", "https://exa[mple.com/", ""},
	{"quote in path", "https://h/a\"b", ""},
	{"less-than in path", "https://h/<", ""},
	{"greater-than in path", "https://h/>", ""},
	{"backslash in path", "https://h/a\\b", ""},
	{"caret in path", "https://h/^", ""},
	{"backtick in path", "https://h/`", ""},
	{"brace in path", "https://h/{}", ""},
	{"pipe in path", "https://h/|", ""},
	{"IPv6 zone", "https://[::1%eth0]/", ""},
	{"IPv6 encoded zone", "https://[::1%25eth0]/", ""},
	{"IPv4 in brackets", "https://[127.0.0.1]/", ""},
	{"IPvFuture", "https://[v1.x]/", ""},
	{"unclosed IPv6", "https://[::1/", ""},
	{"junk after IPv6", "https://[::1]x/", ""},
	{"oversize", "https://h/" + strings.Repeat("a", maxURLLength), ""},
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range normalizeURLCases {
		got, err := NormalizeURL(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: NormalizeURL(%q) = %q, want an error", tc.name, tc.in, got)
			} else if !errors.Is(err, ErrInvalidURL) {
				t.Errorf("%s: NormalizeURL(%q) error %v does not wrap ErrInvalidURL", tc.name, tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: NormalizeURL(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
			continue
		}
		again, err := NormalizeURL(got)
		if err != nil || again != got {
			t.Errorf("%s: not idempotent: NormalizeURL(%q) = %q, %v", tc.name, got, again, err)
		}
	}
}

func TestNormalizeURLLengthLimit(t *testing.T) {
	prefix := "https://h/"
	exact := prefix + strings.Repeat("a", maxURLLength-len(prefix))
	if got, err := NormalizeURL(exact); err != nil || got != exact {
		t.Errorf("input of exactly %d bytes: err = %v", maxURLLength, err)
	}
	if _, err := NormalizeURL(exact + "a"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("input of %d bytes: err = %v, want ErrInvalidURL", maxURLLength+1, err)
	}
}

// TestNormalizeURLErrorDoesNotEchoInput checks that error text, which may be
// shown to a client, carries none of the input.
func TestNormalizeURLErrorDoesNotEchoInput(t *testing.T) {
	const marker = "Marker7q"
	for _, in := range []string{
		"https://" + marker + "@h/",
		"https://h/" + marker + " x",
		"https://h/" + marker + "%zz",
		"https://h" + marker + "é/",
		"https://h:" + marker + "/",
		"https://[" + marker + "]/",
		"ftp" + marker + "://h/",
		marker,
	} {
		_, err := NormalizeURL(in)
		if err == nil {
			t.Errorf("NormalizeURL(%q) succeeded, want an error", in)
			continue
		}
		if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(marker)) {
			t.Errorf("NormalizeURL(%q) error %q repeats the input", in, err)
		}
	}
}

// TestNormalizeURLDistinct checks that forms which are not equivalent keep
// different normal forms.
func TestNormalizeURLDistinct(t *testing.T) {
	const base = "https://server.example.com/token"
	for _, other := range []string{
		"https://server.example.com/Token",
		"https://server.example.com/token/",
		"https://server.example.com/%2Ftoken",
		"http://server.example.com/token",
		"https://server.example.com:8443/token",
		"https://other.example.com/token",
		"https://server.example.com./token",
		"https://server.example.com/toke%6E%2F",
	} {
		a, errA := NormalizeURL(base)
		b, errB := NormalizeURL(other)
		if errA != nil || errB != nil {
			t.Fatalf("unexpected errors: %v, %v", errA, errB)
		}
		if a == b {
			t.Errorf("%q and %q both normalise to %q", base, other, a)
		}
	}
	a, _ := NormalizeURL("https://h/a%2Fb")
	b, _ := NormalizeURL("https://h/a/b")
	if a == b {
		t.Errorf("an encoded slash normalises like a slash: %q", a)
	}
}

func TestNormalizeURLNoAllocation(t *testing.T) {
	for _, in := range []string{
		"https://server.example.com/token",
		"http://192.0.2.1:8080/a/b/c",
		"https://[2001:db8::1]:8443/x",
		"https://server.example.com/token?x=1#f",
		"https://server.example.com/%C3%A9",
	} {
		got, err := NormalizeURL(in)
		if err != nil {
			t.Fatalf("NormalizeURL(%q): %v", in, err)
		}
		if unsafe.StringData(got) != unsafe.StringData(in) {
			t.Errorf("NormalizeURL(%q) did not return (a prefix of) its input", in)
		}
		allocs := testing.AllocsPerRun(100, func() {
			_, _ = NormalizeURL(in)
		})
		if allocs != 0 {
			t.Errorf("NormalizeURL(%q): %v allocations, want 0", in, allocs)
		}
	}
	// Rejections do not allocate either.
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = NormalizeURL("https://h/a b")
	})
	if allocs != 0 {
		t.Errorf("rejection: %v allocations, want 0", allocs)
	}
}

// TestNormalizeURLDotSegments compares every path built from a few tokens
// with the reference algorithm.
func TestNormalizeURLDotSegments(t *testing.T) {
	tokens := []string{"/", ".", "a", "%2e", "%2F"}
	var walk func(path string, depth int)
	walk = func(path string, depth int) {
		in := "https://h/" + path
		got, err := NormalizeURL(in)
		if err != nil {
			t.Fatalf("NormalizeURL(%q): %v", in, err)
		}
		if want := "https://h" + refNormalPath("/"+path); got != want {
			t.Fatalf("NormalizeURL(%q) = %q, want %q", in, got, want)
		}
		if depth == 0 {
			return
		}
		for _, tok := range tokens {
			walk(path+tok, depth-1)
		}
	}
	walk("", 6)
}

func TestJoinURL(t *testing.T) {
	for _, tc := range []struct {
		base, path, want string
	}{
		{"https://api.example.com", "/token", "https://api.example.com/token"},
		{"https://api.example.com/", "/token", "https://api.example.com/token"},
		{"https://example.com/api/", "/token", "https://example.com/api/token"},
		{"https://example.com/api", "/token", "https://example.com/api/token"},
		{"https://example.com/api", "/", "https://example.com/api/"},
		{"https://example.com/api/", "/a/b/", "https://example.com/api/a/b/"},
		{"HTTPS://Example.COM:443/api/", "/t%6Fken", "https://example.com/api/token"},
		{"https://example.com:8443", "/token", "https://example.com:8443/token"},
		{"https://example.com/api/?q#f", "/token", "https://example.com/api/token"},
		{"https://example.com/api", "/token?x=1", "https://example.com/api/token"},
		{"https://example.com/api", "/%2Ftoken", "https://example.com/api/%2Ftoken"},
		{"https://example.com/api/", "", "https://example.com/api/"},
		{"https://example.com/api", "", "https://example.com/api"},
		{"https://example.com", "", "https://example.com/"},
		{"https://example.com/api", "/../token", "https://example.com/token"},
		{"https://example.com", "//evil.example/x", "https://example.com//evil.example/x"},
		{"https://example.com", "token", ""},
		{"https://example.com", "?x", ""},
		{"https://example.com", "/a b", ""},
		{"https://example.com", "/%zz", ""},
		{"ftp://example.com/", "/token", ""},
		{"/api", "/token", ""},
		{"https://user@example.com", "/token", ""},
		{"", "", ""},
	} {
		got, err := JoinURL(tc.base, tc.path)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidURL) {
				t.Errorf("JoinURL(%q, %q) = %q, %v; want an ErrInvalidURL error", tc.base, tc.path, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("JoinURL(%q, %q) = %q, %v; want %q", tc.base, tc.path, got, err, tc.want)
		}
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, tc := range normalizeURLCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeURL(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("error %v does not wrap ErrInvalidURL", err)
			}
			if got != "" {
				t.Fatalf("result %q returned with an error", got)
			}
			return
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("NormalizeURL(%q) = %q: not http or https", in, got)
		}
		if strings.ContainsAny(got, "?#") {
			t.Fatalf("NormalizeURL(%q) = %q: has a query or fragment", in, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] >= 0x7f {
				t.Fatalf("NormalizeURL(%q) = %q: byte %#x is not printable ASCII", in, got, got[i])
			}
		}
		again, err := NormalizeURL(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: NormalizeURL(%q) = %q, NormalizeURL of that = %q, %v", in, got, again, err)
		}
		// The zero-allocation shortcut gives what building the result would.
		var p urlParts
		if err := scanURL(in, &p); err != nil || p.build() != got {
			t.Fatalf("NormalizeURL(%q) = %q, but the built form differs (%v)", in, got, err)
		}
		// The path matches the literal algorithm of RFC 3986 §5.2.4.
		if want, gotPath := refNormalPath(splitPath(in)), splitPath(got); gotPath != want {
			t.Fatalf("NormalizeURL(%q) = %q: path %q, reference gives %q", in, got, gotPath, want)
		}
		// The standard parser agrees on the shape of the result.
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("net/url rejects NormalizeURL(%q) = %q: %v", in, got, err)
		}
		if u.User != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("net/url reads NormalizeURL(%q) = %q as %#v", in, got, u)
		}
	})
}

// splitPath returns the path of s, an absolute URI with an authority.
func splitPath(s string) string {
	s = s[strings.Index(s, "://")+3:]
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i:]
	}
	return ""
}

// refNormalPath is a plain reference for the path normalisation of
// NormalizeURL: percent-encodings are rewritten octet by octet, then the
// remove_dot_segments steps of RFC 3986 §5.2.4 are followed as written, on
// strings.
func refNormalPath(path string) string {
	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	var enc strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] != '%' {
			enc.WriteByte(path[i])
			continue
		}
		var v byte
		for _, h := range strings.ToUpper(path[i+1 : i+3]) {
			v = v<<4 | byte(strings.IndexRune("0123456789ABCDEF", h))
		}
		if strings.IndexByte(unreserved, v) >= 0 {
			enc.WriteByte(v)
		} else {
			enc.WriteString("%" + strings.ToUpper(path[i+1:i+3]))
		}
		i += 2
	}
	in, out := enc.String(), ""
	dropLast := func() {
		out = out[:max(strings.LastIndexByte(out, '/'), 0)]
	}
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			dropLast()
		case in == "/..":
			in = "/"
			dropLast()
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := len(in)
			if i := strings.IndexByte(in[start:], '/'); i >= 0 {
				end = start + i
			}
			out += in[:end]
			in = in[end:]
		}
	}
	if out == "" {
		return "/"
	}
	return out
}

var benchSink string

func BenchmarkNormalizeURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = NormalizeURL("https://server.example.com/token")
	}
}

func BenchmarkNormalizeURLChanged(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = NormalizeURL("HTTPS://Server.Example.COM:443/a/../%74oken?x=1")
	}
}
