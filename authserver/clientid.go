package authserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dpopkit/dpop/internal/syntax"
)

// Defaults of [ClientIDOptions].
const (
	DefaultClientIDMaxSize  = 5 << 10
	DefaultClientIDTimeout  = 5 * time.Second
	DefaultClientIDCacheTTL = 10 * time.Minute
	DefaultClientIDCacheMax = 1000
)

// Errors wrapped by the refusals of [ClientIDResolver.Resolve].
var (
	// ErrClientIDURL: the client_id is not a client ID metadata document
	// URL (https, a path, no fragment, userinfo or dot segments).
	ErrClientIDURL = errors.New("authserver: client_id is not a metadata document URL")
	// ErrClientIDFetch: the document could not be fetched (network error,
	// timeout, status other than 200, redirect, too large, not JSON).
	ErrClientIDFetch = errors.New("authserver: client metadata document could not be fetched")
	// ErrForbiddenAddress: the document's host is, or resolved to, an
	// address the resolver does not connect to (loopback, private,
	// link-local, unspecified, multicast), checked at dial time.
	ErrForbiddenAddress = errors.New("authserver: the client_id host resolves to a forbidden address")
)

// ClientMetadataDocument is a validated client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document): the RFC 7591 client
// metadata published at the URL that is the client_id.
type ClientMetadataDocument struct {
	ClientID                string          `json:"client_id"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthAlg    string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	// DPoPBoundAccessTokens is RFC 9449 §5.2's member; copy it to
	// [Client.DPoPBoundAccessTokens].
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
}

// Public reports whether the client authenticates with "none".
func (d *ClientMetadataDocument) Public() bool { return d.TokenEndpointAuthMethod == "none" }

// ParseClientIDURL checks that clientID can be a client ID metadata
// document URL: https, a non-empty path, no fragment, no userinfo, no "."
// or ".." path segment. It returns the parsed URL, or an invalid_client
// [*Error] wrapping [ErrClientIDURL].
func ParseClientIDURL(clientID string) (*url.URL, error) {
	bad := func(why string) (*url.URL, error) {
		return nil, NewError(http.StatusBadRequest, CodeInvalidClient, "client_id is not a valid client metadata document URL", ErrClientIDURL).
			withEvidence("client_id", why, clientID)
	}
	u, err := url.Parse(clientID)
	switch {
	case err != nil:
		return bad("an absolute URL")
	case u.Scheme != "https":
		return bad("https")
	case u.Host == "" || u.Hostname() == "":
		return bad("a host")
	case u.User != nil:
		return bad("no userinfo")
	case u.Fragment != "" || strings.Contains(clientID, "#"):
		return bad("no fragment")
	case u.Path == "" || u.Path == "/":
		return bad("a path")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") || strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return bad("no dot segments")
		}
	}
	return u, nil
}

// ParseClientMetadataDocument validates a client ID metadata document
// fetched from clientID: exactly one JSON object whose client_id equals
// clientID, at least one redirect URI (https, http on a loopback host, or
// a private-use scheme of a native app, RFC 8252 §7.1), no client_secret,
// token_endpoint_auth_method "none" or "private_key_jwt" (the latter with
// jwks or jwks_uri, not both; jwks holding public keys only),
// response_types "code" only, grant_types among authorization_code and
// refresh_token, and dpop_bound_access_tokens a boolean when present. A
// refusal is an invalid_client_metadata [*Error] wrapping
// [ErrInvalidClientMetadata], with the member at fault as evidence.
func ParseClientMetadataDocument(clientID string, data []byte) (*ClientMetadataDocument, error) {
	if _, err := ParseClientMetadata(data); err != nil {
		return nil, err
	}
	bad := func(member, expected, got string) (*ClientMetadataDocument, error) {
		return nil, badClientMetadata("client metadata document: "+member+" is not acceptable").withEvidence(member, expected, got)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return bad("document", "one JSON object", "another value")
	}
	if _, ok := raw["client_secret"]; ok {
		return bad("client_secret", "absent", "present")
	}
	var d ClientMetadataDocument
	if err := json.Unmarshal(data, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return bad(te.Field, te.Type.String(), te.Value)
		}
		return bad("document", "valid members", "a member of the wrong type")
	}
	if d.ClientID != clientID {
		return bad("client_id", clientID, d.ClientID)
	}
	if len(d.RedirectURIs) == 0 {
		return bad("redirect_uris", "at least one", "none")
	}
	for _, r := range d.RedirectURIs {
		if !documentRedirectURI(r) {
			return bad("redirect_uris", "https, loopback http or a private-use scheme, without a fragment", r)
		}
	}
	switch d.TokenEndpointAuthMethod {
	case "none":
		if len(d.JWKS) > 0 || d.JWKSURI != "" {
			return bad("jwks", "absent for token_endpoint_auth_method none", "present")
		}
	case "private_key_jwt":
		switch {
		case len(d.JWKS) > 0 && d.JWKSURI != "":
			return bad("jwks", "jwks or jwks_uri, not both", "both")
		case len(d.JWKS) > 0:
			if err := checkPublicJWKS(d.JWKS); err != "" {
				return bad("jwks", "a JWK Set of public keys", err)
			}
		case d.JWKSURI != "":
			if u, err := url.Parse(d.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
				return bad("jwks_uri", "an https URL", d.JWKSURI)
			}
		default:
			return bad("jwks", "jwks or jwks_uri for private_key_jwt", "neither")
		}
	case "":
		return bad("token_endpoint_auth_method", "none or private_key_jwt", "absent")
	default:
		return bad("token_endpoint_auth_method", "none or private_key_jwt", d.TokenEndpointAuthMethod)
	}
	for _, rt := range d.ResponseTypes {
		if rt != "code" {
			return bad("response_types", "code", rt)
		}
	}
	for _, g := range d.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			return bad("grant_types", "authorization_code, refresh_token", g)
		}
	}
	return &d, nil
}

// documentRedirectURI is the redirect URI rule for metadata documents.
func documentRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		return syntax.IsLoopbackHost(u.Hostname())
	}
	// A private-use scheme (RFC 8252 §7.1) is a reversed domain name.
	return strings.Contains(u.Scheme, ".") && u.Host == ""
}

// checkPublicJWKS returns "" when raw is a JWK Set of at most 16 keys with
// no private members, else what is wrong.
func checkPublicJWKS(raw json.RawMessage) string {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || set.Keys == nil {
		return "not a JWK Set"
	}
	if len(set.Keys) == 0 || len(set.Keys) > 16 {
		return fmt.Sprintf("%d keys", len(set.Keys))
	}
	for _, k := range set.Keys {
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[m]; ok {
				return "a private key"
			}
		}
	}
	return ""
}

// ClientIDOptions configure a [ClientIDResolver]. The zero value fetches
// only from public addresses, at most 5 KiB within 5 seconds, follows no
// redirect, and caches up to 1000 documents for 10 minutes.
type ClientIDOptions struct {
	// AllowLoopback lets the resolver connect to loopback addresses
	// (127.0.0.0/8, ::1): for development and tests only.
	AllowLoopback bool
	// AllowPrivate lets it connect to private (RFC 1918, RFC 4193) and
	// link-local addresses: only where every host of that network is
	// trusted.
	AllowPrivate bool
	// AllowAddress, when set, replaces the policy above: it is called at
	// dial time with each address the resolver is about to connect to.
	AllowAddress func(netip.Addr) bool
	// MaxRedirects is how many redirects are followed (each to https, and
	// each connection checked again at dial time); default 0: none.
	MaxRedirects int
	// MaxSize caps the document; default DefaultClientIDMaxSize (5 KiB).
	MaxSize int64
	// Timeout caps one fetch, connection included; default
	// DefaultClientIDTimeout.
	Timeout time.Duration
	// CacheTTL is how long a document is kept; default
	// DefaultClientIDCacheTTL. A response's Cache-Control max-age shortens
	// it, no-store disables it.
	CacheTTL time.Duration
	// CacheMax bounds the cached documents; default DefaultClientIDCacheMax.
	CacheMax int
	// TLSConfig is the TLS configuration of the fetches (a private root CA
	// in tests); nil means the system roots.
	TLSConfig *tls.Config
	// Now is the clock of the cache; default time.Now.
	Now func() time.Time
}

// ClientIDResolver fetches, validates and caches client ID metadata
// documents (draft-ietf-oauth-client-id-metadata-document). The fetch is
// made on behalf of whoever sent the client_id, so it is an SSRF surface:
// the resolver checks every address it connects to at dial time (so a
// redirect or a DNS answer that changes to a private address is refused
// too), ignores proxy settings, and caps size, time and redirects. It is
// safe for concurrent use.
type ClientIDResolver struct {
	opts   ClientIDOptions
	client *http.Client

	mu    sync.Mutex
	cache map[string]cachedDocument
}

type cachedDocument struct {
	doc     *ClientMetadataDocument
	expires time.Time
}

// NewClientIDResolver returns a resolver configured by opts.
func NewClientIDResolver(opts ClientIDOptions) *ClientIDResolver {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultClientIDMaxSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultClientIDTimeout
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultClientIDCacheTTL
	}
	if opts.CacheMax <= 0 {
		opts.CacheMax = DefaultClientIDCacheMax
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &ClientIDResolver{opts: opts, cache: map[string]cachedDocument{}}
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: r.control}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would connect on our behalf, unchecked
		DialContext:            dialer.DialContext,
		TLSClientConfig:        opts.TLSConfig,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true,
	}
	r.client = &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > opts.MaxRedirects {
				return fmt.Errorf("%w: redirect not followed", ErrClientIDFetch)
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a non-https URL", ErrClientIDFetch)
			}
			return nil
		},
	}
	return r
}

// control refuses a connection to an address the options do not allow.
func (r *ClientIDResolver) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !r.allowed(ap.Addr().Unmap()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

func (r *ClientIDResolver) allowed(a netip.Addr) bool {
	if r.opts.AllowAddress != nil {
		return r.opts.AllowAddress(a)
	}
	switch {
	case a.IsLoopback():
		return r.opts.AllowLoopback
	case a.IsPrivate(), a.IsLinkLocalUnicast():
		return r.opts.AllowPrivate
	case a.IsUnspecified(), a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return false
	case a.Is4() && a.As4()[0] == 100 && a.As4()[1]&0xc0 == 64: // 100.64.0.0/10, shared address space
		return r.opts.AllowPrivate
	}
	return a.IsGlobalUnicast()
}

// Resolve returns the validated document of clientID, from the cache or
// fetched. A refusal is an [*Error] for [WriteError]: invalid_client for a
// client_id that is not a document URL or whose document cannot be
// fetched ([ErrClientIDURL], [ErrClientIDFetch], [ErrForbiddenAddress]),
// invalid_client_metadata for a document that is not acceptable
// ([ErrInvalidClientMetadata]); the evidence names the failed step.
func (r *ClientIDResolver) Resolve(ctx context.Context, clientID string) (*ClientMetadataDocument, error) {
	if _, err := ParseClientIDURL(clientID); err != nil {
		return nil, err
	}
	now := r.opts.Now()
	r.mu.Lock()
	if c, ok := r.cache[clientID]; ok {
		if now.Before(c.expires) {
			r.mu.Unlock()
			return c.doc, nil
		}
		delete(r.cache, clientID)
	}
	r.mu.Unlock()

	body, ttl, err := r.fetch(ctx, clientID)
	if err != nil {
		return nil, err
	}
	doc, err := ParseClientMetadataDocument(clientID, body)
	if err != nil {
		return nil, err
	}
	if ttl > 0 {
		r.put(clientID, doc, now.Add(ttl), now)
	}
	return doc, nil
}

// ResolveJWKS returns the client's public keys for private_key_jwt (RFC
// 7523): the document's jwks, or the JWK Set at its jwks_uri, fetched with
// the same address checks and caps as the document and cached with it. A
// set that is not JSON, holds a private key or no key, or more than 16, is
// an invalid_client_metadata [*Error]; a fetch failure is invalid_client.
func (r *ClientIDResolver) ResolveJWKS(ctx context.Context, d *ClientMetadataDocument) (json.RawMessage, error) {
	if len(d.JWKS) > 0 {
		return d.JWKS, nil
	}
	if d.JWKSURI == "" {
		return nil, badClientMetadata("client metadata document has no jwks").withEvidence("jwks", "jwks or jwks_uri", "neither")
	}
	key := "jwks " + d.JWKSURI
	now := r.opts.Now()
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && now.Before(c.expires) {
		r.mu.Unlock()
		return c.doc.JWKS, nil
	}
	r.mu.Unlock()
	body, ttl, err := r.fetch(ctx, d.JWKSURI)
	if err != nil {
		return nil, err
	}
	if why := checkPublicJWKS(body); why != "" {
		return nil, badClientMetadata("the jwks_uri document is not acceptable").withEvidence("jwks_uri", "a JWK Set of public keys", why)
	}
	if ttl > 0 {
		r.put(key, &ClientMetadataDocument{JWKS: body}, now.Add(ttl), now)
	}
	return body, nil
}

// put caches doc, making room by dropping expired entries, then any one.
func (r *ClientIDResolver) put(id string, doc *ClientMetadataDocument, expires, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.opts.CacheMax {
		for k, c := range r.cache {
			if !now.Before(c.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < r.opts.CacheMax {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[id] = cachedDocument{doc: doc, expires: expires}
}

// CacheLen returns the number of cached documents.
func (r *ClientIDResolver) CacheLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cache)
}

// fetch GETs the document, returning its body and how long it may be
// cached.
func (r *ClientIDResolver) fetch(ctx context.Context, clientID string) ([]byte, time.Duration, error) {
	fail := func(expected, got string, cause error) ([]byte, time.Duration, error) {
		sentinel := ErrClientIDFetch
		if errors.Is(cause, ErrForbiddenAddress) {
			sentinel = ErrForbiddenAddress
		}
		return nil, 0, NewError(http.StatusBadRequest, CodeInvalidClient, "client metadata document could not be fetched", sentinel).
			withEvidence("client_id", expected, got)
	}
	if u, err := url.Parse(clientID); err != nil || u.Scheme != "https" || u.Host == "" {
		return fail("an https URL", clientID, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientID, nil)
	if err != nil {
		return fail("a fetchable URL", clientID, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return fail("a public address", forbiddenAddress(err), err)
		}
		if errors.Is(err, ErrClientIDFetch) {
			return fail("200 without redirect", "a redirect", err)
		}
		return fail("a response within "+r.opts.Timeout.String(), "a network error or timeout", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail("status 200", resp.Status, nil)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) { // application/jwk-set+json included
		return fail("Content-Type application/json", resp.Header.Get("Content-Type"), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.opts.MaxSize+1))
	if err != nil {
		return fail("a complete body", "a read error", err)
	}
	if int64(len(body)) > r.opts.MaxSize {
		return fail(fmt.Sprintf("at most %d bytes", r.opts.MaxSize), "more", nil)
	}
	return bytes.TrimSpace(body), cacheTTL(resp.Header, r.opts.CacheTTL), nil
}

// forbiddenAddress extracts the refused address from a dial error.
func forbiddenAddress(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ErrForbiddenAddress.Error()+": "); i >= 0 {
		return s[i+len(ErrForbiddenAddress.Error())+2:]
	}
	return "a forbidden address"
}

// cacheTTL applies Cache-Control to the configured TTL: no-store or
// no-cache disable caching, a smaller max-age shortens it (RFC 9111 §5.2).
func cacheTTL(h http.Header, ttl time.Duration) time.Duration {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache":
				return 0
			case strings.HasPrefix(d, "max-age="):
				var secs int64
				if _, err := fmt.Sscanf(d[len("max-age="):], "%d", &secs); err == nil && secs >= 0 {
					if m := time.Duration(secs) * time.Second; m < ttl {
						ttl = m
					}
				}
			}
		}
	}
	return ttl
}
