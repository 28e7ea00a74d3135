package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dpopkit/dpop"
)

const (
	// DefaultIntrospectionLeeway is the clock skew an [Introspector]
	// tolerates on the exp and nbf members of a response (RFC 7662 §2.2).
	DefaultIntrospectionLeeway = 30 * time.Second
	// maxIntrospectionSize caps an introspection response.
	maxIntrospectionSize = 1 << 20
)

// IntrospectionOptions configure an [Introspector].
type IntrospectionOptions struct {
	// Endpoint is the introspection endpoint (required). It must be
	// https; plain http is accepted only for a loopback host (tests).
	Endpoint string
	// ClientID and ClientSecret authenticate this resource server to the
	// endpoint with client_secret_basic (RFC 6749 §2.3.1: each is
	// form-urlencoded, then used as HTTP Basic user and password).
	// Required; for another method, supply an HTTPClient whose transport
	// authenticates and set ClientID only.
	ClientID, ClientSecret string
	// Issuer, when set, must equal the response's iss.
	Issuer string
	// Audience, when set, must be in the response's aud (a string or an
	// array); a response without aud is then refused.
	Audience string
	// HTTPClient sends the requests; nil means a client with a 10 second
	// timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew tolerated on exp and nbf; 0 means
	// DefaultIntrospectionLeeway, a negative value none.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Introspector validates opaque access tokens with token introspection
// (RFC 7662). It sends no DPoP proof (RFC 9449 §6.2): it reads the binding
// from the response's cnf.jkt and lets the [Middleware] check it. The
// response must be consistent: a token_type of DPoP requires cnf.jkt, a
// cnf.jkt requires token_type DPoP or none, and a cnf without jkt is
// refused. Wrap it in a [TokenCache], which keeps each result until the token's
// exp or the cache TTL, whichever is first.
//
// It is safe for concurrent use.
type Introspector struct {
	endpoint         string
	id, secret       string
	issuer, audience string
	client           *http.Client
	leeway           time.Duration
	now              func() time.Time
}

// NewIntrospector returns an introspector configured by opts.
func NewIntrospector(opts IntrospectionOptions) (*Introspector, error) {
	if err := checkFetchURL(opts.Endpoint); err != nil {
		return nil, fmt.Errorf("resource: IntrospectionOptions.Endpoint: %w", err)
	}
	if opts.ClientID == "" {
		return nil, errors.New("resource: IntrospectionOptions.ClientID is required")
	}
	in := &Introspector{
		endpoint: opts.Endpoint,
		id:       opts.ClientID,
		secret:   opts.ClientSecret,
		issuer:   opts.Issuer,
		audience: opts.Audience,
		client:   opts.HTTPClient,
		leeway:   opts.Leeway,
		now:      opts.Now,
	}
	if in.client == nil {
		in.client = &http.Client{Timeout: 10 * time.Second}
	}
	switch {
	case in.leeway == 0:
		in.leeway = DefaultIntrospectionLeeway
	case in.leeway < 0:
		in.leeway = 0
	}
	if in.now == nil {
		in.now = time.Now
	}
	return in, nil
}

// String describes the introspector without its client secret.
func (in Introspector) String() string {
	return "resource.Introspector{endpoint=" + in.endpoint + ", client_id=" + in.id + ", client_secret=" + redacted(in.secret) + "}"
}

// GoString is [Introspector.String], so %#v never prints the secret.
func (in Introspector) GoString() string { return in.String() }

// Format makes every fmt verb, %v, %+v and %#v included, print
// [Introspector.String]. String, GoString and Format have value receivers
// so that an Introspector held by value is redacted too.
func (in Introspector) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, in.String()) }

// String describes the options without the client secret.
func (o IntrospectionOptions) String() string {
	return "resource.IntrospectionOptions{Endpoint=" + o.Endpoint + ", ClientID=" + o.ClientID + ", ClientSecret=" + redacted(o.ClientSecret) + "}"
}

// GoString is [IntrospectionOptions.String].
func (o IntrospectionOptions) GoString() string { return o.String() }

// Format makes every fmt verb print [IntrospectionOptions.String].
func (o IntrospectionOptions) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }

// redacted stands in for a secret in String methods.
func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[redacted]"
}

// introspection is the part of an RFC 7662 §2.2 response that is checked.
type introspection struct {
	Active    *bool           `json:"active"`
	Scope     *string         `json:"scope"`
	ClientID  *string         `json:"client_id"`
	Sub       *string         `json:"sub"`
	Iss       *string         `json:"iss"`
	Aud       json.RawMessage `json:"aud"`
	Exp       *json.Number    `json:"exp"`
	Nbf       *json.Number    `json:"nbf"`
	TokenType *string         `json:"token_type"`
	Cnf       *struct {
		JKT *string `json:"jkt"`
	} `json:"cnf"`
}

// ValidateToken introspects token.
func (in *Introspector) ValidateToken(ctx context.Context, token string) (*TokenInfo, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, unavailable("introspection", "a request to the introspection endpoint", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.secret != "" {
		req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.secret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, unavailable("introspection", "an answer of the introspection endpoint", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// 401 here means this server's credentials are wrong: not the
		// client's fault either.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, unavailable("introspection", "status 200", fmt.Errorf("status %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionSize+1))
	if err != nil {
		return nil, unavailable("introspection", "an answer of the introspection endpoint", err)
	}
	if len(body) > maxIntrospectionSize {
		return nil, unavailable("introspection", "a response of at most 1 MiB", errors.New("response too large"))
	}
	return in.interpret(body)
}

// interpret checks an introspection response body.
func (in *Introspector) interpret(body []byte) (*TokenInfo, error) {
	var r introspection
	var all map[string]any
	if json.Unmarshal(body, &r) != nil || json.Unmarshal(body, &all) != nil || r.Active == nil {
		return nil, unavailable("introspection", "a JSON object with active (RFC 7662 §2.2)", errors.New("malformed introspection response"))
	}
	if !*r.Active {
		return nil, invalid("active", "true", "false")
	}
	now := in.now()
	info := &TokenInfo{Claims: all}
	if r.Exp != nil {
		exp, err := numericDate(*r.Exp)
		if err != nil {
			return nil, invalid("exp", "a NumericDate", clip(r.Exp.String()))
		}
		// Refused on or after exp (RFC 7519 §4.1.4), moved by the leeway.
		if !now.Add(-in.leeway).Before(exp) {
			return nil, invalid("exp", "after "+in.clock(now), timeEvidence(exp))
		}
		info.Expiry = exp
	}
	if r.Nbf != nil {
		nbf, err := numericDate(*r.Nbf)
		if err != nil {
			return nil, invalid("nbf", "a NumericDate", clip(r.Nbf.String()))
		}
		if now.Add(in.leeway).Before(nbf) {
			return nil, invalid("nbf", "at or before "+in.clock(now), timeEvidence(nbf))
		}
	}
	if in.issuer != "" && (r.Iss == nil || *r.Iss != in.issuer) {
		got := "none"
		if r.Iss != nil {
			got = clip(*r.Iss)
		}
		return nil, invalid("iss", in.issuer, got)
	}
	if in.audience != "" && !audienceContains(r.Aud, in.audience) {
		got := "none"
		if len(r.Aud) > 0 {
			got = clip(string(r.Aud))
		}
		return nil, invalid("aud", in.audience, got)
	}
	if r.Sub != nil {
		info.Subject = *r.Sub
	}
	if r.ClientID != nil {
		info.ClientID = *r.ClientID
	}
	if r.Scope != nil {
		info.Scopes = strings.Fields(*r.Scope)
	}
	_, hasCnf := all["cnf"]
	tokenType := ""
	if r.TokenType != nil {
		tokenType = *r.TokenType
	}
	switch {
	case hasCnf:
		if r.Cnf == nil || r.Cnf.JKT == nil || !dpop.IsThumbprint(*r.Cnf.JKT) {
			return nil, invalid("cnf", "cnf with a jkt thumbprint (RFC 9449 §6.2)", "cnf without a valid jkt")
		}
		if tokenType != "" && !strings.EqualFold(tokenType, "DPoP") {
			return nil, invalid("token_type", "DPoP (the token has cnf.jkt)", clip(tokenType))
		}
		info.JKT = *r.Cnf.JKT
	case strings.EqualFold(tokenType, "DPoP"):
		return nil, invalid("cnf", "cnf.jkt (token_type is DPoP)", "none")
	case tokenType != "" && !strings.EqualFold(tokenType, "Bearer"):
		return nil, invalid("token_type", "DPoP or Bearer", clip(tokenType))
	}
	return info, nil
}

// clock describes the server clock and the leeway for the evidence.
func (in *Introspector) clock(now time.Time) string {
	return "server clock " + timeEvidence(now) + " (leeway " + in.leeway.String() + ")"
}

// numericDate converts a JSON NumericDate (seconds, possibly fractional).
func numericDate(n json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil || f < 0 || f > 253402300799 {
		return time.Time{}, errors.New("bad NumericDate")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// audienceContains reports whether raw, a JSON string or array of strings,
// contains aud.
func audienceContains(raw json.RawMessage, aud string) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == aud
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == aud {
				return true
			}
		}
	}
	return false
}
