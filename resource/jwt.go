package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of [JWTOptions].
const (
	// DefaultJWTLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultJWTLeeway = 30 * time.Second
	// DefaultJWKSRefreshInterval is the shortest time between two fetches
	// of the key set: a token with an unknown kid triggers a fetch at
	// most this often, so junk tokens cannot make the server hammer the
	// issuer.
	DefaultJWKSRefreshInterval = 30 * time.Second
	// DefaultJWKSMaxAge is how long a fetched key set is used before it is
	// fetched again on the next validation.
	DefaultJWKSMaxAge = time.Hour
	// maxJWKSSize caps the key set document.
	maxJWKSSize = 1 << 20
	// fetchTimeout bounds one key set fetch.
	fetchTimeout = 10 * time.Second
	// maxKeyCandidates caps the keys tried for a token without a kid.
	maxKeyCandidates = 8
)

// defaultJWTAlgorithms are the JWS algorithms accepted for access tokens
// when JWTOptions.Algorithms is empty: asymmetric only (RFC 9068 §2.1,
// §4), never none or HMAC.
var defaultJWTAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// JWTOptions configure a [JWTValidator].
type JWTOptions struct {
	// Issuer is the exact iss value of the authorization server
	// (required).
	Issuer string
	// Audience is this resource's identifier; aud must contain it
	// (required).
	Audience string
	// JWKSURL is the issuer's jwks_uri (required). It must be https; plain
	// http is accepted only for a loopback host (tests).
	JWKSURL string
	// Algorithms is the allow-list of token signature algorithms; empty
	// means every asymmetric algorithm go-jose supports. HMAC and none are
	// refused.
	Algorithms []string
	// HTTPClient fetches the key set; nil means a client with a 10 second
	// timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew tolerated on exp, nbf and iat; 0 means
	// DefaultJWTLeeway, a negative value none.
	Leeway time.Duration
	// RefreshInterval is the shortest time between key set fetches; 0
	// means DefaultJWKSRefreshInterval.
	RefreshInterval time.Duration
	// MaxAge is how long a key set is used before it is fetched again; 0
	// means DefaultJWKSMaxAge.
	MaxAge time.Duration
	// MaxTokenSize caps the token, in bytes, before it is parsed; 0
	// means DefaultMaxTokenSize. Behind a [Middleware] whose
	// Options.MaxTokenSize is larger, set it at least as large:
	// NewMiddleware refuses a validator that would cut tokens the
	// middleware lets through.
	MaxTokenSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWTValidator validates JWT access tokens (RFC 9068) signed by one
// issuer with the keys of its JWKS, which it fetches, caches and refreshes
// when a token names an unknown kid (at most once per RefreshInterval).
// It checks typ (at+jwt or application/at+jwt), the signature, iss, aud,
// exp (required), nbf and iat, and reads cnf.jkt only from a token whose
// signature verified. A cnf without jkt (a binding this package cannot
// check, e.g. mTLS) is refused.
//
// It is safe for concurrent use.
type JWTValidator struct {
	issuer, audience string
	jwksURL          string
	algs             []jose.SignatureAlgorithm
	client           *http.Client
	leeway           time.Duration
	refresh          time.Duration
	maxAge           time.Duration
	maxToken         int
	now              func() time.Time

	keys atomic.Pointer[keySet]
	mu   sync.Mutex // guards the fields below
	// lastFetch is the time of the last fetch attempt, lastErr its error,
	// inflight the fetch under way, if any.
	lastFetch time.Time
	lastErr   error
	inflight  *keyFetch
}

// keyFetch is one key set download that any number of requests wait for,
// each only as long as its own context allows.
type keyFetch struct {
	done chan struct{}
	ks   *keySet // set before done is closed
	err  error
}

type keySet struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// NewJWTValidator returns a validator configured by opts. It does not
// fetch the key set yet: the first validation does.
func NewJWTValidator(opts JWTOptions) (*JWTValidator, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("resource: JWTOptions.Issuer and Audience are required")
	}
	if err := checkFetchURL(opts.JWKSURL); err != nil {
		return nil, fmt.Errorf("resource: JWTOptions.JWKSURL: %w", err)
	}
	v := &JWTValidator{
		issuer:   opts.Issuer,
		audience: opts.Audience,
		jwksURL:  opts.JWKSURL,
		client:   opts.HTTPClient,
		leeway:   opts.Leeway,
		refresh:  opts.RefreshInterval,
		maxAge:   opts.MaxAge,
		maxToken: opts.MaxTokenSize,
		now:      opts.Now,
	}
	if len(opts.Algorithms) == 0 {
		v.algs = defaultJWTAlgorithms
	}
	for _, a := range opts.Algorithms {
		sa := jose.SignatureAlgorithm(a)
		found := false
		for _, d := range defaultJWTAlgorithms {
			found = found || d == sa
		}
		if !found {
			return nil, fmt.Errorf("resource: access token algorithm %q is not an asymmetric JWS algorithm", a)
		}
		v.algs = append(v.algs, sa)
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: fetchTimeout}
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultJWTLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.refresh <= 0 {
		v.refresh = DefaultJWKSRefreshInterval
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultJWKSMaxAge
	}
	if v.maxToken <= 0 {
		v.maxToken = DefaultMaxTokenSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// checkFetchURL accepts an https URL, or an http URL whose host is a
// loopback host (syntax.IsSecureURL).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if !syntax.IsSecureURL(u) {
		return errors.New("scheme must be https, or http only for a loopback host")
	}
	return nil
}

// accessTokenClaims are the registered claims and the ones RFC 9068 and RFC
// 9449 add, decoded together.
type accessTokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Cnf      *struct {
		JKT *string `json:"jkt"`
	} `json:"cnf"`
}

// ValidateToken validates a JWT access token (RFC 9068 §4). A refusal is
// a [dpop.Error] wrapping [ErrInvalidToken] (or [ErrUnavailable] when the
// key set cannot be fetched) whose Check, Expected and Got say which check
// failed and on which values, for the operator's logs.
func (v *JWTValidator) ValidateToken(ctx context.Context, token string) (*TokenInfo, error) {
	if len(token) > v.maxToken {
		return nil, invalid("size", "at most "+strconv.Itoa(v.maxToken)+" bytes", strconv.Itoa(len(token))+" bytes")
	}
	if n := strings.Count(token, "."); n != 2 {
		return nil, invalid("token", "a JWS compact serialization (3 segments)", strconv.Itoa(n+1)+" segments")
	}
	// go-jose decodes base64url leniently (non-zero unused bits in the
	// last character); a JWS has one encoding (RFC 7515 §2, RFC 4648
	// §3.5), as the core requires of proofs.
	for i, rest := 1, token; ; i++ {
		seg, after, more := strings.Cut(rest, ".")
		if !syntax.IsCanonicalBase64URL(seg) {
			return nil, invalid("token", "canonical base64url segments (RFC 7515 §2)", "segment "+strconv.Itoa(i)+" is not canonical")
		}
		if !more {
			break
		}
		rest = after
	}
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, v.malformed(token)
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("token", "one signature", strconv.Itoa(len(tok.Headers))+" signatures")
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalid("typ", "at+jwt", clip(typ))
	}
	keys, err := v.lookup(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	var (
		ext  accessTokenClaims // the registered claims and ours, in one pass
		all  map[string]any
		good bool
	)
	for _, k := range keys {
		if err := tok.Claims(k.Key, &ext, &all); err == nil {
			good = true
			break
		}
	}
	if !good {
		return nil, invalid("signature", "a signature by key "+keyNames(keys)+" over JSON claims", "does not verify or the claims are not a JSON object")
	}
	// From here on the claims are the issuer's.
	if err := v.checkClaims(&ext.Claims); err != nil {
		return nil, err
	}
	std := &ext.Claims
	info := &TokenInfo{
		Subject:  std.Subject,
		ClientID: ext.ClientID,
		Scopes:   strings.Fields(ext.Scope),
		Expiry:   std.Expiry.Time(),
		Claims:   all,
	}
	if _, bound := all["cnf"]; bound {
		if ext.Cnf == nil || ext.Cnf.JKT == nil || !dpop.IsThumbprint(*ext.Cnf.JKT) {
			return nil, invalid("cnf", "cnf with a jkt thumbprint (RFC 9449 §6.1)", "cnf without a valid jkt")
		}
		info.JKT = *ext.Cnf.JKT
	}
	return info, nil
}

// checkClaims checks iss, aud, exp, nbf and iat (RFC 9068 §4, RFC 7519
// §4.1). The token is refused on or after exp (§4.1.4) and before nbf
// (§4.1.5), each moved by the leeway: accepted while now-leeway < exp and
// now+leeway >= nbf; with no leeway, a token is refused at exactly exp.
func (v *JWTValidator) checkClaims(c *jwt.Claims) error {
	if c.Issuer != v.issuer {
		return invalid("iss", v.issuer, clip(c.Issuer))
	}
	if !c.Audience.Contains(v.audience) {
		return invalid("aud", v.audience, clip(strings.Join(c.Audience, " ")))
	}
	now := v.now()
	if c.Expiry == nil {
		return invalid("exp", "an exp claim", "none")
	}
	if exp := c.Expiry.Time(); !now.Add(-v.leeway).Before(exp) {
		return invalid("exp", "after "+v.clock(now), timeEvidence(exp))
	}
	if c.NotBefore != nil {
		if nbf := c.NotBefore.Time(); now.Add(v.leeway).Before(nbf) {
			return invalid("nbf", "at or before "+v.clock(now), timeEvidence(nbf))
		}
	}
	if c.IssuedAt != nil {
		if iat := c.IssuedAt.Time(); now.Add(v.leeway).Before(iat) {
			return invalid("iat", "at or before "+v.clock(now), timeEvidence(iat))
		}
	}
	return nil
}

// clock describes the server clock and the leeway for the evidence.
func (v *JWTValidator) clock(now time.Time) string {
	return "server clock " + timeEvidence(now) + " (leeway " + v.leeway.String() + ")"
}

// malformed explains why go-jose refused to parse token: an algorithm off
// the allow-list, or a malformed JWS.
func (v *JWTValidator) malformed(token string) error {
	var hdr struct {
		Alg string `json:"alg"`
	}
	seg, _, _ := strings.Cut(token, ".")
	if raw, err := base64.RawURLEncoding.DecodeString(seg); err == nil && json.Unmarshal(raw, &hdr) == nil && hdr.Alg != "" {
		allowed := false
		names := make([]string, len(v.algs))
		for i, a := range v.algs {
			names[i] = string(a)
			allowed = allowed || string(a) == hdr.Alg
		}
		if !allowed {
			return invalid("alg", strings.Join(names, " "), clip(hdr.Alg))
		}
	}
	return invalid("token", "a JWS compact serialization", "malformed JWS")
}

// keyNames names the candidate keys for the evidence.
func keyNames(keys []jose.JSONWebKey) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = "kid=" + clip(k.KeyID)
	}
	return strings.Join(names, " or ")
}

// maxTokenSize is the longest token v accepts; see [tokenSizeLimiter].
func (v *JWTValidator) maxTokenSize() int { return v.maxToken }

// lookup returns the candidate keys for kid and alg, fetching the key set
// when there is none yet, when it is older than MaxAge, or when kid is
// unknown, but never more often than RefreshInterval.
func (v *JWTValidator) lookup(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	now := v.now()
	if ks := v.keys.Load(); ks != nil && now.Sub(ks.fetched) < v.maxAge {
		if c := ks.candidates(kid, alg); len(c) > 0 {
			return c, nil
		}
	}
	v.mu.Lock()
	now = v.now()
	ks := v.keys.Load()
	if ks != nil && now.Sub(ks.fetched) < v.maxAge && !ks.fetched.Before(v.lastFetch) {
		// Another request refreshed while this one waited.
		if c := ks.candidates(kid, alg); len(c) > 0 {
			v.mu.Unlock()
			return c, nil
		}
	}
	f := v.inflight
	if f == nil {
		if !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.refresh {
			// Rate limited: answer from what there is.
			lastErr := v.lastErr
			v.mu.Unlock()
			if ks != nil {
				if c := ks.candidates(kid, alg); len(c) > 0 {
					return c, nil
				}
			}
			if lastErr != nil {
				return nil, unavailable("jwks", "the issuer's key set", lastErr)
			}
			return nil, invalid("kid", "a kid of the issuer's key set", kidEvidence(kid, alg))
		}
		v.lastFetch = now
		f = &keyFetch{done: make(chan struct{})}
		v.inflight = f
		// The fetch outlives the request that started it, bounded by
		// fetchTimeout: a client that hangs up must not leave the server
		// without keys for a whole RefreshInterval.
		go v.runFetch(context.WithoutCancel(ctx), f, now)
	}
	v.mu.Unlock()

	// Each request waits only as long as its own deadline allows; one that
	// is already over does not wait at all.
	if err := ctx.Err(); err != nil {
		return nil, unavailable("jwks", "the issuer's key set", err)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, unavailable("jwks", "the issuer's key set", ctx.Err())
	}
	if f.err != nil {
		if ks != nil {
			if c := ks.candidates(kid, alg); len(c) > 0 {
				return c, nil
			}
		}
		return nil, unavailable("jwks", "the issuer's key set", f.err)
	}
	if c := f.ks.candidates(kid, alg); len(c) > 0 {
		return c, nil
	}
	return nil, invalid("kid", "a kid of the issuer's key set", kidEvidence(kid, alg))
}

// kidEvidence names the key a token asked for.
func kidEvidence(kid, alg string) string {
	if kid == "" {
		return "no kid, alg " + clip(alg)
	}
	return "kid " + clip(kid) + ", alg " + clip(alg)
}

// runFetch downloads the key set for f, publishes it, and wakes the
// requests waiting on f.
func (v *JWTValidator) runFetch(ctx context.Context, f *keyFetch, started time.Time) {
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	fresh, err := v.fetch(fctx)
	cancel()
	v.mu.Lock()
	v.lastErr = err
	if err == nil {
		fresh.fetched = started
		v.keys.Store(fresh)
	}
	v.inflight = nil
	v.mu.Unlock()
	f.ks, f.err = fresh, err
	close(f.done)
}

// candidates returns the signing keys usable for kid and alg.
func (ks *keySet) candidates(kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range ks.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		out = append(out, k)
		if len(out) == maxKeyCandidates {
			break
		}
	}
	return out
}

// fetch downloads and parses the key set. Keys that do not parse, or that
// are symmetric, are skipped rather than failing the whole set.
func (v *JWTValidator) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSSize {
		return nil, errors.New("key set too large")
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("key set is not a JWK Set")
	}
	ks := &keySet{}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() {
			continue
		}
		if _, sym := k.Key.([]byte); sym {
			continue
		}
		pub := k.Public()
		if pub.Key == nil {
			continue
		}
		ks.keys = append(ks.keys, pub)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("key set has no usable key")
	}
	return ks, nil
}
