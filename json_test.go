package dpop

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Tests of the strict JSON reader behind every header, jwk and claims
// object (RFC 8259 §4, §8; RFC 7515 §5.2; X-02 in docs/conformance.md).

// jtValue reads one complete JSON document with the reader's generic
// validator, as an ignored member is read.
func jtValue(doc string) error {
	r := jsonReader{data: []byte(doc)}
	if err := r.skip(); err != nil {
		return err
	}
	return r.end()
}

func jtNestedArrays(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func jtNestedObjects(n int) string {
	return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
}

// jtNestedMixed nests n containers, alternately arrays and objects; the
// innermost one is empty.
func jtNestedMixed(n int) string {
	var b strings.Builder
	closing := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		switch {
		case i%2 == 0:
			b.WriteByte('[')
			closing = append(closing, ']')
		case i == n-1:
			b.WriteString("{}")
		default:
			b.WriteString(`{"a":`)
			closing = append(closing, '}')
		}
	}
	for i := len(closing) - 1; i >= 0; i-- {
		b.WriteByte(closing[i])
	}
	return b.String()
}

// jtObject returns an object with n distinct members.
func jtObject(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m`)
		b.WriteByte(byte('a' + i/26))
		b.WriteByte(byte('a' + i%26))
		b.WriteString(`":`)
		b.WriteByte(byte('0' + i%10))
	}
	b.WriteByte('}')
	return b.String()
}

func TestJSONReaderDocuments(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want error // nil: accepted
	}{
		// Well-formed documents.
		{"empty object", `{}`, nil},
		{"empty array", `[]`, nil},
		{"string", `"x"`, nil},
		{"number", `0`, nil},
		{"nested", `{"a":{"b":{"c":[1,{"d":null}]}}}`, nil},
		{"all value kinds", `{"s":"x","n":-1.5e3,"t":true,"f":false,"z":null,"o":{},"a":[]}`, nil},
		{"white space everywhere", " \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\"b\"\t:\r{ } } \r\n", nil},
		{"escaped string", `"\"\\\/\b\f\n\r\t\u0000\u00e9\ud83d\ude00"`, nil},
		{"DEL in string", "\"a\x7fb\"", nil},
		{"UTF-8 in string", `"héllo 😀"`, nil},
		{"similar names", `{"alg":1,"al":2,"algg":3,"a":4,"aa":5}`, nil},
		{"fold is ASCII letters only: @ and backquote", "{\"@\":1,\"`\":2}", nil},
		{"fold is ASCII letters only: [ and {", `{"[":1,"{":2}`, nil},
		{"Unicode case fold: é and É", `{"é":1,"É":2}`, errJSONDuplicate},
		{"same name in sibling objects", `[{"a":1},{"a":2}]`, nil},
		{"same name at two levels", `{"a":{"a":1}}`, nil},
		{"literals", `[true,false,null]`, nil},

		// Duplicate member names (X-02, Part 4 rows 11, 12).
		{"duplicate", `{"a":1,"a":2}`, errJSONDuplicate},
		{"duplicate after others", `{"a":1,"b":2,"c":3,"a":4}`, errJSONDuplicate},
		{"case variant", `{"a":1,"A":2}`, errJSONDuplicate},
		{"case variant alg", `{"alg":"ES256","ALG":"none"}`, errJSONDuplicate},
		{"mixed case variant", `{"htu":"x","hTu":"y"}`, errJSONDuplicate},
		{"escaped duplicate", `{"al\u0067":"x","alg":"y"}`, errJSONDuplicate},
		{"escaped case variant", `{"alg":"x","\u0041LG":"y"}`, errJSONDuplicate},
		{"duplicate empty name", `{"":1,"":2}`, errJSONDuplicate},
		{"duplicate in nested object", `{"x":{"a":1,"a":2}}`, errJSONDuplicate},
		{"duplicate in array element", `[{"a":1,"a":2}]`, errJSONDuplicate},

		// Invalid UTF-8 (Part 4 row 32).
		{"raw 0xFF", "\"a\xffb\"", errJSONUTF8},
		{"truncated sequence", "\"\xc3\"", errJSONUTF8},
		{"overlong slash", "\"\xc0\xaf\"", errJSONUTF8},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\"", errJSONUTF8},
		{"beyond U+10FFFF", "\"\xf4\x90\x80\x80\"", errJSONUTF8},
		{"raw 0xFF after an escape", "\"\\n\xff\"", errJSONUTF8},
		{"raw lead byte before an escaped rune", "\"\xc3\\u00a9\"", errJSONUTF8},
		{"raw rune after an escape", "\"\\n\xc3\xa9\"", nil},
		{"bad hex digit", `"\u00g9"`, errJSONSyntax},
		{"upper-case hex digits", `"\u00C9\uD83D\uDE00"`, nil},
		{"raw 0xFF in a name", "{\"\xff\":1}", errJSONUTF8},
		{"truncated sequence in a name", "{\"\xc3\":1}", errJSONUTF8},
		{"truncated sequence at the end of a name", "{\"abcdefgh\xe2\x84\":1}", errJSONUTF8},
		{"overlong slash in a name", "{\"\xc0\xaf\":1}", errJSONUTF8},
		{"overlong three bytes in a name", "{\"\xe0\x80\xaf\":1}", errJSONUTF8},
		{"UTF-8 encoded surrogate in a name", "{\"\xed\xa0\x80\":1}", errJSONUTF8},
		{"beyond U+10FFFF in a name", "{\"\xf4\x90\x80\x80\":1}", errJSONUTF8},
		{"continuation byte first in a name", "{\"\x80abc\":1}", errJSONUTF8},
		{"four-byte rune in a name", "{\"\xf0\x9f\x98\x80\":1}", nil},
		{"lone high surrogate", `"\ud800"`, errJSONUTF8},
		{"lone high surrogate then text", `"\ud800abc"`, errJSONUTF8},
		{"lone low surrogate", `"\udc00"`, errJSONUTF8},
		{"reversed pair", `"\udc00\ud800"`, errJSONUTF8},
		{"high then high", `"\ud800\ud800"`, errJSONUTF8},
		{"high then BMP escape", `"\ud800\u0041"`, errJSONUTF8},
		{"high then other escape", `"\ud800\n"`, errJSONUTF8},
		{"lone surrogate in a name", `{"\udfff":1}`, errJSONUTF8},
		{"0xFF outside a string", "[\xff]", errJSONSyntax},

		// Control characters must be escaped.
		{"NUL in string", "\"a\x00b\"", errJSONSyntax},
		{"0x1F in string", "\"\x1f\"", errJSONSyntax},
		{"raw newline", "\"a\nb\"", errJSONSyntax},
		{"raw tab", "\"a\tb\"", errJSONSyntax},
		{"control after an escape", "\"\\t\x01\"", errJSONSyntax},

		// Malformed strings.
		{"unterminated", `"abc`, errJSONSyntax},
		{"unterminated after escape", `"abc\"`, errJSONSyntax},
		{"backslash at end", `"\`, errJSONSyntax},
		{"unknown escape", `"\x41"`, errJSONSyntax},
		{"single quote escape", `"\'"`, errJSONSyntax},
		{"upper-case U escape", `"\U0041"`, errJSONSyntax},
		{"short unicode escape", `"\u12"`, errJSONSyntax},
		{"non-hex unicode escape", `"\u12G4"`, errJSONSyntax},
		{"short low surrogate", `"\ud83d\ude0"`, errJSONSyntax},
		{"single-quoted string", `'a'`, errJSONSyntax},

		// Numbers.
		{"1e308", `1e308`, nil},
		{"-1e308", `-1e308`, nil},
		{"tiny number", `1e-400`, nil},
		{"big integer", `123456789012345678901234567890`, nil},
		{"2^63", `9223372036854775808`, nil},
		// Skipped values are only checked against the grammar: an unknown
		// member holding a huge number is valid JSON.
		{"1e309 skipped", `1e309`, nil},
		{"-1e309 skipped", `-1e309`, nil},
		{"huge exponent skipped", `1e99999999999999999999`, nil},
		{"leading zero", `01`, errJSONSyntax},
		{"negative leading zero", `-01`, errJSONSyntax},
		{"trailing dot", `1.`, errJSONSyntax},
		{"leading dot", `.5`, errJSONSyntax},
		{"lone minus", `-`, errJSONSyntax},
		{"minus dot", `-.5`, errJSONSyntax},
		{"plus sign", `+1`, errJSONSyntax},
		{"double minus", `--1`, errJSONSyntax},
		{"empty exponent", `1e`, errJSONSyntax},
		{"signed empty exponent", `1e+`, errJSONSyntax},
		{"dot before exponent", `1.e5`, errJSONSyntax},
		{"hex", `0x10`, errJSONSyntax},
		{"underscore", `1_000`, errJSONSyntax},
		{"Infinity", `Infinity`, errJSONSyntax},
		{"NaN", `NaN`, errJSONSyntax},
		{"number in member, leading zero", `{"iat":0123}`, errJSONSyntax},

		// Literals.
		{"true", `true`, nil},
		{"false", `false`, nil},
		{"null", `null`, nil},
		{"tru", `tru`, errJSONSyntax},
		{"nul", `nul`, errJSONSyntax},
		{"True", `True`, errJSONSyntax},
		{"NULL", `NULL`, errJSONSyntax},
		{"nulll", `nulll`, errJSONSyntax},
		{"truefalse", `truefalse`, errJSONSyntax},
		{"undefined", `undefined`, errJSONSyntax},

		// Structure and trailing garbage.
		{"empty input", ``, errJSONSyntax},
		{"only white space", " \n\t", errJSONSyntax},
		{"trailing garbage", `{"a":1}x`, errJSONSyntax},
		{"extra brace", `{"a":1}}`, errJSONSyntax},
		{"trailing comma after value", `{"a":1},`, errJSONSyntax},
		{"two documents", `{}{}`, errJSONSyntax},
		{"two numbers", `1 2`, errJSONSyntax},
		{"two strings", `"a""b"`, errJSONSyntax},
		{"trailing comma in object", `{"a":1,}`, errJSONSyntax},
		{"trailing comma in array", `[1,]`, errJSONSyntax},
		{"leading comma in array", `[,1]`, errJSONSyntax},
		{"missing colon", `{"a" 1}`, errJSONSyntax},
		{"missing value", `{"a":}`, errJSONSyntax},
		{"missing name", `{:1}`, errJSONSyntax},
		{"number as name", `{1:1}`, errJSONSyntax},
		{"unquoted name", `{a:1}`, errJSONSyntax},
		{"missing comma in object", `{"a":1 "b":2}`, errJSONSyntax},
		{"missing comma in array", `[1 2]`, errJSONSyntax},
		{"unclosed object", `{"a":1`, errJSONSyntax},
		{"unclosed array", `[1,2`, errJSONSyntax},
		{"mismatched brackets", `[1}`, errJSONSyntax},
		{"form feed is not white space", "\f{}", errJSONSyntax},
		{"vertical tab is not white space", "{}\v", errJSONSyntax},
		{"NBSP is not white space", "\u00a0{}", errJSONSyntax},
		{"byte order mark", "\ufeff{}", errJSONSyntax},
		{"comment", `{} // x`, errJSONSyntax},
		{"NUL after document", "{}\x00", errJSONSyntax},
	}
	for _, tc := range cases {
		err := jtValue(tc.doc)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %q refused: %v", tc.name, tc.doc, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %q: %v, want %v", tc.name, tc.doc, err, tc.want)
		}
	}
}

// Nesting is capped at maxJSONDepth (32) levels, so that skipping an
// ignored member is bounded (Part 4 row 10).
func TestJSONReaderDepth(t *testing.T) {
	if maxJSONDepth != 32 {
		t.Fatalf("maxJSONDepth = %d; this test assumes 32", maxJSONDepth)
	}
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{1, true}, {30, true}, {32, true}, {33, false}, {34, false}, {1000, false}, {100000, false}} {
		for name, doc := range map[string]string{
			"arrays":                 jtNestedArrays(tc.depth),
			"objects":                jtNestedObjects(tc.depth),
			"mixed":                  jtNestedMixed(tc.depth),
			"arrays around a number": strings.Repeat("[", tc.depth) + "1" + strings.Repeat("]", tc.depth),
		} {
			err := jtValue(doc)
			switch {
			case tc.ok && err != nil:
				t.Errorf("%d nested %s refused: %v", tc.depth, name, err)
			case !tc.ok && !errors.Is(err, errJSONDepth):
				t.Errorf("%d nested %s: %v, want errJSONDepth", tc.depth, name, err)
			}
		}
	}
	// Unclosed nesting stops at the cap, without reading on.
	if err := jtValue(strings.Repeat("[", 1<<20)); !errors.Is(err, errJSONDepth) {
		t.Errorf("1 MiB of '[': %v, want errJSONDepth", err)
	}
	// An ignored header member counts from the member's value: the
	// document as a whole is one level deeper.
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{30, true}, {32, true}, {33, false}} {
		r := jsonReader{data: []byte(`{"x":` + jtNestedArrays(tc.depth) + `}`)}
		err := r.object(func([]byte) error { return r.skip() })
		if tc.ok != (err == nil) {
			t.Errorf("member holding %d nested arrays: %v", tc.depth, err)
		}
	}
}

// An object has at most maxJSONMembers (64) members.
func TestJSONReaderMembers(t *testing.T) {
	if maxJSONMembers != 64 {
		t.Fatalf("maxJSONMembers = %d; this test assumes 64", maxJSONMembers)
	}
	if err := jtValue(jtObject(64)); err != nil {
		t.Fatalf("64 members: %v", err)
	}
	if err := jtValue(jtObject(65)); !errors.Is(err, errJSONMembers) {
		t.Fatalf("65 members: %v, want errJSONMembers", err)
	}
	if err := jtValue(`{"x":` + jtObject(65) + `}`); !errors.Is(err, errJSONMembers) {
		t.Fatalf("nested object of 65 members: %v, want errJSONMembers", err)
	}
	// The cap is per object.
	if err := jtValue(`[` + jtObject(64) + `,` + jtObject(64) + `]`); err != nil {
		t.Fatalf("two objects of 64 members: %v", err)
	}
	// Arrays are not capped by count, only by the input size.
	if err := jtValue("[" + strings.Repeat("1,", 1000) + "1]"); err != nil {
		t.Fatalf("array of 1001 numbers: %v", err)
	}
	// The callback sees every member once, with its decoded name.
	var names []string
	r := jsonReader{data: []byte(`{"a":1, "b\u0063" : "x" ,"":null}`)}
	err := r.object(func(name []byte) error {
		names = append(names, string(name))
		return r.skip()
	})
	if err != nil || strings.Join(names, "|") != "a|bc|" {
		t.Fatalf("names %q, %v", names, err)
	}
	// An error from the callback ends the read.
	stop := errors.New("stop")
	calls := 0
	r = jsonReader{data: []byte(`{"a":1,"b":2}`)}
	if err := r.object(func([]byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("callback error: %v after %d calls", err, calls)
	}
}

func TestJSONReaderStrings(t *testing.T) {
	cases := []struct {
		in, want string
		aliases  bool
	}{
		{`""`, "", true},
		{`"abc"`, "abc", true},
		{`"héllo"`, "héllo", true},
		{`"\"\\\/"`, `"\/`, false},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t", false},
		{`"\u0041\u00e9\u20ac"`, "Aé€", false},
		{`"\u0000"`, "\x00", false},
		{`"\ud83d\ude00"`, "😀", false},
		{`"\uD83D\uDE00"`, "😀", false},
		{`"a\u0062c"`, "abc", false},
		{`"\uffff"`, "\uffff", false},
	}
	for _, tc := range cases {
		data := []byte(tc.in + " rest")
		r := jsonReader{data: data}
		got, err := r.strBytes()
		if err != nil || string(got) != tc.want {
			t.Errorf("strBytes(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if r.pos != len(tc.in) {
			t.Errorf("strBytes(%s) stopped at %d, want %d", tc.in, r.pos, len(tc.in))
		}
		// Without escapes the result is a view of the input.
		if len(got) > 0 && tc.aliases != (&got[0] == &data[1]) {
			t.Errorf("strBytes(%s): aliasing = %v, want %v", tc.in, !tc.aliases, tc.aliases)
		}
		r = jsonReader{data: []byte(tc.in)}
		if s, err := r.str(); err != nil || s != tc.want {
			t.Errorf("str(%s) = %q, %v", tc.in, s, err)
		}
	}
	// str needs the opening quote at the current position.
	for _, in := range []string{` "a"`, `a`, ``, `1`} {
		r := jsonReader{data: []byte(in)}
		if _, err := r.str(); !errors.Is(err, errJSONSyntax) {
			t.Errorf("str(%q): %v", in, err)
		}
	}
}

func TestJSONReaderNumbers(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		n    int // bytes consumed
	}{
		{"0", 0, 1},
		{"-0", 0, 2},
		{"7", 7, 1},
		{"-7", -7, 2},
		{"1700000000", 1700000000, 10},
		{"1700000000.5", 1700000000.5, 12},
		{"1.5e3", 1500, 5},
		{"1E-2", 0.01, 4},
		{"2e+2", 200, 4},
		{"999999999999999", 999999999999999, 15},
		{"-99999999999999", -99999999999999, 15},
		{"9007199254740993", 9007199254740992, 16},
		{"9223372036854775808", 9223372036854775808, 19},
		{"1e308", 1e308, 5},
		{"01", 0, 1},
		{"1,", 1, 1},
		{"1}", 1, 1},
		{"12 ", 12, 2},
	}
	for _, tc := range cases {
		r := jsonReader{data: []byte(tc.in)}
		got, err := r.number()
		if err != nil || got != tc.want || r.pos != tc.n {
			t.Errorf("number(%q) = %v, %v, pos %d; want %v, pos %d", tc.in, got, err, r.pos, tc.want, tc.n)
		}
	}
	for _, in := range []string{"", "-", "+1", ".5", "1.", "1e", "1e-", "-a", "1e309", "-1e309", "1.7976931348623159e308", "x"} {
		r := jsonReader{data: []byte(in)}
		if got, err := r.number(); !errors.Is(err, errJSONSyntax) {
			t.Errorf("number(%q) = %v, %v; want errJSONSyntax", in, got, err)
		}
	}
	// The largest finite double is fine; one ULP beyond rounds to Inf.
	r := jsonReader{data: []byte("1.7976931348623157e308")}
	if got, err := r.number(); err != nil || got != math.MaxFloat64 {
		t.Errorf("MaxFloat64: %v, %v", got, err)
	}
	// Long literals are converted when finite: an iat with many fraction
	// digits is still a number.
	long := "1" + strings.Repeat("0", 63)
	r = jsonReader{data: []byte(long + "0")}
	if got, err := r.number(); err != nil || got != 1e64 {
		t.Errorf("65-digit integer: %v, %v", got, err)
	}
	r = jsonReader{data: []byte("1700000000." + strings.Repeat("5", 100))}
	if got, err := r.number(); err != nil || got < 1700000000.5 || got > 1700000000.6 {
		t.Errorf("iat with 100 fraction digits: %v, %v", got, err)
	}
}

func TestJSONReaderArray(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, nil, true},
		{`[ ]`, nil, true},
		{`["a"]`, []string{"a"}, true},
		{`[ "a" , "b\u0063" ]`, []string{"a", "bc"}, true},
		{`["a",1]`, nil, false},
		{`["a",]`, nil, false},
		{`["a" "b"]`, nil, false},
		{`["a"`, nil, false},
		{`"a"`, nil, false},
		{`[null]`, nil, false},
		{`["\ud800"]`, nil, false},
	}
	for _, tc := range cases {
		var got []string
		r := jsonReader{data: []byte(tc.in)}
		err := r.array(func() error {
			s, err := r.str()
			got = append(got, s)
			return err
		})
		if tc.ok != (err == nil) {
			t.Errorf("array(%s): %v", tc.in, err)
			continue
		}
		if tc.ok && strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("array(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
	stop := errors.New("stop")
	r := jsonReader{data: []byte(`["a","b"]`)}
	if err := r.array(func() error { return stop }); err != stop {
		t.Errorf("callback error: %v", err)
	}
}

// TestFoldMin checks the folding table against unicode.SimpleFold for every
// rune: foldMin returns the smallest rune of the rune's orbit.
func TestFoldMin(t *testing.T) {
	bad := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			want = min(want, f)
		}
		if got := foldMin(r); got != want {
			if bad++; bad <= 10 {
				t.Errorf("foldMin(%U) = %U, want %U", r, got, want)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%d runes folded wrongly", bad)
	}
}

// foldNames are names to compare pairwise: case variants in ASCII, with
// KELVIN SIGN, LONG S, the three sigmas, and long names that cross the
// folding buffer and the eight-byte ASCII steps at every offset.
var foldNames = func() []string {
	names := []string{
		"", "a", "A", "b", "@", "`", "[", "{", "^", "~", "_", "\x7f",
		"alg", "ALG", "aLg", "al", "alg ", "htu", "HTU", "hTu",
		"k", "K", "\u212a", "kid", "\u212aid", "KID",
		"s", "S", "\u017f", "sub", "\u017fub", "SUB", "\u017f\u017f", "ss", "SS",
		"\u03a3", "\u03c3", "\u03c2", "x\u03a3y", "x\u03c2y",
		"\u00e9", "\u00c9", "\u1e9e", "\u00df", "\U00010400", "\U00010428",
		"\U0001e900", "\U0001e922", "\u0345", "\u0399", "\u03b9", "\u1fbe",
		"abcdefgh", "ABCDEFGH", "abcdefgi", "ABCDEFG\u212a",
	}
	out := names
	for off := range 9 {
		pad := strings.Repeat("x", off)
		long := strings.Repeat("abcdefghijklmnopqrstuvwxyz", 20)
		out = append(out, pad+long, strings.ToUpper(pad+long), pad+long+"\u017f", pad+long+"S",
			pad+strings.Repeat("\u017f", 150), pad+strings.Repeat("s", 150), pad+strings.Repeat("\u017f", 149)+"t")
	}
	return out
}()

// TestFoldSum checks that two names have the same sum exactly when
// bytes.EqualFold finds them equal.
func TestFoldSum(t *testing.T) {
	for _, a := range foldNames {
		for _, b := range foldNames {
			want := bytes.EqualFold([]byte(a), []byte(b))
			if got := foldSum([]byte(a)) == foldSum([]byte(b)); got != want {
				t.Errorf("foldSum(%q) == foldSum(%q) is %v; EqualFold says %v", a, b, got, want)
			}
		}
	}
}

// FuzzFoldSum checks foldSum against bytes.EqualFold on any two valid
// UTF-8 names.
func FuzzFoldSum(f *testing.F) {
	for i, a := range foldNames {
		f.Add([]byte(a), []byte(foldNames[(i*7+3)%len(foldNames)]))
		f.Add([]byte(a), []byte(strings.ToUpper(a)))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if !utf8.Valid(a) || !utf8.Valid(b) {
			return
		}
		want := bytes.EqualFold(a, b)
		if got := foldSum(a) == foldSum(b); got != want {
			t.Fatalf("foldSum(%q) == foldSum(%q) is %v; EqualFold says %v", a, b, got, want)
		}
	})
}

// FuzzJSONName checks the member-name reader, which scans, validates and
// folds in one pass, against the string reader followed by foldSum.
func FuzzJSONName(f *testing.F) {
	for _, n := range foldNames {
		f.Add([]byte(`"` + n + `":1`))
	}
	for _, s := range []string{`"a\u0041b"`, "\"\x00\"", "\"abcdefgh\x1fijk\"", `"abcdefghij`, "\"\xed\xa0\x80\"", `"abcdefg\"h"`, `"abcdefgh\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r1 := &jsonReader{data: data}
		var fs foldScratch
		name, sum, err1 := r1.name(&fs)
		r2 := &jsonReader{data: data}
		want, err2 := r2.strBytes()
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("name(%q): %v; strBytes: %v", data, err1, err2)
		}
		if err1 != nil {
			return
		}
		if !bytes.Equal(name, want) || r1.pos != r2.pos {
			t.Fatalf("name(%q) = %q at %d; strBytes = %q at %d", data, name, r1.pos, want, r2.pos)
		}
		if s := foldSum(want); s != sum {
			t.Fatalf("name(%q) sum %x, foldSum %x", data, sum, s)
		}
	})
}

// The claims reader applies the same strictness to the claims of a proof:
// duplicates, case variants and invalid UTF-8 are refused (Part 4 rows 11,
// 12, 20, 21, 32).
func TestJSONClaimsStrict(t *testing.T) {
	const ok = `"jti":"j-1","htm":"POST","htu":"https://server.example.com/token","iat":1700000000`
	accept := []string{
		`{` + ok + `}`,
		`{` + ok + `,"nonce":"n","ath":"a","ext":{"x":[1,2,{"y":null}]}}`,
		`{"iat":1700000000.5,"jti":"j","htm":"GET","htu":"https://a/"}`,
		`{"iat":1.7e9,"jti":"j","htm":"GET","htu":"https://a/"}`,
		`{` + ok + `,"Foo":1,"foo2":2}`,
	}
	for _, doc := range accept {
		var c claims
		if err := c.read([]byte(doc)); err != nil {
			t.Errorf("claims %s refused: %v", doc, err)
		}
	}
	var c claims
	if err := c.read([]byte(`{` + ok + `,"nonce":"n\u0031"}`)); err != nil || c.nonce != "n1" || c.htu != "https://server.example.com/token" || c.iat != 1700000000 {
		t.Errorf("claims read as %+v, %v", c, err)
	}

	refuse := []struct {
		name, doc string
		want      error
	}{
		{"duplicate htm", `{` + ok + `,"htm":"GET"}`, ErrInvalidClaims},
		{"case-variant htu", `{` + ok + `,"HTU":"https://evil.example/"}`, ErrInvalidClaims},
		{"escaped duplicate jti", `{` + ok + `,"\u006a\u0074\u0069":"j-2"}`, ErrInvalidClaims},
		{"duplicate inside an extension", `{` + ok + `,"ext":{"a":1,"a":2}}`, ErrInvalidClaims},
		{"invalid UTF-8 in jti", "{\"jti\":\"\xff\",\"htm\":\"POST\",\"htu\":\"https://a/\",\"iat\":1}", ErrInvalidClaims},
		{"lone surrogate in jti", `{"jti":"\udc00","htm":"POST","htu":"https://a/","iat":1}`, ErrInvalidClaims},
		{"iat as string", `{"jti":"j","htm":"POST","htu":"https://a/","iat":"1700000000"}`, ErrInvalidClaims},
		{"iat null", `{"jti":"j","htm":"POST","htu":"https://a/","iat":null}`, ErrInvalidClaims},
		{"iat 1e309", `{"jti":"j","htm":"POST","htu":"https://a/","iat":1e309}`, ErrInvalidClaims},
		{"iat negative", `{"jti":"j","htm":"POST","htu":"https://a/","iat":-1}`, ErrInvalidClaims},
		{"iat 2^63", `{"jti":"j","htm":"POST","htu":"https://a/","iat":9223372036854775808}`, ErrInvalidClaims},
		{"jti a number", `{"jti":1,"htm":"POST","htu":"https://a/","iat":1}`, ErrInvalidClaims},
		{"jti empty", `{"jti":"","htm":"POST","htu":"https://a/","iat":1}`, ErrInvalidClaims},
		{"jti too long", `{"jti":"` + strings.Repeat("j", MaxJTILength+1) + `","htm":"POST","htu":"https://a/","iat":1}`, ErrInvalidClaims},
		{"deep extension", `{` + ok + `,"ext":` + jtNestedArrays(100) + `}`, ErrInvalidClaims},
		{"too many members", jtObject(65), ErrInvalidClaims},
		{"trailing garbage", `{` + ok + `}x`, ErrInvalidClaims},
		{"not an object", `[` + ok + `]`, ErrInvalidClaims},
		{"missing jti", `{"htm":"POST","htu":"https://a/","iat":1}`, ErrMissingClaim},
		{"missing iat", `{"jti":"j","htm":"POST","htu":"https://a/"}`, ErrMissingClaim},
	}
	for _, tc := range refuse {
		var c claims
		err := c.read([]byte(tc.doc))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if ErrorCode(err) != CodeInvalidProof {
			t.Errorf("%s: code %q, want %q", tc.name, ErrorCode(err), CodeInvalidProof)
		}
	}
}

// BenchmarkClaimsRead measures the claims reader on the claims of a typical
// resource request proof.
func BenchmarkClaimsRead(b *testing.B) {
	data := []byte(`{"jti":"mAl2QFrkjvHz8yd5VwlUiA","htm":"GET","htu":"https://resource.example.org/protectedresource","iat":1700000000,"nonce":"eyJ7S_zG.eyJH0-Z.HX4w-7v","ath":"fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c claims
		if err := c.read(data); err != nil {
			b.Fatal(err)
		}
	}
}
