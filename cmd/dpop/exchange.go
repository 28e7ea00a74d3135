package main

// The record of the HTTP exchanges demo, token and curl make: a
// RoundTripper that records each request and response, and their readable
// form.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
)

// maxLogBody caps the part of a response body read for the log.
const maxLogBody = 64 << 10

// exchange is one HTTP request the tool sent and the response to it, in
// the form it prints them.
type exchange struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	Auth        string       `json:"authorization,omitempty"` // scheme and a shortened credential
	Proof       *proofClaims `json:"dpop,omitempty"`
	Form        string       `json:"form,omitempty"` // the form body, credentials shortened
	Status      int          `json:"status,omitempty"`
	Error       string       `json:"error,omitempty"`
	Description string       `json:"error_description,omitempty"`
	Nonce       string       `json:"dpop_nonce,omitempty"` // the DPoP-Nonce of the response
	Location    string       `json:"location,omitempty"`
	TokenType   string       `json:"token_type,omitempty"`
	Failure     string       `json:"transport_error,omitempty"`

	proof, authorization string      // as sent, for replaying
	respHeader           http.Header // for curl -v
}

// proofClaims is a DPoP proof decoded for display: the JOSE header in
// short form (the algorithm and the thumbprint of its jwk) and the claims.
type proofClaims struct {
	Alg   string `json:"alg"`
	JKT   string `json:"jkt"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	JTI   string `json:"jti"`
	Nonce string `json:"nonce,omitempty"`
	ATH   string `json:"ath,omitempty"`
}

// decodeProof decodes a proof for display, without verifying it. It
// returns nil for something that is not a JWS in compact form.
func decodeProof(raw string) *proofClaims {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return nil
	}
	var h struct {
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	var c struct {
		HTM   string  `json:"htm"`
		HTU   string  `json:"htu"`
		IAT   float64 `json:"iat"`
		JTI   string  `json:"jti"`
		Nonce string  `json:"nonce"`
		ATH   string  `json:"ath"`
	}
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return nil
	}
	p := &proofClaims{Alg: h.Alg, HTM: c.HTM, HTU: c.HTU, IAT: int64(c.IAT), JTI: c.JTI, Nonce: c.Nonce, ATH: c.ATH}
	if jkt, err := dpop.Thumbprint(h.JWK); err == nil {
		p.JKT = jkt
	}
	return p
}

// logTransport is an http.RoundTripper that hands a record of each
// exchange to observe. Put it under a client.Transport (as its Base) to see
// every proof it signs, retries included.
type logTransport struct {
	base    http.RoundTripper // nil means http.DefaultTransport
	observe func(*exchange)
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	x := &exchange{Method: req.Method, URL: req.URL.String()}
	if p := req.Header.Get("DPoP"); p != "" {
		x.proof, x.Proof = p, decodeProof(p)
	}
	if a := req.Header.Get("Authorization"); a != "" {
		x.authorization, x.Auth = a, describeAuth(a)
	}
	if req.Body != nil && req.Body != http.NoBody && mediaType(req.Header) == "application/x-www-form-urlencoded" {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			x.Failure = err.Error()
			t.observe(x)
			return nil, err
		}
		x.Form = describeForm(body)
		req = req.WithContext(req.Context()) // a shallow copy, to change its body
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		x.Failure = err.Error()
		t.observe(x)
		return nil, err
	}
	x.Status = resp.StatusCode
	x.Nonce = resp.Header.Get("DPoP-Nonce")
	x.Location = resp.Header.Get("Location")
	x.respHeader = resp.Header.Clone()
	for _, c := range client.ChallengesFromHeader(resp.Header) {
		if e := c.Param("error"); e != "" {
			x.Error, x.Description = e, c.Param("error_description")
			break
		}
	}
	if mediaType(resp.Header) == "application/json" {
		buf, err := io.ReadAll(io.LimitReader(resp.Body, maxLogBody))
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
		var j struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			TokenType   string `json:"token_type"`
		}
		if err == nil && json.Unmarshal(buf, &j) == nil {
			if x.Error == "" {
				x.Error, x.Description = j.Error, j.Description
			}
			x.TokenType = j.TokenType
		}
	}
	t.observe(x)
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// mediaType returns the lower-cased media type of the Content-Type of h.
func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

// short shortens s to n characters followed by an ellipsis.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// describeAuth shows an Authorization value without its secret: the
// scheme and the start of the credentials.
func describeAuth(v string) string {
	scheme, cred, _ := strings.Cut(v, " ")
	if strings.EqualFold(scheme, "Basic") {
		return "Basic (client credentials)"
	}
	return scheme + " " + short(cred, 16)
}

// secretParams are form parameters shown shortened.
var secretParams = map[string]bool{
	"client_secret": true, "code": true, "code_verifier": true, "refresh_token": true,
	"client_assertion": true, "token": true, "code_challenge": true, "state": true, "dpop_jkt": true,
}

// describeForm shows a form body with its credentials shortened.
func describeForm(body []byte) string {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return short(string(body), 80)
	}
	var parts []string
	for _, kv := range strings.Split(string(body), "&") {
		k, _, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		v := vals.Get(name)
		if name == "client_secret" {
			v = "***"
		} else if secretParams[name] {
			v = short(v, 8)
		} else {
			v = short(v, 60)
		}
		parts = append(parts, name+"="+v)
	}
	return strings.Join(parts, " ")
}

// printExchange writes x in the tool's readable form, each line starting
// with indent:
//
//	> POST http://127.0.0.1:8080/token
//	  DPoP  alg=ES256 jkt=0ZcOCORZ… htm=POST htu=… iat=… jti=… nonce=…
//	< 400 Bad Request  error=use_dpop_nonce  DPoP-Nonce: …
func printExchange(w io.Writer, indent string, x *exchange) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s> %s %s\n", indent, x.Method, x.URL)
	if x.Auth != "" {
		fmt.Fprintf(&b, "%s    Authorization: %s\n", indent, x.Auth)
	}
	if p := x.Proof; p != nil {
		fmt.Fprintf(&b, "%s    DPoP: alg=%s jkt=%s htm=%s htu=%s iat=%d jti=%s", indent, p.Alg, short(p.JKT, 8), p.HTM, p.HTU, p.IAT, short(p.JTI, 8))
		if p.Nonce != "" {
			fmt.Fprintf(&b, " nonce=%s", short(p.Nonce, 12))
		}
		if p.ATH != "" {
			fmt.Fprintf(&b, " ath=%s", short(p.ATH, 8))
		}
		b.WriteString("\n")
	} else if x.proof != "" {
		fmt.Fprintf(&b, "%s    DPoP: %s (not a JWS)\n", indent, short(x.proof, 16))
	}
	if x.Form != "" {
		fmt.Fprintf(&b, "%s    form: %s\n", indent, x.Form)
	}
	if x.Failure != "" {
		fmt.Fprintf(&b, "%s< error: %s\n", indent, x.Failure)
		_, _ = io.WriteString(w, b.String())
		return
	}
	fmt.Fprintf(&b, "%s< %d %s", indent, x.Status, http.StatusText(x.Status))
	if x.Error != "" {
		fmt.Fprintf(&b, "  error=%s", x.Error)
	}
	if x.TokenType != "" {
		fmt.Fprintf(&b, "  token_type=%s", x.TokenType)
	}
	if x.Nonce != "" {
		fmt.Fprintf(&b, "  DPoP-Nonce: %s", short(x.Nonce, 12))
	}
	if x.Location != "" {
		fmt.Fprintf(&b, "\n%s    Location: %s", indent, short(x.Location, 100))
	}
	b.WriteString("\n")
	if x.Description != "" {
		fmt.Fprintf(&b, "%s    error_description: %s\n", indent, x.Description)
	}
	_, _ = io.WriteString(w, b.String())
}

// syncWriter serializes writes from concurrent observers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// baseTransport returns the HTTP transport of token and curl: the default
// one, or one that also trusts the CA certificates of the PEM file caFile
// (a private CA).
func baseTransport(caFile string) (http.RoundTripper, error) {
	if caFile == "" {
		return http.DefaultTransport, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-ca-file wants the CA's certificate)", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}
