package dpop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict, allocation-light reader for the small JSON objects of a proof:
// the JOSE header, its jwk, and the claims. encoding/json is not used on the
// verification path because it matches member names case-insensitively,
// keeps the last of duplicate members and replaces invalid UTF-8 with U+FFFD
// (RFC 8259 §4, §8.1, §8.3; RFC 7515 §5.2). This reader rejects all three
// (X-02 in docs/conformance.md).

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
// skip). Two names equal under Unicode simple case folding, as
// bytes.EqualFold and encoding/json match them, are refused: "htu" and
// "HTU", or "sub" and "\u017fub", in one object. Each name is folded and
// hashed once, so the check costs time linear in the names' length
// whatever they hold; only names with equal hashes are compared.
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
	var sums [maxJSONMembers]uint64
	// slots is a hash table of the names read so far, by sum: index+1 of
	// the name, 0 for an empty slot. At most half full, so a probe ends
	// after a few slots, and no name is compared with every other.
	var slots [2 * maxJSONMembers]uint8
	var fs foldScratch
	const slotMask = len(slots) - 1
	n := 0
	for {
		r.skipSpace()
		name, sum, err := r.name(&fs)
		if err != nil {
			return err
		}
		if n == maxJSONMembers {
			return errJSONMembers
		}
		// Unicode simple folding, as encoding/json matches names: "ſub"
		// (U+017F) is a duplicate of "sub" for any later reader. Equal
		// names have equal sums; unequal ones collide only by chance, as
		// the hash is seeded with a secret.
		j := int(sum) & slotMask
		for ; slots[j] != 0; j = (j + 1) & slotMask {
			if i := slots[j] - 1; sums[i] == sum && bytes.EqualFold(names[i], name) {
				return errJSONDuplicate
			}
		}
		slots[j] = uint8(n + 1)
		names[n], sums[n] = name, sum
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
		if end, err := r.afterValue('}'); end || err != nil {
			return err
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
			return r.strEscaped(start, ascii)
		case c < 0x20:
			return nil, errJSONSyntax
		case c >= 0x80:
			ascii = false
		}
		r.pos++
	}
	return nil, errJSONSyntax
}

// strEscaped decodes a string with escapes from start, its first byte; the
// first backslash is at r.pos, and ascii says whether the bytes before it
// are ASCII.
func (r *jsonReader) strEscaped(start int, ascii bool) ([]byte, error) {
	// The decoded string is no longer than the encoded one, whose end is
	// the first quote not escaped: one allocation of that size suffices.
	end := r.pos
	for end < len(r.data) && r.data[end] != '"' {
		if r.data[end] == '\\' {
			end++
		}
		end++
	}
	out := make([]byte, 0, min(end, len(r.data))-start)
	out = append(out, r.data[start:r.pos]...)
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		switch {
		case c == '"':
			r.pos++
			// Escapes decode to valid UTF-8 (lone surrogates are
			// refused), so only raw bytes outside ASCII, alone or next
			// to an escaped rune, can make the result invalid.
			if !ascii && !utf8.Valid(out) {
				return nil, errJSONUTF8
			}
			return out, nil
		case c < 0x20:
			return nil, errJSONSyntax
		case c != '\\':
			if c >= utf8.RuneSelf {
				ascii = false
			}
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
	h := r.data[r.pos : r.pos+4]
	a, b, c, d := hexDigits[h[0]], hexDigits[h[1]], hexDigits[h[2]], hexDigits[h[3]]
	if a|b|c|d > 0xf {
		return 0, false
	}
	r.pos += 4
	return uint16(a)<<12 | uint16(b)<<8 | uint16(c)<<4 | uint16(d), true
}

// hexDigits maps a hexadecimal digit to its value and any other byte to 0xff.
var hexDigits = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 10 {
		t['0'+i] = uint8(i)
	}
	for i := range 6 {
		t['a'+i] = uint8(10 + i)
		t['A'+i] = uint8(10 + i)
	}
	return t
}()

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
		if end, err := r.afterValue(']'); end || err != nil {
			return err
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

// foldSeed keys foldSum. It is drawn when the process starts, so a sender
// cannot choose names whose sums collide.
var foldSeed = maphash.MakeSeed()

// foldSum returns a hash of name that is equal for two names exactly when
// bytes.EqualFold reports them equal (or by a chance collision): each rune
// is replaced by the smallest rune of its simple case-folding orbit, and
// the hash taken over those runes. name must be valid UTF-8.
func foldSum(name []byte) uint64 {
	var fs foldScratch
	_, sum, _ := fs.scan(name, 0, false)
	return sum
}

// foldScratch is the working memory of scan, kept by the caller so
// that the names of one object share it.
type foldScratch struct {
	// h takes the folded runes when they overflow buf; a name that fits
	// is hashed in one call.
	h maphash.Hash
	// buf holds the folded runes: an ASCII rune as its byte, any other as
	// three bytes of seven bits each with the top bit set, so that the
	// encoding is one-to-one.
	buf [256]byte
}

// errJSONEscape is foldScratch.scan's word for a backslash in a quoted name.
var errJSONEscape = errors.New("escape in JSON name")

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// swarZero reports whether a word of ASCII bytes has a zero byte.
func swarZero(w uint64) bool { return (w-swarOnes)&^w&swarHigh != 0 }

// scan folds and hashes the bytes of d from i on, as foldSum describes.
// With quoted, it stops at the first '"' and returns its index; a
// backslash returns errJSONEscape, a control character errJSONSyntax, and
// the end of d without a quote errJSONSyntax. Without quoted, it reads all
// of d. Either way invalid UTF-8 returns errJSONUTF8. It reads ASCII eight
// bytes at a time and costs time linear in the bytes read, so that the
// names of an object are checked for duplicates in one pass over them.
func (fs *foldScratch) scan(d []byte, i int, quoted bool) (end int, sum uint64, err error) {
	h, buf := &fs.h, &fs.buf
	long := false
	k := 0
	// The folding table, loaded at the first rune outside ASCII, and the
	// last rune folded.
	var idx []uint8
	var pages [][256]rune
	lastIn, lastOut := rune(-1), rune(-1)
	for {
		if k > len(buf)-8 {
			if !long {
				h.SetSeed(foldSeed)
				long = true
			}
			h.Write(buf[:k])
			k = 0
		}
		if i >= len(d) {
			if quoted {
				return i, 0, errJSONSyntax
			}
			break
		}
		c := d[i]
		if c < utf8.RuneSelf {
			if i+8 <= len(d) {
				w := binary.LittleEndian.Uint64(d[i:])
				if w&swarHigh == 0 && (!quoted ||
					(w-0x20*swarOnes)&^w&swarHigh == 0 && !swarZero(w^('"'*swarOnes)) && !swarZero(w^('\\'*swarOnes))) {
					// The top bit of each byte of m is set where the
					// byte is in 'a'..'z': b+0x1f reaches 0x80 from 'a'
					// on, b+0x05 from '{' on, and no byte carries into
					// the next.
					m := (w + 0x1f1f1f1f1f1f1f1f) &^ (w + 0x0505050505050505) & swarHigh
					binary.LittleEndian.PutUint64(buf[k:], w-m>>2)
					k += 8
					i += 8
					continue
				}
			}
			if quoted {
				switch {
				case c == '"':
					end = i
					goto done
				case c == '\\':
					return i, 0, errJSONEscape
				case c < 0x20:
					return i, 0, errJSONSyntax
				}
			}
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			buf[k] = c
			k++
			i++
			continue
		}
		if idx == nil {
			foldTable.once.Do(buildFoldTable)
			idx, pages = foldTable.index, foldTable.pages
		}
		// Decode and validate one rune: two- and three-byte forms here,
		// four-byte ones (rare in names) by the standard library.
		var r rune
		switch {
		case c >= 0xc2 && c <= 0xdf && i+1 < len(d) && d[i+1]&0xc0 == 0x80:
			r = rune(c&0x1f)<<6 | rune(d[i+1]&0x3f)
			i += 2
		case c&0xf0 == 0xe0 && i+2 < len(d) && d[i+1]&0xc0 == 0x80 && d[i+2]&0xc0 == 0x80:
			r = rune(c&0x0f)<<12 | rune(d[i+1]&0x3f)<<6 | rune(d[i+2]&0x3f)
			if r < 0x800 || r >= 0xd800 && r <= 0xdfff {
				return i, 0, errJSONUTF8 // overlong, or a surrogate
			}
			i += 3
		default:
			var size int
			r, size = utf8.DecodeRune(d[i:])
			if size < 4 {
				return i, 0, errJSONUTF8
			}
			i += size
		}
		if r == lastIn {
			r = lastOut
		} else {
			lastIn = r
			if hi := int(r >> 8); hi < len(idx) {
				if p := idx[hi]; p != 0 {
					r = pages[p-1][r&0xff]
				}
			}
			lastOut = r
		}
		if r < utf8.RuneSelf {
			buf[k] = byte(r)
			k++
		} else {
			binary.LittleEndian.PutUint32(buf[k:], uint32(0x80|r>>14&0x7f)|uint32(0x80|r>>7&0x7f)<<8|uint32(0x80|r&0x7f)<<16)
			k += 3
		}
	}
	end = i
done:
	if !long {
		return end, maphash.Bytes(foldSeed, buf[:k]), nil
	}
	h.Write(buf[:k])
	return end, h.Sum64(), nil
}

// name reads a member name and returns its decoded bytes, which alias the
// input when it has no escapes, and its fold sum.
func (r *jsonReader) name(fs *foldScratch) ([]byte, uint64, error) {
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, 0, errJSONSyntax
	}
	start := r.pos + 1
	end, sum, err := fs.scan(r.data, start, true)
	switch err {
	case nil:
		r.pos = end + 1
		return r.data[start:end], sum, nil
	case errJSONEscape:
		name, err := r.strBytes()
		if err != nil {
			return nil, 0, err
		}
		_, sum, _ := fs.scan(name, 0, false)
		return name, sum, nil
	}
	return nil, 0, err
}

// foldTable maps a rune to the smallest rune of its orbit under
// unicode.SimpleFold, in pages of 256 runes; runes of a page that is not
// listed are their orbit's smallest. It is built from unicode.CaseRanges on
// first use (about 26 KiB), so that folding a rune is two loads rather than
// several binary searches.
var foldTable struct {
	once  sync.Once
	index []uint8 // page index + 1 for each r>>8; 0 means no page
	pages [][256]rune
}

func buildFoldTable() {
	set := func(r, m rune) {
		hi := int(r >> 8)
		if hi >= len(foldTable.index) {
			foldTable.index = append(foldTable.index, make([]uint8, hi+1-len(foldTable.index))...)
		}
		p := foldTable.index[hi]
		if p == 0 {
			var page [256]rune
			for j := range page {
				page[j] = rune(hi<<8 | j)
			}
			foldTable.pages = append(foldTable.pages, page)
			p = uint8(len(foldTable.pages))
			foldTable.index[hi] = p
		}
		foldTable.pages[p-1][r&0xff] = m
	}
	for _, cr := range unicode.CaseRanges {
		for r := rune(cr.Lo); r <= rune(cr.Hi); r++ {
			m := r
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				m = min(m, f)
			}
			if m != r {
				set(r, m)
			}
		}
	}
}

// foldMin returns the smallest rune that bytes.EqualFold finds equal to r.
func foldMin(r rune) rune {
	foldTable.once.Do(buildFoldTable)
	if hi := int(r >> 8); hi < len(foldTable.index) {
		if p := foldTable.index[hi]; p != 0 {
			return foldTable.pages[p-1][r&0xff]
		}
	}
	return r
}

// afterValue reads what follows a member or element: a comma (end false)
// or the closing byte of the object or array (end true).
func (r *jsonReader) afterValue(closing byte) (end bool, err error) {
	r.skipSpace()
	if r.pos >= len(r.data) {
		return false, errJSONSyntax
	}
	switch r.data[r.pos] {
	case ',':
		r.pos++
		return false, nil
	case closing:
		r.pos++
		return true, nil
	}
	return false, errJSONSyntax
}
