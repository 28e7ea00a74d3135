package dpoptest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/internal/syntax"
)

// Client authentication methods (RFC 7591 §2, RFC 7523).
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// IDs of the registered clients.
const (
	PublicClientID       = "public-client"
	ConfidentialClientID = "confidential-client"
	JWTClientID          = "jwt-client"
	BearerClientID       = "bearer-client"

	// ConfidentialClientSecret is the secret of ConfidentialClientID.
	ConfidentialClientSecret = "confidential-secret"
)

// ClientAssertionType is the client_assertion_type of RFC 7523 §2.2.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Client is a registered client.
type Client struct {
	ID     string
	Secret string // "" for public and private_key_jwt clients
	Public bool
	// AuthMethod is "none", "client_secret_basic", "client_secret_post"
	// or "private_key_jwt". The confidential client accepts both
	// client_secret_basic (its AuthMethod) and client_secret_post.
	AuthMethod string
	// RedirectURIs are accepted besides every loopback redirect URI
	// http://127.0.0.1:<port>/<path> and http://localhost:<port>/<path>
	// (RFC 8252 §7.3).
	RedirectURIs []string
	// Key is the private_key_jwt client's assertion signing key (ES256);
	// nil otherwise.
	Key *dpop.Key
	// Signer is Key's private key as a crypto.Signer, for
	// client.NewClientKey; nil otherwise.
	Signer crypto.Signer
	// DPoPBound is the client's dpop_bound_access_tokens (RFC 9449 §5.2).
	DPoPBound bool

	// scope is the client's declared scope, when declaredScope: the
	// requested scope must be among it (metadata documents, AT Protocol
	// loopback clients).
	scope         string
	declaredScope bool

	// keys verify a registered private_key_jwt client's assertions (its
	// RFC 7591 jwks); the built-in jwt-client uses Key.
	keys []jose.JSONWebKey
	// exactRedirects: only RedirectURIs are accepted (a registered client),
	// with any port on a loopback one (RFC 8252 §7.3).
	exactRedirects bool
}

func (c Client) clone() Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.keys = slices.Clone(c.keys)
	return c
}

// assertionKeys returns the public keys that may sign c's assertions.
func (c *Client) assertionKeys() []any {
	var out []any
	if c.Key != nil {
		out = append(out, c.Key.Public())
	}
	for _, k := range c.keys {
		out = append(out, k.Key)
	}
	return out
}

func (s *Server) registerClients() error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	key, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		return err
	}
	s.privs = map[string]*ecdsa.PrivateKey{JWTClientID: priv}
	s.clients = map[string]*Client{}
	for _, c := range []Client{
		{ID: PublicClientID, Public: true, AuthMethod: AuthNone, DPoPBound: true},
		{ID: ConfidentialClientID, Secret: ConfidentialClientSecret, AuthMethod: AuthClientSecretBasic},
		{ID: JWTClientID, AuthMethod: AuthPrivateKeyJWT, Key: key, Signer: priv},
		{ID: BearerClientID, Public: true, AuthMethod: AuthNone},
	} {
		s.addClient(&c)
	}
	return nil
}

// addClient registers c, which is never changed afterwards.
func (s *Server) addClient(c *Client) {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	s.clients[c.ID] = c
	s.clientOrder = append(s.clientOrder, c.ID)
}

// Clients returns the registered clients: the four built-in ones, then
// those registered dynamically, in order of registration.
func (s *Server) Clients() []Client {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	out := make([]Client, len(s.clientOrder))
	for i, id := range s.clientOrder {
		out[i] = s.clients[id].clone()
	}
	return out
}

// RegisteredClient returns the registered client with that ID, and whether
// there is one.
func (s *Server) RegisteredClient(id string) (Client, bool) {
	if c := s.client(id); c != nil {
		return c.clone(), true
	}
	return Client{}, false
}

func (s *Server) client(id string) *Client {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	return s.clients[id]
}

// ClientAssertion returns a fresh RFC 7523 client assertion for a
// private_key_jwt client: iss and sub the client_id, aud audience (the
// issuer URL() when empty), a unique jti and a one-minute lifetime, signed
// with ES256 by the client's Key. Send it as client_assertion with
// client_assertion_type ClientAssertionType.
func (s *Server) ClientAssertion(clientID, audience string) (string, error) {
	priv := s.privs[clientID]
	if priv == nil {
		return "", errors.New("dpoptest: no private_key_jwt client " + clientID)
	}
	if audience == "" {
		audience = s.asURL
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := s.now()
	return jwt.Signed(sig).Claims(jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(time.Minute)),
		ID:       randomToken(),
	}).Serialize()
}

// authResult is an authenticated client, with the jti of its assertion
// still to be used up once the request's proof has passed.
type authResult struct {
	client *Client
	jtiKey string
	jtiExp time.Time
}

const maxAssertionLifetime = 10 * time.Minute
const assertionLeeway = 30 * time.Second

func oauthError(code, desc string, status int) *authserver.Error {
	return authserver.NewError(status, code, desc, nil)
}

// refuse logs a refusal of the server's own rules (not those of
// authserver, which logs its own) and writes it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if l := s.opts.Logger; l != nil {
		level := slog.LevelInfo
		var e *authserver.Error
		if errors.As(err, &e) && e.Status >= 500 {
			level = slog.LevelWarn
		}
		l.LogAttrs(r.Context(), level, "dpoptest: request refused",
			slog.String("endpoint", r.URL.Path),
			slog.Any("error", err))
	}
	authserver.WriteError(w, err)
}

// evidence sets the evidence of e for the operator's log and returns e.
func evidence(e *authserver.Error, check, expected, got string) *authserver.Error {
	e.Err.Check, e.Err.Expected, e.Err.Got = check, expected, got
	return e
}

func invalidClient(w http.ResponseWriter, basic bool, desc string) *authserver.Error {
	if basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="dpoptest", charset="UTF-8"`)
	}
	return oauthError(authserver.CodeInvalidClient, desc, http.StatusUnauthorized)
}

// clientRequest is the first step shared by the token and PAR endpoints:
// parse the form (RFC 6749 §3.2, RFC 9126 §2.1) and authenticate the
// client, without changing any state. On failure it has written the error
// and reports false.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request, endpoint string) (url.Values, *authResult, bool) {
	form, err := parseForm(r)
	if err != nil {
		s.refuse(w, r, err)
		return nil, nil, false
	}
	auth, err := s.authenticateClient(w, r, form, endpoint)
	if err != nil {
		s.refuse(w, r, err)
		return nil, nil, false
	}
	return form, auth, true
}

// authenticateClient authenticates the client of a token or PAR request
// (RFC 6749 §2.3, RFC 7523 §3). endpoint is the URL of the endpoint, also
// accepted as an assertion audience. A used assertion jti is refused, but
// the jti is recorded only by commit, after the proof has passed, so that
// a request retried for a nonce keeps its assertion.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, form url.Values, endpoint string) (*authResult, error) {
	user, pass, basic := r.BasicAuth()
	formID := form.Get("client_id")
	_, hasSecret := form["client_secret"]
	_, hasAssertion := form["client_assertion"]
	methods := 0
	for _, b := range []bool{basic, hasSecret, hasAssertion} {
		if b {
			methods++
		}
	}
	if methods > 1 {
		return nil, oauthError(dpop.CodeInvalidRequest, "more than one client authentication method", http.StatusBadRequest)
	}
	switch {
	case basic:
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, invalidClient(w, true, "malformed client credentials")
		}
		if formID != "" && formID != id {
			return nil, oauthError(dpop.CodeInvalidRequest, "client_id does not match the authenticated client", http.StatusBadRequest)
		}
		c := s.client(id)
		if c == nil || c.AuthMethod != AuthClientSecretBasic || !secretEqual(c.Secret, secret) {
			return nil, authEvidence(invalidClient(w, true, "client authentication failed"), c, id, AuthClientSecretBasic)
		}
		return &authResult{client: c}, nil
	case hasSecret:
		c := s.client(formID)
		if c == nil || c.Secret == "" || (c.AuthMethod != AuthClientSecretPost && c.AuthMethod != AuthClientSecretBasic) ||
			!secretEqual(c.Secret, form.Get("client_secret")) {
			return nil, authEvidence(invalidClient(w, false, "client authentication failed"), c, formID, AuthClientSecretPost)
		}
		return &authResult{client: c}, nil
	case hasAssertion:
		return s.verifyAssertion(r.Context(), form, endpoint)
	default:
		if formID == "" {
			return nil, invalidClient(w, false, "client authentication required")
		}
		c, err := s.lookupClient(r.Context(), formID)
		if err != nil {
			return nil, err
		}
		if c == nil || c.AuthMethod != AuthNone {
			return nil, authEvidence(invalidClient(w, false, "client authentication failed"), c, formID, AuthNone)
		}
		return &authResult{client: c}, nil
	}
}

// authEvidence sets the evidence of a failed client authentication by
// method: an unknown client_id, another registered method, or a wrong
// secret (never the secret itself).
func authEvidence(e *authserver.Error, c *Client, id, method string) *authserver.Error {
	switch {
	case c == nil:
		return evidence(e, "client_id", "a registered client", id)
	case c.AuthMethod != method && !(method == AuthClientSecretPost && c.AuthMethod == AuthClientSecretBasic):
		return evidence(e, "token_endpoint_auth_method", c.AuthMethod, method)
	}
	return evidence(e, "client_secret", "the registered secret", "another secret")
}

func secretEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// verifyAssertion checks an RFC 7523 client assertion: ES256 signature by
// the client's registered key, iss = sub = client_id, aud the issuer or
// the endpoint (or the token endpoint), exp in the near future, nbf and
// iat not in the future, a jti not seen before.
func (s *Server) verifyAssertion(ctx context.Context, form url.Values, endpoint string) (*authResult, error) {
	fail := func(desc string) (*authResult, error) {
		return nil, evidence(oauthError(authserver.CodeInvalidClient, desc, http.StatusUnauthorized), "client_assertion", "a valid RFC 7523 assertion", desc)
	}
	if form.Get("client_assertion_type") != ClientAssertionType {
		return fail("unsupported client_assertion_type")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fail("malformed client assertion")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return fail("malformed client assertion")
	}
	c, err := s.lookupClient(ctx, unverified.Issuer)
	if err != nil {
		return nil, err
	}
	keys := []any(nil)
	if c != nil {
		keys = c.assertionKeys()
	}
	if c == nil || c.AuthMethod != AuthPrivateKeyJWT || len(keys) == 0 {
		return fail("client authentication failed")
	}
	if id := form.Get("client_id"); id != "" && id != c.ID {
		return fail("client_id does not match the client assertion")
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if tok.Claims(k, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fail("client assertion signature invalid")
	}
	if claims.Issuer != c.ID || claims.Subject != c.ID {
		return fail("client assertion iss and sub must be the client_id")
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool {
		return a == s.asURL || a == s.TokenEndpoint() || a == endpoint
	}) {
		return fail("client assertion audience is not this server")
	}
	now := s.now()
	if claims.Expiry == nil {
		return fail("client assertion has no exp")
	}
	exp := claims.Expiry.Time()
	if !now.Before(exp.Add(assertionLeeway)) {
		return fail("client assertion expired")
	}
	if exp.After(now.Add(maxAssertionLifetime)) {
		return fail("client assertion lives too long")
	}
	if claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)) {
		return fail("client assertion not yet valid")
	}
	if claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)) {
		return fail("client assertion issued in the future")
	}
	if claims.ID == "" {
		return fail("client assertion has no jti")
	}
	key := c.ID + " " + claims.ID
	if s.st.assertionSeen(key, now) {
		return fail("client assertion already used")
	}
	return &authResult{client: c, jtiKey: key, jtiExp: exp.Add(assertionLeeway)}, nil
}

// commit uses up the assertion's jti, if any.
func (s *Server) commit(a *authResult) error {
	if a.jtiKey == "" || s.st.useAssertion(a.jtiKey, a.jtiExp, s.now()) {
		return nil
	}
	return oauthError(authserver.CodeInvalidClient, "client assertion already used", http.StatusUnauthorized)
}

// redirectAllowed reports whether uri is a redirect URI of c: one of its
// registered URIs, or a loopback http URI with a port (RFC 8252 §7.3).
func redirectAllowed(c *Client, uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if c.exactRedirects {
		return slices.ContainsFunc(c.RedirectURIs, func(reg string) bool { return sameLoopbackRedirect(reg, uri) })
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || strings.Contains(uri, "#") || u.Opaque != "" {
		return false
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		return false
	}
	return syntax.IsLoopbackHost(host)
}

// sameLoopbackRedirect reports whether uri is the registered loopback
// redirect URI reg with another port (RFC 8252 §7.3).
func sameLoopbackRedirect(reg, uri string) bool {
	r, err1 := url.Parse(reg)
	u, err2 := url.Parse(uri)
	if err1 != nil || err2 != nil || r.Scheme != "http" || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	if !syntax.IsLoopbackHost(r.Hostname()) || r.Hostname() != u.Hostname() {
		return false
	}
	return r.EscapedPath() == u.EscapedPath() && r.RawQuery == u.RawQuery
}
