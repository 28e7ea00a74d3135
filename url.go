package dpop

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/dpopkit/dpop/internal/syntax"
)

// ErrInvalidURL is returned (wrapped) by NormalizeURL for input that is not an absolute http(s) URI.
var ErrInvalidURL = errors.New("dpop: not an absolute http or https URI")

// maxURLLength is the longest input NormalizeURL accepts, in bytes.
const maxURLLength = 8192

// The errors of NormalizeURL. Each reason is fixed text: none repeats any
// part of the input, so they are safe to show to a client. They are built
// once so that rejecting input does not allocate.
var (
	errURLTooLong     = fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, maxURLLength)
	errURLNoScheme    = fmt.Errorf("%w: no scheme", ErrInvalidURL)
	errURLScheme      = fmt.Errorf("%w: scheme is not http or https", ErrInvalidURL)
	errURLNoAuthority = fmt.Errorf("%w: no authority", ErrInvalidURL)
	errURLUserinfo    = fmt.Errorf("%w: userinfo is not allowed", ErrInvalidURL)
	errURLEmptyHost   = fmt.Errorf("%w: empty host", ErrInvalidURL)
	errURLHost        = fmt.Errorf("%w: invalid character in host", ErrInvalidURL)
	errURLIPv6        = fmt.Errorf("%w: invalid IPv6 literal", ErrInvalidURL)
	errURLPort        = fmt.Errorf("%w: invalid port", ErrInvalidURL)
	errURLPath        = fmt.Errorf("%w: invalid character in path", ErrInvalidURL)
	errURLPercent     = fmt.Errorf("%w: invalid percent-encoding", ErrInvalidURL)
	errURLJoinPath    = fmt.Errorf("%w: path does not start with a slash", ErrInvalidURL)
)

// Character classes of RFC 3986 §2.
const (
	classUnreserved = 1 << iota // ALPHA / DIGIT / "-" / "." / "_" / "~"
	classSubDelim               // "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
	classPathExtra              // ":" / "@", allowed in a path segment besides the above
	classHex                    // HEXDIG, either case
	classUpper                  // "A"-"Z"
)

// urlClass maps each byte to its character classes.
var urlClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= classUnreserved
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= classUnreserved | classUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= classUnreserved | classHex
	}
	for _, c := range "-._~" {
		t[c] |= classUnreserved
	}
	for _, c := range "!$&'()*+,;=" {
		t[c] |= classSubDelim
	}
	t[':'] |= classPathExtra
	t['@'] |= classPathExtra
	for _, c := range "abcdefABCDEF" {
		t[c] |= classHex
	}
	return t
}()

// urlParts is the result of the validating scan of NormalizeURL.
type urlParts struct {
	https bool
	host  string     // reg-name or IPv4 address, as written; empty for IPv6
	ip    netip.Addr // IPv6 literal; valid only when host is empty
	port  uint16     // non-default port to print; 0 for none
	path  string     // as written, possibly empty
	end   int        // offset of the query or fragment, or len(raw)
	dirty bool       // the part before end is not in normal form
}

// NormalizeURL returns the normal form of an absolute http or https URI,
// following RFC 3986 §6.2.2 (syntax-based) and §6.2.3 (scheme-based) normalisation,
// with any query and fragment removed (RFC 9449 §4.2 / §4.3 check 9).
//
// The normal form has a lowercase scheme and host, no default or empty port,
// a port without leading zeros, a non-empty path with uppercase
// percent-encodings, unreserved characters decoded and dot segments removed,
// and IPv6 literals in the RFC 5952 text form. The case of the rest of the
// path, a trailing slash and an encoded slash (%2F) are kept. Userinfo,
// percent-encoded hosts, IPv6 zones and characters that RFC 3986 does not
// allow are rejected rather than repaired. When raw is already in normal
// form, the result is raw itself and nothing is allocated.
func NormalizeURL(raw string) (string, error) {
	var p urlParts
	if err := scanURL(raw, &p); err != nil {
		return "", err
	}
	if !p.dirty {
		return raw[:p.end], nil
	}
	return p.build(), nil
}

// JoinURL returns the normalised URI of a request for path (the request's
// escaped path, e.g. r.URL.EscapedPath()) against base, an absolute
// http(s) URI whose own path is a prefix (e.g. "https://api.example.com"
// or "https://example.com/api/"): the URI a proof's htu is compared with
// behind a proxy (RFC 9449 §4.3 check 9). The result has no query or
// fragment.
//
// The result is NormalizeURL of the normalised base without its trailing
// slash followed by path, so dot segments in path are resolved against the
// whole URI. An empty path gives the normalised base. A path that does not
// start with "/" is an error; a query or fragment in path is removed.
func JoinURL(base, path string) (string, error) {
	nb, err := NormalizeURL(base)
	if err != nil {
		return "", err
	}
	if path == "" {
		return nb, nil
	}
	if path[0] != '/' {
		return "", errURLJoinPath
	}
	if nb[len(nb)-1] == '/' {
		nb = nb[:len(nb)-1]
	}
	return NormalizeURL(nb + path)
}

// scanURL validates raw and fills p. It never allocates.
func scanURL(raw string, p *urlParts) error {
	if len(raw) > maxURLLength {
		return errURLTooLong
	}
	p.end = len(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] == '?' || raw[i] == '#' {
			p.end = i
			break
		}
	}
	u := raw[:p.end]

	// scheme ":" "//"
	colon := -1
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c == ':' {
			colon = i
			break
		}
		if !isSchemeChar(c, i == 0) {
			break
		}
	}
	if colon <= 0 {
		return errURLNoScheme
	}
	switch {
	case syntax.EqualFoldASCII(u[:colon], "https"):
		p.https = true
	case syntax.EqualFoldASCII(u[:colon], "http"):
	default:
		return errURLScheme
	}
	for i := 0; i < colon; i++ {
		if urlClass[u[i]]&classUpper != 0 {
			p.dirty = true
			break
		}
	}
	rest := u[colon+1:]
	if len(rest) < 2 || rest[0] != '/' || rest[1] != '/' {
		return errURLNoAuthority
	}
	rest = rest[2:]

	// authority
	authEnd := len(rest)
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			authEnd = i
			break
		}
	}
	if err := p.scanAuthority(rest[:authEnd]); err != nil {
		return err
	}

	// path-abempty
	p.path = rest[authEnd:]
	return p.scanPath()
}

// scanAuthority validates the authority component (RFC 3986 §3.2).
func (p *urlParts) scanAuthority(auth string) error {
	var portText string
	hasPort := false
	if len(auth) > 0 && auth[0] == '[' {
		closing := -1
		for i := 1; i < len(auth); i++ {
			if auth[i] == ']' {
				closing = i
				break
			}
		}
		if closing < 0 {
			return errURLIPv6
		}
		lit := auth[1:closing]
		ip, err := netip.ParseAddr(lit)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return errURLIPv6
		}
		var buf [64]byte
		if string(ip.AppendTo(buf[:0])) != lit {
			p.dirty = true
		}
		p.ip = ip
		after := auth[closing+1:]
		if len(after) > 0 {
			if after[0] != ':' {
				return errURLHost
			}
			hasPort, portText = true, after[1:]
		}
	} else {
		hostEnd := len(auth)
		for i := 0; i < len(auth); i++ {
			c := auth[i]
			if c == ':' {
				hostEnd = i
				hasPort, portText = true, auth[i+1:]
				break
			}
			cl := urlClass[c]
			switch {
			case cl&classUpper != 0:
				p.dirty = true
			case cl&(classUnreserved|classSubDelim) != 0:
			case c == '@':
				return errURLUserinfo
			default:
				return errURLHost
			}
		}
		if hostEnd == 0 {
			return errURLEmptyHost
		}
		p.host = auth[:hostEnd]
	}
	if !hasPort {
		return nil
	}
	if portText == "" {
		p.dirty = true
		return nil
	}
	port := 0
	for i := 0; i < len(portText); i++ {
		c := portText[i]
		if c < '0' || c > '9' {
			for j := i; j < len(portText); j++ {
				if portText[j] == '@' {
					return errURLUserinfo
				}
			}
			return errURLPort
		}
		port = port*10 + int(c-'0')
		if port > 65535 {
			return errURLPort
		}
	}
	if port == 0 {
		return errURLPort
	}
	isDefault := port == 443 && p.https || port == 80 && !p.https
	if isDefault || portText[0] == '0' {
		p.dirty = true
	}
	if !isDefault {
		p.port = uint16(port)
	}
	return nil
}

// scanPath validates p.path (RFC 3986 §3.3 path-abempty) and notes whether it
// needs normalising.
func (p *urlParts) scanPath() error {
	path := p.path
	if path == "" {
		p.dirty = true
		return nil
	}
	segStart := 0
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			if isDotSegment(path[segStart:i]) {
				p.dirty = true
			}
			segStart = i + 1
		case c == '%':
			if i+2 >= len(path) {
				return errURLPercent
			}
			h, l := path[i+1], path[i+2]
			if urlClass[h]&classHex == 0 || urlClass[l]&classHex == 0 {
				return errURLPercent
			}
			if h >= 'a' || l >= 'a' || urlClass[unhex(h)<<4|unhex(l)]&classUnreserved != 0 {
				p.dirty = true
			}
			i += 2
		case urlClass[c]&(classUnreserved|classSubDelim|classPathExtra) != 0:
		default:
			return errURLPath
		}
	}
	if isDotSegment(path[segStart:]) {
		p.dirty = true
	}
	return nil
}

// build returns the normal form of a URI that scanURL accepted.
func (p *urlParts) build() string {
	var stack [512]byte
	b := stack[:0]
	if p.https {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	if p.host == "" {
		b = append(b, '[')
		b = p.ip.AppendTo(b)
		b = append(b, ']')
	} else {
		for i := 0; i < len(p.host); i++ {
			c := p.host[i]
			if urlClass[c]&classUpper != 0 {
				c |= 0x20
			}
			b = append(b, c)
		}
	}
	if p.port != 0 {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(p.port), 10)
	}
	b = appendNormalPath(b, p.path)
	return string(b)
}

// appendNormalPath appends to b the normal form of path, a path-abempty that
// scanPath accepted: percent-encodings uppercased, unreserved characters
// decoded and dot segments removed. It gives the same result as the
// remove_dot_segments algorithm of RFC 3986 §5.2.4, which for a path that
// starts with "/" drops each "." segment, drops each ".." segment with the
// segment before it, and leaves a trailing "/" when the last segment is one
// of those.
func appendNormalPath(b []byte, path string) []byte {
	start := len(b)
	for len(path) > 0 {
		// path starts with "/"; take one segment.
		seg := path[1:]
		last := true
		for i := 0; i < len(seg); i++ {
			if seg[i] == '/' {
				seg, last = seg[:i], false
				break
			}
		}
		path = path[1+len(seg):]

		segStart := len(b)
		b = append(b, '/')
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if c != '%' {
				b = append(b, c)
				continue
			}
			v := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			i += 2
			if urlClass[v]&classUnreserved != 0 {
				b = append(b, v)
				continue
			}
			b = append(b, '%', upperHex[v>>4], upperHex[v&0xf])
		}

		switch string(b[segStart+1:]) {
		case ".":
			b = b[:segStart]
		case "..":
			b = b[:segStart]
			for len(b) > start {
				c := b[len(b)-1]
				b = b[:len(b)-1]
				if c == '/' {
					break
				}
			}
		default:
			continue
		}
		if last {
			b = append(b, '/')
		}
	}
	if len(b) == start {
		b = append(b, '/')
	}
	return b
}

const upperHex = "0123456789ABCDEF"

// isSchemeChar reports whether c may appear in a scheme (RFC 3986 §3.1), as
// its first character when first is true.
func isSchemeChar(c byte, first bool) bool {
	if c|0x20 >= 'a' && c|0x20 <= 'z' {
		return true
	}
	return !first && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
}

func isDotSegment(seg string) bool {
	return seg == "." || seg == ".."
}

// unhex returns the value of the hex digit c, which must be one.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
