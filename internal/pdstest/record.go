package pdstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/dpopkit/dpop"
)

// Exchange is one HTTP exchange a [Recorder] saw.
type Exchange struct {
	Method string
	URL    string // without the query
	// Proof is the DPoP header's value, "" when the request had none;
	// ProofNonce and ProofATH are the nonce and ath claims of its payload.
	Proof      string
	ProofNonce string
	ProofATH   string
	// Scheme is the scheme of the request's Authorization header.
	Scheme string
	// Form is the request's form body (token and PAR requests).
	Form   string
	Status int
	// Error is the response's OAuth error code: from a DPoP challenge in
	// WWW-Authenticate, else from a JSON body's "error".
	Error string
	// Challenge is the WWW-Authenticate field.
	Challenge string
	// Nonce is the DPoP-Nonce the response carried.
	Nonce string
}

// Recorder is an [http.RoundTripper] that records the exchanges it passes
// to Base (nil: http.DefaultTransport). Put it under a client.Transport to
// see each request as sent, retries included.
type Recorder struct {
	Base http.RoundTripper

	mu sync.Mutex
	ex []Exchange
}

// maxRecorded caps how much of a body the Recorder reads.
const maxRecorded = 1 << 20

// RoundTrip implements [http.RoundTripper].
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	e := Exchange{Method: req.Method, URL: u.String(), Proof: req.Header.Get("DPoP")}
	e.ProofNonce, e.ProofATH = proofClaims(e.Proof)
	e.Scheme, _, _ = strings.Cut(req.Header.Get("Authorization"), " ")
	if req.Body != nil && req.GetBody != nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if b, err := req.GetBody(); err == nil {
			data, _ := io.ReadAll(io.LimitReader(b, maxRecorded))
			b.Close()
			e.Form = string(data)
		}
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	e.Status = resp.StatusCode
	e.Nonce = resp.Header.Get("DPoP-Nonce")
	e.Challenge = resp.Header.Get("WWW-Authenticate")
	if i := strings.Index(e.Challenge, `error="`); i >= 0 {
		rest := e.Challenge[i+len(`error="`):]
		e.Error, _, _ = strings.Cut(rest, `"`)
	}
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxRecorded))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		var j struct {
			Error string `json:"error"`
		}
		if e.Error == "" && json.Unmarshal(data, &j) == nil {
			e.Error = j.Error
		}
	}
	r.mu.Lock()
	r.ex = append(r.ex, e)
	r.mu.Unlock()
	return resp, nil
}

// Exchanges returns what was recorded so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.ex...)
}

// proofClaims returns the nonce and ath of a proof's payload, unverified.
func proofClaims(proof string) (nonce, ath string) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return "", ""
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var c struct {
		Nonce string `json:"nonce"`
		ATH   string `json:"ath"`
	}
	_ = json.Unmarshal(data, &c)
	return c.Nonce, c.ATH
}

// Since returns the exchanges recorded after the first n.
func (r *Recorder) Since(n int) []Exchange {
	ex := r.Exchanges()
	if n > len(ex) {
		n = len(ex)
	}
	return ex[n:]
}

// NonceRetried reports whether, in ex, a request (method, URL without
// query) was answered use_dpop_nonce with status and a DPoP-Nonce, and then
// sent again with a proof carrying that nonce and accepted (status below
// 400).
func NonceRetried(ex []Exchange, method, u string, status int) bool {
	for i, e := range ex {
		if e.Method != method || e.URL != u || e.Status != status || e.Error != dpop.CodeUseNonce || e.Nonce == "" {
			continue
		}
		for _, n := range ex[i+1:] {
			if n.Method == method && n.URL == u && n.ProofNonce == e.Nonce {
				return n.Status < 400
			}
		}
	}
	return false
}

// Dump lists exchanges, one a line, for test failure messages.
func Dump(ex []Exchange) string {
	var b strings.Builder
	for _, e := range ex {
		fmt.Fprintf(&b, "  %s %s proof=%t nonce=%q auth=%q -> %d %s\n", e.Method, e.URL, e.Proof != "", e.ProofNonce, e.Scheme, e.Status, e.Error)
	}
	return b.String()
}
