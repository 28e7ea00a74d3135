package dpop

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict, allocation-light reader for the small JSON objects of a proof:
// the JOSE header, its jwk, and the claims. encoding/json is not used on the
// verification path because it matches member names case-insensitively,
// keeps the last of duplicate members and replaces invalid UTF-8 with U+FFFD
// (checklist Part 4 rows 11, 12, 32). This reader rejects all three.

const (
	maxJSONDepth   = 32 // nesting of ignored members
	maxJSONMembers = 64 // members of one object
)

var (
	errJSONSyntax    = errors.New("invalid JSON")
	errJSONDuplicate = errors.New("duplicate or case-variant member name")
	errJSONUTF8      = errors.New("invalid UTF-8 in JSON string")
	errJSONDepth     = errors.New("JSON nested too deeply")
	errJSONMembers   = errors.New("too many JSON members")
)

type jsonReader struct {
	data []byte
	pos  int
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (r *jsonReader) skipSpace() {
	for r.pos < len(r.data) && isJSONSpace(r.data[r.pos]) {
		r.pos++
	}
}

// end reports an error unless only white space remains.
func (r *jsonReader) end() error {
	r.skipSpace()
	if r.pos != len(r.data) {
		return errJSONSyntax
	}
	return nil
}

// object reads an object, calling member for each member with its decoded
// name; member must consume the value (with one of the value readers or
// skip). Names are compared for duplicates with ASCII case folding, so
// "htu" and "HTU" in one object are refused.
func (r *jsonReader) object(member func(name []byte) error) error {
	r.skipSpace()
	if r.pos >= len(r.data) || r.data[r.pos] != '{' {
		return errJSONSyntax
	}
	r.pos++
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return nil
	}
	var names [maxJSONMembers][]byte
	n := 0
	for {
		r.skipSpace()
		name, err := r.strBytes()
		if err != nil {
			return err
		}
		if n == maxJSONMembers {
			return errJSONMembers
		}
		// Unicode simple folding, as encoding/json matches names: "ſub"
		// (U+017F) is a duplicate of "sub" for any later reader.
		for _, prev := range names[:n] {
			if bytes.EqualFold(prev, name) {
				return errJSONDuplicate
			}
		}
		names[n] = name
		n++
		r.skipSpace()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return errJSONSyntax
		}
		r.pos++
		r.skipSpace()
		if err := member(name); err != nil {
			return err
		}
		r.skipSpace()
		if r.pos >= len(r.data) {
			return errJSONSyntax
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// str reads a string value. Without escapes the result shares no memory
// with the input but costs one allocation; with escapes it is decoded.
// Invalid UTF-8 and lone surrogates are refused.
func (r *jsonReader) str() (string, error) {
	b, err := r.strBytes()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// strBytes reads a string and returns its decoded bytes; the slice aliases
// the input when the string has no escapes.
func (r *jsonReader) strBytes() ([]byte, error) {
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, errJSONSyntax
	}
	r.pos++
	start := r.pos
	ascii := true
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			s := r.data[start:r.pos]
			r.pos++
			if !ascii && !utf8.Valid(s) {
				return nil, errJSONUTF8
			}
			return s, nil
		case c == '\\':
			return r.strEscaped(start)
		case c < 0x20:
			return nil, errJSONSyntax
		case c >= 0x80:
			ascii = false
		}
		r.pos++
	}
	return nil, errJSONSyntax
}

func (r *jsonReader) strEscaped(start int) ([]byte, error) {
	out := make([]byte, 0, r.pos-start+16)
	out = append(out, r.data[start:r.pos]...)
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			r.pos++
			if !utf8.Valid(out) {
				return nil, errJSONUTF8
			}
			return out, nil
		case c < 0x20:
			return nil, errJSONSyntax
		case c != '\\':
			out = append(out, c)
			r.pos++
			continue
		}
		r.pos++
		if r.pos >= len(r.data) {
			return nil, errJSONSyntax
		}
		e := r.data[r.pos]
		r.pos++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return nil, errJSONSyntax
			}
			ch := rune(c1)
			if utf16.IsSurrogate(ch) {
				// Only a high surrogate followed by an escaped low surrogate
				// is a character.
				if c1 >= 0xDC00 || r.pos+1 >= len(r.data) || r.data[r.pos] != '\\' || r.data[r.pos+1] != 'u' {
					return nil, errJSONUTF8
				}
				r.pos += 2
				c2, ok := r.hex4()
				if !ok {
					return nil, errJSONSyntax
				}
				ch = utf16.DecodeRune(ch, rune(c2))
				if ch == utf8.RuneError {
					return nil, errJSONUTF8
				}
			}
			out = utf8.AppendRune(out, ch)
		default:
			return nil, errJSONSyntax
		}
	}
	return nil, errJSONSyntax
}

func (r *jsonReader) hex4() (uint16, bool) {
	if r.pos+4 > len(r.data) {
		return 0, false
	}
	var v uint16
	for _, c := range r.data[r.pos : r.pos+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	r.pos += 4
	return v, true
}

// number reads a JSON number (RFC 8259 grammar) and returns it as a float64.
// Integers of up to 15 digits take a fast path. Values that overflow a
// float64 are refused.
func (r *jsonReader) number() (float64, error) {
	start := r.pos
	integer, err := r.scanNumber()
	if err != nil {
		return 0, err
	}
	lit := r.data[start:r.pos]
	if integer && len(lit) <= 15 {
		neg := lit[0] == '-'
		if neg {
			lit = lit[1:]
		}
		var v int64
		for _, c := range lit {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return float64(v), nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errJSONSyntax
	}
	return f, nil
}

// scanNumber checks the grammar of a number and moves past it, reporting
// whether it is an integer. Skipped members use it alone, so an unknown
// claim such as 1e400 is valid JSON and does not sink a proof.
func (r *jsonReader) scanNumber() (integer bool, err error) {
	d := r.data
	i := r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return false, errJSONSyntax
	}
	integer = true
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return false, errJSONSyntax
	}
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return false, errJSONSyntax
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return false, errJSONSyntax
		}
	}
	r.pos = i
	return integer, nil
}

// array reads an array, calling each to consume every element.
func (r *jsonReader) array(each func() error) error {
	if r.pos >= len(r.data) || r.data[r.pos] != '[' {
		return errJSONSyntax
	}
	r.pos++
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return nil
	}
	for {
		r.skipSpace()
		if err := each(); err != nil {
			return err
		}
		r.skipSpace()
		if r.pos >= len(r.data) {
			return errJSONSyntax
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// skip validates and skips any value. Nesting is capped at maxJSONDepth, so
// the recursion is bounded. Objects inside ignored values
// are checked for duplicate names too, so the whole document is strict.
func (r *jsonReader) skip() error {
	return r.skipDepth(0)
}

func (r *jsonReader) skipDepth(depth int) error {
	r.skipSpace()
	if r.pos >= len(r.data) {
		return errJSONSyntax
	}
	switch c := r.data[r.pos]; {
	case (c == '{' || c == '[') && depth >= maxJSONDepth:
		return errJSONDepth
	case c == '"':
		_, err := r.strBytes()
		return err
	case c == '{':
		return r.object(func([]byte) error { return r.skipDepth(depth + 1) })
	case c == '[':
		return r.array(func() error { return r.skipDepth(depth + 1) })
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := r.scanNumber()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	default:
		return errJSONSyntax
	}
}

func (r *jsonReader) literal(lit string) error {
	if len(r.data)-r.pos < len(lit) || string(r.data[r.pos:r.pos+len(lit)]) != lit {
		return errJSONSyntax
	}
	r.pos += len(lit)
	return nil
}

// peek returns the next non-space byte without consuming it, or 0.
func (r *jsonReader) peek() byte {
	r.skipSpace()
	if r.pos >= len(r.data) {
		return 0
	}
	return r.data[r.pos]
}
