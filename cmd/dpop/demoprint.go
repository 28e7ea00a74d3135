package main

// The readable form of the demo: lines that fit 100 columns, colour on a
// terminal, nonces named so that two different ones look different, times
// as clock times, and the terms explained on first use.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// demoWidth is the width the demo's lines fit in.
const demoWidth = 100

// ANSI styles.
const (
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleCyan   = "\x1b[36m"
	styleReset  = "\x1b[0m"
)

// useColor reports whether w is a terminal and NO_COLOR is not set
// (https://no-color.org).
func useColor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demoPrinter prints the demo's exchanges.
type demoPrinter struct {
	color     bool
	nonces    map[string]string // nonce -> its name, n1, n2...
	explained map[string]bool   // the terms explained so far
	headers   map[string]bool   // the keys whose proof header was shown
}

func newDemoPrinter(color bool) *demoPrinter {
	return &demoPrinter{color: color, nonces: map[string]string{}, explained: map[string]bool{}, headers: map[string]bool{}}
}

func (p *demoPrinter) style(s, text string) string {
	if !p.color || text == "" {
		return text
	}
	return s + text + styleReset
}

// nonce names a nonce by the order it first appeared in, with its end,
// so that two nonces that share a prefix still look different.
func (p *demoPrinter) nonce(n string) string {
	name, ok := p.nonces[n]
	if !ok {
		name = fmt.Sprintf("n%d", len(p.nonces)+1)
		p.nonces[n] = name
	}
	end := n
	if len(end) > 8 {
		end = "…" + end[len(end)-8:]
	}
	return p.style(styleYellow, name) + " (" + end + ")"
}

// terms are explained the first time they appear.
var terms = []struct{ name, text string }{
	{"jkt", "jkt: the SHA-256 thumbprint of the proof's public key (RFC 7638); a DPoP-bound token names it in cnf.jkt"},
	{"htu", "htm, htu: the method and the URI (without query) the proof was made for; the server compares them with the request"},
	{"ath", "ath: the SHA-256 hash of the access token the request carries, binding the proof to that token"},
	{"nonce", "nonce: a value the server gave in DPoP-Nonce; it limits how long a proof is usable (RFC 9449 §8)"},
}

// wrap writes text as lines of at most demoWidth columns: the first
// starting with first, the others with indent.
func wrap(b *strings.Builder, first, indent, text string) {
	line := first
	width := len([]rune(first))
	start := true
	for _, w := range strings.Fields(text) {
		n := visibleLen(w)
		if !start && width+1+n > demoWidth {
			b.WriteString(line + "\n")
			line, width, start = indent, len([]rune(indent)), true
		}
		if !start {
			line += " "
			width++
		}
		line += w
		width += n
		start = false
	}
	b.WriteString(line + "\n")
}

// visibleLen is the number of columns s takes, without its ANSI styles.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			esc = true
		case esc:
			if r == 'm' {
				esc = false
			}
		default:
			n++
		}
	}
	return n
}

// print writes one exchange, indented by three columns.
func (p *demoPrinter) print(w io.Writer, x *exchange) {
	var b strings.Builder
	const in = "   "
	wrap(&b, in+p.style(styleCyan, ">")+" ", in+"    ", p.style(styleBold, x.Method)+" "+shortURL(x.URL))
	if x.Auth != "" {
		wrap(&b, in+"    Authorization: ", in+"      ", x.Auth)
	}
	if x.Form != "" {
		wrap(&b, in+"    form: ", in+"      ", x.Form)
	}
	var used []string
	if pr := x.Proof; pr != nil {
		if !p.headers[pr.JKT] {
			p.headers[pr.JKT] = true
			wrap(&b, in+"    DPoP header: ", in+"      ",
				"typ dpop+jwt, alg "+pr.Alg+", jwk = the public key with jkt "+short(pr.JKT, 12)+" (shown once per key)")
		}
		claims := fmt.Sprintf("jkt=%s htm=%s htu=%s iat=%s jti=%s", short(pr.JKT, 8), pr.HTM, pr.HTU,
			time.Unix(pr.IAT, 0).UTC().Format("15:04:05Z"), short(pr.JTI, 8))
		used = append(used, "jkt", "htu")
		if pr.Nonce != "" {
			claims += " nonce=" + p.nonce(pr.Nonce)
			used = append(used, "nonce")
		}
		if pr.ATH != "" {
			claims += " ath=" + short(pr.ATH, 8)
			used = append(used, "ath")
		}
		wrap(&b, in+"    DPoP proof: ", in+"      ", claims)
	} else if x.proof != "" {
		wrap(&b, in+"    DPoP: ", in+"      ", short(x.proof, 16)+" (not a JWS)")
	}
	for _, t := range terms {
		if containsString(used, t.name) && !p.explained[t.name] {
			p.explained[t.name] = true
			wrap(&b, in+"      "+p.style(styleDim, "·")+" ", in+"        ", p.style(styleDim, t.text))
		}
	}
	if x.Failure != "" {
		wrap(&b, in+p.style(styleRed, "<")+" ", in+"    ", "error: "+x.Failure)
		_, _ = io.WriteString(w, b.String())
		return
	}
	statusStyle := styleGreen
	if x.Status >= 400 {
		statusStyle = styleRed
	}
	resp := p.style(statusStyle, fmt.Sprintf("%d %s", x.Status, http.StatusText(x.Status)))
	if x.Error != "" {
		resp += "  error=" + p.style(statusStyle, x.Error)
	}
	if x.TokenType != "" {
		resp += "  token_type=" + x.TokenType
	}
	if x.Nonce != "" {
		resp += "  DPoP-Nonce: " + p.nonce(x.Nonce)
	}
	wrap(&b, in+p.style(styleCyan, "<")+" ", in+"    ", resp)
	if x.Location != "" {
		wrap(&b, in+"    Location: ", in+"      ", shortURL(x.Location))
	}
	if x.Description != "" {
		wrap(&b, in+"    error_description: ", in+"      ", x.Description)
	}
	_, _ = io.WriteString(w, b.String())
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// shortURL shortens the long query values of a URL (codes, states, request
// URIs) so that it fits a line.
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	var parts []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		parts = append(parts, k+"="+short(v, 8))
	}
	u.RawQuery = ""
	return u.String() + "?" + strings.Join(parts, "&")
}
