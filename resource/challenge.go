package resource

import (
	"strings"

	"github.com/dpopkit/dpop/internal/syntax"
)

// challenge is one WWW-Authenticate challenge (RFC 9110 §11.6.1) with the
// auth-params of RFC 6750 §3 and RFC 9449 §7.1.
type challenge struct {
	scheme      Scheme
	realm       string
	err         string
	description string
	scope       string
	algs        string // DPoP only
	metadata    string // RFC 9728 §5.1 resource_metadata
}

// String renders the challenge. Parameters come in a fixed order: realm,
// error, error_description, scope, algs, resource_metadata. Every value is
// a quoted-string restricted to the characters RFC 6750 §3 allows, so no
// escaping is ever needed: other characters are dropped.
func (c *challenge) String() string {
	var b strings.Builder
	b.WriteString(string(c.scheme))
	first := true
	param := func(name, value string) {
		if value == "" {
			return
		}
		if first {
			b.WriteByte(' ')
			first = false
		} else {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(syntax.CleanParam(value))
		b.WriteByte('"')
	}
	param("realm", c.realm)
	param("error", c.err)
	param("error_description", c.description)
	param("scope", c.scope)
	param("algs", c.algs)
	param("resource_metadata", c.metadata)
	return b.String()
}

// joinChallenges renders several challenges in one field value, separated
// by ", " as RFC 9110 §11.6.1 allows.
func joinChallenges(cs []challenge) string {
	parts := make([]string, len(cs))
	for i := range cs {
		parts[i] = cs[i].String()
	}
	return strings.Join(parts, ", ")
}
