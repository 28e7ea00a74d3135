package resource

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/dpopkit/dpop"
)

// DefaultMaxTokenSize is the longest access token the middleware passes to
// its validator, in bytes.
const DefaultMaxTokenSize = 16 << 10

// Options configure a [Middleware].
type Options struct {
	// Verifier checks the DPoP proofs (required). Its algorithm list is
	// the algs of the DPoP challenge, and its NonceSource, when set, makes
	// this resource server require its own nonces (RFC 9449 §9): give it a
	// scope of its own (e.g. "rs:https://api.example.com").
	Verifier *dpop.Verifier
	// Tokens validates the access tokens (required); wrap it in a [Cache]
	// so each token is validated once.
	Tokens TokenValidator
	// AllowBearer also accepts tokens that are not DPoP-bound under the
	// Bearer scheme (RFC 6750), and adds a Bearer challenge to every 401.
	// A DPoP-bound token under Bearer is always refused (RFC 9449 §7.2).
	// By default only the DPoP scheme is accepted.
	AllowBearer bool
	// BaseURL is the public URL of the resource (scheme, host, optional
	// path prefix), e.g. "https://api.example.com". A proof's htu is
	// compared with BaseURL joined with the request's escaped path. Set it
	// whenever the server is behind a proxy or load balancer: without it
	// the URL is rebuilt from r.Host and r.TLS, which is what the client
	// addressed only when it talks to this server directly.
	BaseURL string
	// RequiredScopes are scopes the token must all grant; a token that
	// lacks one is answered with 403 insufficient_scope.
	RequiredScopes []string
	// NonceOnSuccess sends a fresh DPoP-Nonce (from the verifier's
	// NonceSource) on every successfully authenticated DPoP request, so
	// clients rarely meet a use_dpop_nonce error (RFC 9449 §8.2).
	NonceOnSuccess bool
	// Realm, when set, is the realm parameter of every challenge.
	Realm string
	// ResourceMetadata, when set, is the URL of this resource's RFC 9728
	// metadata, sent as the resource_metadata parameter of every
	// challenge (RFC 9728 §5.1).
	ResourceMetadata string
	// MaxTokenSize caps the access token; 0 means DefaultMaxTokenSize.
	MaxTokenSize int
}

// Middleware protects HTTP handlers with DPoP-bound access tokens
// (RFC 9449 §7) and, optionally, Bearer tokens (RFC 6750). It is safe for
// concurrent use.
type Middleware struct {
	verifier     *dpop.Verifier
	tokens       TokenValidator
	allowBearer  bool
	base         string
	scopes       []string
	scopeParam   string
	nonceSuccess bool
	realm        string
	metadata     string
	maxToken     int
	algs         string
}

// New returns a middleware configured by opts.
func New(opts Options) (*Middleware, error) {
	if opts.Verifier == nil {
		return nil, errors.New("resource: Options.Verifier is required")
	}
	if opts.Tokens == nil {
		return nil, errors.New("resource: Options.Tokens is required")
	}
	m := &Middleware{
		verifier:     opts.Verifier,
		tokens:       opts.Tokens,
		allowBearer:  opts.AllowBearer,
		scopes:       slices.Clone(opts.RequiredScopes),
		nonceSuccess: opts.NonceOnSuccess,
		realm:        opts.Realm,
		metadata:     opts.ResourceMetadata,
		maxToken:     opts.MaxTokenSize,
	}
	if opts.BaseURL != "" {
		b, err := dpop.NormalizeURL(opts.BaseURL)
		if err != nil {
			return nil, errors.New("resource: Options.BaseURL is not an absolute http(s) URL")
		}
		if strings.ContainsAny(opts.BaseURL, "?#") {
			return nil, errors.New("resource: Options.BaseURL must not have a query or fragment")
		}
		m.base = b
	}
	for _, s := range m.scopes {
		if s == "" || sanitize(s) != s || strings.ContainsRune(s, ' ') {
			return nil, errors.New("resource: a required scope is not a valid scope-token")
		}
	}
	m.scopeParam = strings.Join(m.scopes, " ")
	for _, v := range []string{opts.Realm, opts.ResourceMetadata} {
		if sanitize(v) != v {
			return nil, errors.New("resource: Realm and ResourceMetadata must be printable ASCII without '\"' or '\\'")
		}
	}
	if m.maxToken <= 0 {
		m.maxToken = DefaultMaxTokenSize
	}
	names := make([]string, 0, len(opts.Verifier.Algorithms()))
	for _, a := range opts.Verifier.Algorithms() {
		names = append(names, string(a))
	}
	m.algs = strings.Join(names, " ")
	return m, nil
}

// Wrap returns a handler that authenticates each request and calls next
// only for an accepted one, with the [Caller] in the request context.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, f := m.authenticate(r)
		if f != nil {
			m.writeFailure(w, f)
			return
		}
		if m.nonceSuccess && caller.Scheme == SchemeDPoP {
			if ns := m.verifier.NonceSource(); ns != nil {
				// A nonce source that fails here only costs the client
				// an extra round trip later; the request itself is good.
				if n, err := ns.Nonce(r.Context()); err == nil && dpop.IsValidNonce(n) {
					w.Header().Set("DPoP-Nonce", n)
					w.Header().Set("Cache-Control", "no-store")
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), caller)))
	})
}

// failure is a refused request.
type failure struct {
	status int
	// scheme is the challenge that carries the error; "" with all false
	// means no error parameter at all.
	scheme Scheme
	all    bool
	code   string
	desc   string
	scope  string
	nonce  string
}

// Fixed error descriptions. None repeats anything from the request.
const (
	descMultiple   = "Multiple methods used to include access token"
	descMalformed  = "Malformed Authorization header"
	descInvalid    = "Invalid token"
	descDowngrade  = "DPoP-bound token presented with the Bearer scheme"
	descUnbound    = "Token is not DPoP-bound"
	descBadURI     = "Request URI cannot be checked"
	descScope      = "Insufficient scope"
	descProofError = "Invalid DPoP proof"
)

func (m *Middleware) authenticate(r *http.Request) (*Caller, *failure) {
	lines := r.Header.Values("Authorization")
	queryToken := strings.Contains(r.URL.RawQuery, "access_token=") && r.URL.Query().Has("access_token")
	if len(lines) > 1 || (len(lines) == 1 && queryToken) {
		return nil, &failure{status: http.StatusBadRequest, all: true, code: dpop.CodeInvalidRequest, desc: descMultiple}
	}
	if len(lines) == 0 {
		// No credentials in a supported form: a challenge with no error
		// (RFC 6750 §3.1, RFC 9449 §7.2). A token in the query is not
		// supported (bearer_methods_supported is ["header"]).
		return nil, &failure{status: http.StatusUnauthorized}
	}
	rawScheme, token, wellFormed := parseAuthorization(lines[0])
	var scheme Scheme
	switch {
	case strings.EqualFold(rawScheme, string(SchemeDPoP)):
		scheme = SchemeDPoP
	case m.allowBearer && strings.EqualFold(rawScheme, string(SchemeBearer)):
		scheme = SchemeBearer
	default:
		// Another scheme (Basic, or Bearer when it is disabled): no
		// credentials for this resource.
		return nil, &failure{status: http.StatusUnauthorized}
	}
	if !wellFormed {
		return nil, &failure{status: http.StatusBadRequest, scheme: scheme, code: dpop.CodeInvalidRequest, desc: descMalformed}
	}
	if len(token) > m.maxToken {
		return nil, &failure{status: http.StatusUnauthorized, scheme: scheme, code: dpop.CodeInvalidToken, desc: descInvalid}
	}
	ctx := r.Context()
	info, err := m.tokens.ValidateToken(ctx, token)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, &failure{status: http.StatusServiceUnavailable}
		}
		return nil, &failure{status: http.StatusUnauthorized, scheme: scheme, code: dpop.CodeInvalidToken, desc: descInvalid}
	}
	if info == nil {
		return nil, &failure{status: http.StatusUnauthorized, scheme: scheme, code: dpop.CodeInvalidToken, desc: descInvalid}
	}
	caller := &Caller{
		Subject:  info.Subject,
		ClientID: info.ClientID,
		Scopes:   info.Scopes,
		Scheme:   scheme,
		Expiry:   info.Expiry,
		Claims:   info.Claims,
	}
	switch scheme {
	case SchemeBearer:
		if info.JKT != "" {
			// RFC 9449 §7.2: downgrade of a bound token.
			return nil, &failure{status: http.StatusUnauthorized, scheme: SchemeBearer, code: dpop.CodeInvalidToken, desc: descDowngrade}
		}
	case SchemeDPoP:
		if info.JKT == "" {
			// Checklist A5: the DPoP scheme is for bound tokens only.
			return nil, &failure{status: http.StatusUnauthorized, scheme: SchemeDPoP, code: dpop.CodeInvalidToken, desc: descUnbound}
		}
		proof, err := dpop.ProofFromHeader(r.Header)
		if err != nil {
			return nil, proofFailure(err)
		}
		u, err := m.requestURL(r)
		if err != nil {
			return nil, &failure{status: http.StatusBadRequest, scheme: SchemeDPoP, code: dpop.CodeInvalidRequest, desc: descBadURI}
		}
		p, err := m.verifier.Verify(ctx, proof, dpop.Request{
			Method:      r.Method,
			URL:         u,
			AccessToken: token,
			BoundKey:    info.JKT,
		})
		if err != nil {
			return nil, proofFailure(err)
		}
		caller.JKT = p.JKT
	}
	for _, s := range m.scopes {
		if !slices.Contains(info.Scopes, s) {
			return nil, &failure{status: http.StatusForbidden, scheme: scheme, code: "insufficient_scope", desc: descScope, scope: m.scopeParam}
		}
	}
	return caller, nil
}

// proofFailure maps an error of the core to a response (checklist A3).
func proofFailure(err error) *failure {
	var e *dpop.Error
	if !errors.As(err, &e) {
		return &failure{status: http.StatusUnauthorized, scheme: SchemeDPoP, code: dpop.CodeInvalidProof, desc: descProofError}
	}
	f := &failure{status: http.StatusUnauthorized, scheme: SchemeDPoP, code: e.Code, desc: e.Description, nonce: e.Nonce}
	switch e.Code {
	case dpop.CodeInvalidProof, dpop.CodeUseNonce, dpop.CodeInvalidToken:
	case dpop.CodeTemporarilyUnavailable:
		return &failure{status: http.StatusServiceUnavailable}
	default:
		f.code, f.desc = dpop.CodeInvalidProof, descProofError
	}
	return f
}

// requestURL is the URL the client addressed: BaseURL joined with the
// escaped path, or, without BaseURL, one rebuilt from r.TLS and r.Host.
func (m *Middleware) requestURL(r *http.Request) (string, error) {
	base := m.base
	if base == "" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		base = scheme + r.Host
	}
	return dpop.JoinURL(base, r.URL.EscapedPath())
}

// parseAuthorization splits a credentials value (RFC 9110 §11.4) into its
// scheme and a token68. ok is false when what follows the scheme is not
// exactly one token68 after one or more spaces.
func parseAuthorization(v string) (scheme, token string, ok bool) {
	i := strings.IndexByte(v, ' ')
	if i < 0 {
		return v, "", false
	}
	scheme = v[:i]
	token = strings.TrimLeft(v[i:], " ")
	return scheme, token, dpop.IsToken68(token)
}

// challenges returns the challenges of the schemes this resource accepts,
// Bearer first, with f's error in the challenge(s) it concerns.
func (m *Middleware) challenges(f *failure) string {
	cs := make([]challenge, 0, 2)
	if m.allowBearer {
		cs = append(cs, challenge{scheme: SchemeBearer, realm: m.realm, metadata: m.metadata})
	}
	cs = append(cs, challenge{scheme: SchemeDPoP, realm: m.realm, algs: m.algs, metadata: m.metadata})
	for i := range cs {
		if f.code != "" && (f.all || cs[i].scheme == f.scheme) {
			cs[i].err, cs[i].description, cs[i].scope = f.code, f.desc, f.scope
		}
	}
	return joinChallenges(cs)
}

func (m *Middleware) writeFailure(w http.ResponseWriter, f *failure) {
	h := w.Header()
	if f.status == http.StatusServiceUnavailable {
		h.Set("Cache-Control", "no-store")
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	h.Set("WWW-Authenticate", m.challenges(f))
	if f.nonce != "" && dpop.IsValidNonce(f.nonce) {
		h.Set("DPoP-Nonce", f.nonce)
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(f.status)
}
