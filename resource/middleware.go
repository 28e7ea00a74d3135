package resource

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/internal/syntax"
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
	// Tokens validates the access tokens (required); wrap it in a [TokenCache]
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
	// Logger, when set, receives one record for each refusal, with the
	// request's method and path and the error's evidence (status, code,
	// the check that failed, expected and got; never a whole token, a
	// secret or a private key): level Debug for the refusals of an
	// ordinary exchange (no credentials yet, use_dpop_nonce), Info for
	// other client errors, Warn for 503 (a replay store, nonce source,
	// key set or introspection endpoint that could not answer). Nothing
	// is logged when it is nil.
	Logger *slog.Logger
	// OnRefusal, when set, is called with each refused request and its
	// error, after the Logger (e.g. for metrics). It must not write a
	// response.
	OnRefusal func(r *http.Request, err *Error)
	// MaxTokenSize caps the access token, in bytes; 0 means
	// DefaultMaxTokenSize. A longer token is refused with invalid_token
	// before it reaches the validator. A [JWTValidator] has a limit of its
	// own (JWTOptions.MaxTokenSize, same default): NewMiddleware returns an
	// error when that limit is the smaller one.
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
	logger       *slog.Logger
	onRefusal    func(*http.Request, *Error)
}

// NewMiddleware returns a middleware configured by opts.
func NewMiddleware(opts Options) (*Middleware, error) {
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
		logger:       opts.Logger,
		onRefusal:    opts.OnRefusal,
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
		if !syntax.IsNQChars(s) {
			return nil, errors.New("resource: a required scope is not a valid scope-token")
		}
	}
	m.scopeParam = strings.Join(m.scopes, " ")
	for _, v := range []string{opts.Realm, opts.ResourceMetadata} {
		if !syntax.IsParamText(v) {
			return nil, errors.New("resource: Realm and ResourceMetadata must be printable ASCII without '\"' or '\\'")
		}
	}
	if m.maxToken <= 0 {
		m.maxToken = DefaultMaxTokenSize
	}
	if l, ok := opts.Tokens.(tokenSizeLimiter); ok {
		if n := l.maxTokenSize(); n > 0 && n < m.maxToken {
			return nil, fmt.Errorf("resource: Options.MaxTokenSize (%d) is larger than the token validator's limit (%d): set JWTOptions.MaxTokenSize too", m.maxToken, n)
		}
	}
	names := make([]string, 0, len(opts.Verifier.Algorithms()))
	for _, a := range opts.Verifier.Algorithms() {
		names = append(names, string(a))
	}
	m.algs = strings.Join(names, " ")
	return m, nil
}

// tokenSizeLimiter is a validator with a token size limit of its own
// ([JWTValidator], or a [TokenCache] in front of one), which must not be
// below the middleware's.
type tokenSizeLimiter interface{ maxTokenSize() int }

// Wrap returns a handler that authenticates each request with
// [Middleware.Authenticate] and calls next only for an accepted one, with
// the [Caller] in the request context; a refused request is answered by
// [WriteError].
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := m.Authenticate(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		if caller.Nonce != "" {
			w.Header().Set("DPoP-Nonce", caller.Nonce)
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), caller)))
	})
}

// Authenticate runs every check of the middleware on r: the Authorization
// field (RFC 6750 §2.1, RFC 9449 §7.1), the access token with the
// [TokenValidator], the DPoP proof with the verifier (RFC 9449 §4.3, with
// ath and the token's cnf.jkt, §6), the downgrade rule (§7.2) and the
// required scopes. It returns the verified caller, or an *[Error] saying
// how to answer: write it with [WriteError], or, in another framework,
// send its Status, its Challenge as WWW-Authenticate, and its nonce as
// DPoP-Nonce.
//
// A token sent by a second method, in the query or in an
// application/x-www-form-urlencoded body, is refused with 400
// invalid_request (RFC 6750 §2, §3.1), whatever the percent-encoding of
// its name. The body is looked at only once the token and the proof have
// passed: at most [MaxFormPeek] bytes are read and put back in r.Body, so a
// handler still reads the whole body.
//
// Each refusal is reported to Options.Logger and Options.OnRefusal, when
// set, before Authenticate returns.
//
// With Options.NonceOnSuccess the caller of an accepted DPoP request
// carries a fresh nonce to send with the response (Caller.Nonce).
func (m *Middleware) Authenticate(r *http.Request) (*Caller, error) {
	caller, e := m.authenticate(r)
	if e != nil {
		m.refused(r, e)
		return nil, e
	}
	if m.nonceSuccess && caller.Scheme == SchemeDPoP {
		if ns := m.verifier.NonceSource(); ns != nil {
			// A nonce source that fails here only costs the client an
			// extra round trip later; the request itself is good.
			if n, err := ns.Nonce(r.Context()); err == nil && dpop.IsValidNonce(n) {
				caller.Nonce = n
			}
		}
	}
	return caller, nil
}

// refused reports a refusal to the Logger and OnRefusal, if set.
func (m *Middleware) refused(r *http.Request, e *Error) {
	if m.logger != nil {
		level := slog.LevelInfo
		switch {
		case e.Status >= 500:
			level = slog.LevelWarn
		case e.Err.Code == "" || e.Err.Code == dpop.CodeUseNonce:
			level = slog.LevelDebug
		}
		ctx := r.Context()
		if m.logger.Enabled(ctx, level) {
			m.logger.LogAttrs(ctx, level, "resource: request refused",
				slog.String("method", clip(r.Method)),
				slog.String("path", clip(r.URL.EscapedPath())),
				slog.Any("error", e))
		}
	}
	if m.onRefusal != nil {
		m.onRefusal(r, e)
	}
}

// Fixed error descriptions. None repeats anything from the request.
const (
	descMultiple     = "Multiple methods used to include access token"
	descMalformed    = "Malformed Authorization header"
	descInvalid      = "Invalid token"
	descDowngrade    = "DPoP-bound token presented with the Bearer scheme"
	descUnbound      = "Token is not DPoP-bound"
	descBadURI       = "Request URI cannot be checked"
	descScope        = "Insufficient scope"
	descProofError   = "Invalid DPoP proof"
	descUnavailable  = "Token validation temporarily unavailable"
	codeInsufficient = "insufficient_scope"
)

// evidence returns an OAuth error with its evidence for the logs.
func evidence(code, desc string, cause error, check, expected, got string) *dpop.Error {
	e := dpop.NewError(code, desc, cause)
	e.Check, e.Expected, e.Got = check, expected, got
	return e
}

// refuse returns the refusal with status and oe, whose error goes in the
// challenge of scheme, or in every challenge when all is set.
func (m *Middleware) refuse(status int, oe *dpop.Error, scheme Scheme, all bool) *Error {
	e := &Error{Status: status, Err: oe}
	if status != http.StatusServiceUnavailable {
		scope := ""
		if oe.Code == codeInsufficient {
			scope = m.scopeParam
		}
		e.Challenge = m.challenges(oe.Code, oe.Description, scope, scheme, all)
	}
	return e
}

// schemesAccepted names the schemes of this resource, for the evidence.
func (m *Middleware) schemesAccepted() string {
	if m.allowBearer {
		return "DPoP or Bearer"
	}
	return "DPoP"
}

func (m *Middleware) authenticate(r *http.Request) (*Caller, *Error) {
	lines := r.Header.Values("Authorization")
	queryToken := hasTokenParam(r.URL.RawQuery)
	if len(lines) > 1 {
		return nil, m.refuse(http.StatusBadRequest, evidence(dpop.CodeInvalidRequest, descMultiple, ErrMultipleMethods,
			"header", "one Authorization field", strconv.Itoa(len(lines))+" Authorization fields"), "", true)
	}
	if len(lines) == 1 && queryToken {
		return nil, m.refuse(http.StatusBadRequest, evidence(dpop.CodeInvalidRequest, descMultiple, ErrMultipleMethods,
			"header", "the token in the Authorization field only", "Authorization field and access_token query parameter"), "", true)
	}
	if len(lines) == 0 {
		// No credentials in a supported form: a challenge with no error
		// (RFC 6750 §3.1, RFC 9449 §7.2). A token in the query is not
		// supported (bearer_methods_supported is ["header"]).
		return nil, m.refuse(http.StatusUnauthorized, evidence("", "", ErrNoCredentials, "scheme", m.schemesAccepted(), "no Authorization field"), "", false)
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
		return nil, m.refuse(http.StatusUnauthorized, evidence("", "", ErrNoCredentials, "scheme", m.schemesAccepted(), clip(rawScheme)), "", false)
	}
	if !wellFormed {
		got := "no token"
		if token != "" {
			got = "a value that is not one token68 (" + strconv.Itoa(len(token)) + " bytes)"
		}
		return nil, m.refuse(http.StatusBadRequest, evidence(dpop.CodeInvalidRequest, descMalformed, ErrMalformedAuthorization,
			"header", string(scheme)+" and one token68", got), scheme, false)
	}
	if len(token) > m.maxToken {
		return nil, m.refuse(http.StatusUnauthorized, evidence(dpop.CodeInvalidToken, descInvalid, ErrInvalidToken,
			"size", "at most "+strconv.Itoa(m.maxToken)+" bytes", strconv.Itoa(len(token))+" bytes"), scheme, false)
	}
	ctx := r.Context()
	info, err := m.tokens.ValidateToken(ctx, token)
	if err == nil && info == nil {
		err = ErrInvalidToken
	}
	if err != nil {
		return nil, m.tokenRefusal(err, token, scheme)
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
			return nil, m.refuse(http.StatusUnauthorized, evidence(dpop.CodeInvalidToken, descDowngrade, ErrDowngrade,
				"scheme", "DPoP (the token is bound to "+info.JKT+")", "Bearer"), SchemeBearer, false)
		}
	case SchemeDPoP:
		if info.JKT == "" {
			// The DPoP scheme is for bound tokens only: accepting an
			// unbound one would let a Bearer token pass as
			// proof-of-possession (RFC 9449 §7.1).
			return nil, m.refuse(http.StatusUnauthorized, evidence(dpop.CodeInvalidToken, descUnbound, ErrNotBound,
				"cnf", "a token with cnf.jkt", "a token without cnf.jkt"), SchemeDPoP, false)
		}
		proof, err := dpop.ProofFromHeader(r.Header)
		if err != nil {
			return nil, m.proofRefusal(err)
		}
		u, err := m.requestURL(r)
		if err != nil {
			return nil, m.refuse(http.StatusBadRequest, evidence(dpop.CodeInvalidRequest, descBadURI, ErrRequestURL,
				"htu", "a request URL", clip(r.URL.EscapedPath())), SchemeDPoP, false)
		}
		p, err := m.verifier.Verify(ctx, proof, dpop.Request{
			Method:      r.Method,
			URL:         u,
			AccessToken: token,
			BoundKey:    info.JKT,
		})
		if err != nil {
			return nil, m.proofRefusal(err)
		}
		caller.JKT = p.JKT
	}
	// The form-body method is looked at last, once the credentials have
	// passed, so that no body is read for a request refused anyway.
	if formBodyToken(r) {
		return nil, m.refuse(http.StatusBadRequest, evidence(dpop.CodeInvalidRequest, descMultiple, ErrMultipleMethods,
			"header", "the token in the Authorization field only", "Authorization field and access_token form parameter"), "", true)
	}
	for _, s := range m.scopes {
		if !slices.Contains(info.Scopes, s) {
			return nil, m.refuse(http.StatusForbidden, evidence(codeInsufficient, descScope, ErrInsufficientScope,
				"scope", m.scopeParam, clip(strings.Join(info.Scopes, " "))), scheme, false)
		}
	}
	return caller, nil
}

// tokenRefusal maps an error of the token validator: 503 for
// ErrUnavailable, otherwise 401 invalid_token with a fixed description.
// The evidence of a *dpop.Error in err's chain is kept for the logs.
func (m *Middleware) tokenRefusal(err error, token string, scheme Scheme) *Error {
	// The validator's own OAuth error, if any, gives the evidence; its
	// cause (the sentinel and the reason) becomes the cause here.
	cause := err
	var ve *dpop.Error
	if errors.As(err, &ve) && ve.Unwrap() != nil {
		cause = ve.Unwrap()
	}
	oe := dpop.NewError(dpop.CodeInvalidToken, descInvalid, cause)
	status := http.StatusUnauthorized
	if errors.Is(err, ErrUnavailable) {
		status = http.StatusServiceUnavailable
		oe = dpop.NewError(dpop.CodeTemporarilyUnavailable, descUnavailable, cause)
	}
	if ve != nil {
		oe.Check, oe.Expected, oe.Got = ve.Check, ve.Expected, ve.Got
	}
	if oe.Check == "" {
		oe.Check, oe.Got = "token", dpop.Fingerprint(token)
	}
	return m.refuse(status, oe, scheme, false)
}

// proofRefusal maps an error of the core verifier: its own code and
// description for invalid_dpop_proof, use_dpop_nonce (with the nonce) and
// invalid_token (the key binding, RFC 9449 Figure 16), and 503 when the
// replay store or the nonce source could not answer. The verifier's error
// carries its own evidence (for the key binding: the token's cnf.jkt and
// the proof key's thumbprint).
func (m *Middleware) proofRefusal(err error) *Error {
	var e *dpop.Error
	if !errors.As(err, &e) {
		return m.refuse(http.StatusUnauthorized, dpop.NewError(dpop.CodeInvalidProof, descProofError, err), SchemeDPoP, false)
	}
	switch e.Code {
	case dpop.CodeInvalidProof, dpop.CodeUseNonce, dpop.CodeInvalidToken:
		return m.refuse(http.StatusUnauthorized, e, SchemeDPoP, false)
	case dpop.CodeTemporarilyUnavailable:
		return m.refuse(http.StatusServiceUnavailable, e, SchemeDPoP, false)
	}
	oe := evidence(dpop.CodeInvalidProof, descProofError, err, e.Check, e.Expected, e.Got)
	oe.Nonce = e.Nonce
	return m.refuse(http.StatusUnauthorized, oe, SchemeDPoP, false)
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
// Bearer first, with the error (when code is set) in the challenge of
// scheme, or in every challenge when all is set.
func (m *Middleware) challenges(code, desc, scope string, scheme Scheme, all bool) string {
	cs := make([]challenge, 0, 2)
	if m.allowBearer {
		cs = append(cs, challenge{scheme: SchemeBearer, realm: m.realm, metadata: m.metadata})
	}
	cs = append(cs, challenge{scheme: SchemeDPoP, realm: m.realm, algs: m.algs, metadata: m.metadata})
	for i := range cs {
		if code != "" && (all || cs[i].scheme == scheme) {
			cs[i].err, cs[i].description, cs[i].scope = code, desc, scope
		}
	}
	return joinChallenges(cs)
}
