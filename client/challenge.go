package client

import (
	"errors"
	"net/http"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
)

// Challenge is one authentication challenge of a WWW-Authenticate field
// (RFC 9110 §11.6.1): a scheme with either a token68 or a list of
// parameters.
type Challenge struct {
	// Scheme is the auth-scheme as sent; compare it without regard to
	// ASCII case (RFC 9110 §11.1).
	Scheme string
	// Token68 is the token68 form of the credentials, if the challenge
	// used it instead of parameters.
	Token68 string
	// Params maps lower-cased parameter names to their values, with quoted
	// strings unquoted. When a name occurs more than once, the first value
	// is kept.
	Params map[string]string
}

// Param returns the value of the named parameter (matched without regard to
// case), or "".
func (c Challenge) Param(name string) string {
	return c.Params[strings.ToLower(name)]
}

// Algorithms returns the algorithms of the algs parameter of a DPoP
// challenge (RFC 9449 §7.1), in the server's order. Names this package does
// not implement are skipped.
func (c Challenge) Algorithms() []dpop.Algorithm {
	var out []dpop.Algorithm
	for _, f := range strings.Fields(c.Param("algs")) {
		if a := dpop.Algorithm(f); a.Supported() {
			out = append(out, a)
		}
	}
	return out
}

// ErrMalformedChallenge is returned by [ParseChallenges] for a field value
// that does not follow the RFC 9110 challenge syntax.
var ErrMalformedChallenge = errors.New("dpop/client: malformed WWW-Authenticate challenge")

// ParseChallenges parses one WWW-Authenticate field value, which may hold
// several comma-separated challenges, each with a token68 or with
// parameters whose values are tokens or quoted strings (with backslash
// escapes). Unknown parameters are kept in Params and can be ignored
// (RFC 9449 §7.1). On a syntax error it returns the challenges read before
// the error together with an error wrapping [ErrMalformedChallenge].
func ParseChallenges(field string) ([]Challenge, error) {
	p := challengeParser{s: field}
	var out []Challenge
	for {
		p.skipListSeparators()
		if p.done() {
			return out, nil
		}
		scheme := p.token()
		if scheme == "" {
			return out, p.fail("expected an auth-scheme")
		}
		c := Challenge{Scheme: scheme}
		spaces := p.skipSpace()
		if p.done() || p.peek() == ',' {
			out = append(out, c)
			continue
		}
		if spaces == 0 {
			return out, p.fail("expected a space after the auth-scheme")
		}
		if t68, ok := p.token68(); ok {
			c.Token68 = t68
			out = append(out, c)
			continue
		}
		if err := p.params(&c); err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// ChallengesFromHeader returns the challenges of every WWW-Authenticate
// field line of h. A malformed line contributes the challenges read before
// the error; the rest of it is skipped.
func ChallengesFromHeader(h http.Header) []Challenge {
	var out []Challenge
	for _, v := range h.Values("WWW-Authenticate") {
		cs, _ := ParseChallenges(v)
		out = append(out, cs...)
	}
	return out
}

// dpopChallenge returns the first challenge of h with the DPoP scheme.
func dpopChallenge(h http.Header) (Challenge, bool) {
	for _, c := range ChallengesFromHeader(h) {
		if syntax.EqualFoldASCII(c.Scheme, "DPoP") {
			return c, true
		}
	}
	return Challenge{}, false
}

type challengeParser struct {
	s   string
	pos int
}

func (p *challengeParser) done() bool { return p.pos >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.pos] }

func (p *challengeParser) fail(msg string) error {
	return errors.Join(ErrMalformedChallenge, errors.New(msg))
}

func (p *challengeParser) skipSpace() int {
	start := p.pos
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
	return p.pos - start
}

// skipListSeparators skips the empty list elements, spaces and commas
// RFC 9110 §5.6.1 asks a recipient to tolerate.
func (p *challengeParser) skipListSeparators() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == ',') {
		p.pos++
	}
}

func (p *challengeParser) token() string {
	start := p.pos
	for !p.done() && syntax.IsTChar(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// token68 reads a token68 if the text at the current position is one that
// ends the challenge (followed only by spaces and then a comma or the end);
// otherwise it consumes nothing.
func (p *challengeParser) token68() (string, bool) {
	i := p.pos
	for i < len(p.s) && syntax.IsToken68Char(p.s[i]) {
		i++
	}
	if i == p.pos {
		return "", false
	}
	for i < len(p.s) && p.s[i] == '=' {
		i++
	}
	end := i
	for i < len(p.s) && (p.s[i] == ' ' || p.s[i] == '\t') {
		i++
	}
	if i < len(p.s) && p.s[i] != ',' {
		return "", false
	}
	t := p.s[p.pos:end]
	p.pos = end
	return t, true
}

// params reads auth-params until the next challenge starts or the input
// ends.
func (p *challengeParser) params(c *Challenge) error {
	c.Params = make(map[string]string)
	for {
		name := p.token()
		if name == "" {
			return p.fail("expected an auth-param name")
		}
		p.skipSpace()
		if p.done() || p.peek() != '=' {
			return p.fail("expected '=' after an auth-param name")
		}
		p.pos++
		p.skipSpace()
		if p.done() {
			return p.fail("missing auth-param value")
		}
		var value string
		if p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return err
			}
			value = v
		} else {
			value = p.token()
			if value == "" {
				return p.fail("expected a token or quoted-string value")
			}
		}
		key := strings.ToLower(name)
		if _, dup := c.Params[key]; !dup {
			c.Params[key] = value
		}
		p.skipSpace()
		if p.done() {
			return nil
		}
		if p.peek() != ',' {
			return p.fail("expected ',' between auth-params")
		}
		p.skipListSeparators()
		if p.done() || !p.paramAhead() {
			return nil
		}
	}
}

// paramAhead reports whether the next list element is an auth-param (token
// BWS "=") rather than the start of a new challenge.
func (p *challengeParser) paramAhead() bool {
	i := p.pos
	for i < len(p.s) && syntax.IsTChar(p.s[i]) {
		i++
	}
	if i == p.pos {
		return false
	}
	for i < len(p.s) && (p.s[i] == ' ' || p.s[i] == '\t') {
		i++
	}
	return i < len(p.s) && p.s[i] == '='
}

// quoted reads a quoted-string and returns its unescaped content.
func (p *challengeParser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			p.pos++
			if p.done() {
				return "", p.fail("unterminated quoted-pair")
			}
			e := p.peek()
			if e != '\t' && (e < 0x20 || e == 0x7f) {
				return "", p.fail("invalid character in quoted-pair")
			}
			b.WriteByte(e)
			p.pos++
		case c == '\t' || (c >= 0x20 && c != 0x7f):
			b.WriteByte(c)
			p.pos++
		default:
			return "", p.fail("invalid character in quoted-string")
		}
	}
	return "", p.fail("unterminated quoted-string")
}
