package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes r for a reader of a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	r.writeText(&b, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeText(b *strings.Builder, in string) {
	fmt.Fprintf(b, "%s%s\n", in, r.Summary)
	section := func(name string, fs []Field) {
		if len(fs) == 0 {
			return
		}
		width := 0
		for _, f := range fs {
			width = max(width, len(f.Name))
		}
		fmt.Fprintf(b, "%s%s\n", in, name)
		for _, f := range fs {
			fmt.Fprintf(b, "%s  %-*s  %s", in, width, f.Name, Display(f.Value))
			if f.Name == "jwk" && r.Kind == KindProof && r.JKT != "" {
				fmt.Fprintf(b, "  (thumbprint %s)", r.JKT)
			}
			if t, ok := r.time(f.Name); ok && name == "claims" {
				fmt.Fprintf(b, "  (%s, %s)", t.UTC, t.Relative)
			}
			if f.Name == "cnf" && r.CnfJKT != "" {
				b.WriteString("  (the token is bound to the key with this thumbprint)")
			}
			b.WriteString("\n")
		}
	}
	headerName := "header"
	if r.Kind == KindJWK || r.Kind == KindPEM {
		headerName = "public key"
	}
	section(headerName, r.Header)
	claimsName := "claims"
	if r.Kind == KindSession {
		claimsName = "session"
	}
	section(claimsName, r.Claims)
	if r.Kind == KindSession && len(r.Times) > 0 {
		fmt.Fprintf(b, "%stimes\n", in)
		for _, t := range r.Times {
			fmt.Fprintf(b, "%s  %-9s %d  %s  (%s)\n", in, t.Name, t.Unix, t.UTC, t.Relative)
		}
	}
	if len(r.Keys) > 0 {
		fmt.Fprintf(b, "%skeys\n", in)
		for _, k := range r.Keys {
			fmt.Fprintf(b, "%s  kid %-16s kty %-4s alg %-6s jkt %s\n", in, orDash(k.Kid), k.Kty, orDash(k.Alg), orDash(k.JKT))
		}
	}
	if r.JKT != "" {
		fmt.Fprintf(b, "%skey thumbprint (jkt, RFC 7638)  %s\n", in, r.JKT)
	}
	if r.CnfJKT != "" {
		fmt.Fprintf(b, "%sbound to (cnf.jkt)              %s\n", in, r.CnfJKT)
	}
	if r.Token != nil {
		fmt.Fprintf(b, "%saccess token\n", in)
		r.Token.writeText(b, in+"  ")
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(b, "%schecks\n", in)
		width := 0
		for _, c := range r.Checks {
			width = max(width, len(c.Name))
		}
		for _, c := range r.Checks {
			mark := "✓ passed"
			if !c.Passed {
				mark = "✗ FAILED"
			}
			fmt.Fprintf(b, "%s  %s  %-*s", in, mark, width, c.Name)
			switch {
			case !c.Passed:
				fmt.Fprintf(b, "  expected %s\n%s  %*s  got      %s", orNone(c.Expected), in, width+10, "", orNone(c.Got))
			case c.Got != "":
				fmt.Fprintf(b, "  %s", c.Got)
			}
			if c.Note != "" {
				fmt.Fprintf(b, "  (%s)", c.Note)
			}
			b.WriteString("\n")
		}
	}
	if v := r.Verdict; v != nil {
		if v.Valid {
			fmt.Fprintf(b, "%sverifier: accepted (every check of RFC 9449 §4.3 but replay, which needs the server's store)\n", in)
		} else {
			fmt.Fprintf(b, "%sverifier: rejected: %s: %s", in, v.Error, v.Description)
			if v.Check != "" {
				fmt.Fprintf(b, " [check %s, expected %s, got %s]", v.Check, orNone(v.Expected), orNone(v.Got))
			}
			b.WriteString("\n")
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "%snote: %s\n", in, n)
	}
}

// Display shows a JSON value compactly: a string without quotes.
func Display(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (r *Report) time(name string) (Time, bool) {
	for _, t := range r.Times {
		if t.Name == name {
			return t, true
		}
	}
	return Time{}, false
}
