package dpoptest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// Grant types.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
)

// grantInfo is the grant a token request redeems, found but not yet used
// up.
type grantInfo struct {
	subject, scope, jkt string
	resources           []string    // RFC 8707 resources of the grant
	take                func() bool // uses the grant up; false if it was gone
}

// serveToken is the token endpoint (RFC 6749 §3.2, RFC 9449 §5).
//
// The order matters: everything that can be checked without changing state
// comes first (client, grant, PKCE), then authserver.TokenRequest verifies
// the proof, and only then are the assertion jti and the code or refresh
// token used up. A request refused for a missing nonce can so be retried
// as it was.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	form, auth, ok := s.clientRequest(w, r, s.TokenEndpoint())
	if !ok {
		return
	}
	c := auth.client
	now := s.now()
	grantType := form.Get("grant_type")
	var (
		g   grantInfo
		err error
	)
	switch grantType {
	case grantAuthorizationCode:
		code := form.Get("code")
		cg := s.st.peekCode(code, now)
		switch {
		case code == "" || form.Get("code_verifier") == "":
			err = oauthError(dpop.CodeInvalidRequest, "code and code_verifier are required", http.StatusBadRequest)
		case cg == nil:
			err = evidence(oauthError(authserver.CodeInvalidGrant, "authorization code unknown, used or expired", http.StatusBadRequest),
				"code", "a live code", dpop.Fingerprint(code))
		case cg.clientID != c.ID:
			err = evidence(oauthError(authserver.CodeInvalidGrant, "authorization code unknown, used or expired", http.StatusBadRequest),
				"client_id", cg.clientID, c.ID)
		case form.Get("redirect_uri") != cg.redirectURI:
			err = evidence(oauthError(authserver.CodeInvalidGrant, "redirect_uri does not match the authorization request", http.StatusBadRequest),
				"redirect_uri", cg.redirectURI, form.Get("redirect_uri"))
		case !pkceMatches(form.Get("code_verifier"), cg.codeChallenge):
			err = evidence(oauthError(authserver.CodeInvalidGrant, "code_verifier does not match the code_challenge", http.StatusBadRequest),
				"code_verifier", "S256 of the verifier = "+cg.codeChallenge, "another verifier")
		default:
			g = grantInfo{subject: cg.subject, scope: cg.scope, jkt: cg.jkt, resources: cg.resources, take: func() bool { return s.st.takeCode(code, s.now()) }}
		}
	case grantRefreshToken:
		rt := form.Get("refresh_token")
		rg := s.st.peekRefresh(rt, now)
		switch {
		case rt == "":
			err = oauthError(dpop.CodeInvalidRequest, "refresh_token is required", http.StatusBadRequest)
		case rg == nil:
			err = evidence(oauthError(authserver.CodeInvalidGrant, "refresh token unknown, used or expired", http.StatusBadRequest),
				"refresh_token", "a live refresh token", dpop.Fingerprint(rt))
		case rg.clientID != c.ID:
			err = evidence(oauthError(authserver.CodeInvalidGrant, "refresh token unknown, used or expired", http.StatusBadRequest),
				"client_id", rg.clientID, c.ID)
		default:
			scope := rg.scope
			if form.Has("scope") {
				if !subset(form.Get("scope"), rg.scope) {
					err = evidence(oauthError(authserver.CodeInvalidScope, "the scope exceeds the one originally granted", http.StatusBadRequest),
						"scope", rg.scope, form.Get("scope"))
					break
				}
				scope = form.Get("scope")
			}
			g = grantInfo{subject: rg.subject, scope: scope, jkt: rg.jkt, resources: rg.resources, take: func() bool { return s.st.takeRefresh(rt, s.now()) }}
		}
	case grantClientCredentials:
		if c.Public {
			err = oauthError(authserver.CodeUnauthorizedClient, "a public client cannot use client_credentials", http.StatusBadRequest)
			break
		}
		g = grantInfo{subject: c.ID, scope: form.Get("scope"), take: func() bool { return true }}
	case "":
		err = oauthError(dpop.CodeInvalidRequest, "grant_type is required", http.StatusBadRequest)
	default:
		err = oauthError(authserver.CodeUnsupportedGrantType, "grant_type not supported", http.StatusBadRequest)
	}
	var aud, requested []string
	if err == nil {
		if requested, err = s.requestedTargets(form); err == nil {
			aud, err = s.narrowTargets(requested, g.resources)
		}
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	// The refresh token keeps the grant's resources, so that a refresh
	// may ask for any of them again (RFC 8707 §2.2).
	if len(g.resources) == 0 {
		g.resources = requested
	}

	binding, err := s.as.TokenRequest(r.Context(), r, authserver.TokenRequest{
		Client:    authserver.Client{ID: c.ID, Public: c.Public, DPoPBoundAccessTokens: c.DPoPBound},
		GrantType: grantType,
		GrantJKT:  g.jkt,
	})
	if err != nil {
		authserver.WriteError(w, err) // logged by authserver
		return
	}
	if err := s.commit(auth); err != nil {
		s.refuse(w, r, err)
		return
	}
	if !g.take() {
		s.refuse(w, r, oauthError(authserver.CodeInvalidGrant, "grant already used", http.StatusBadRequest))
		return
	}

	refresh := withoutRefreshToken
	if grantType != grantClientCredentials {
		refresh = withRefreshToken
	}
	resp, err := s.issue(c, grant{subject: g.subject, scope: g.scope, aud: aud, resources: g.resources}, binding, refresh)
	if err != nil {
		s.refuse(w, r, oauthError(dpop.CodeTemporarilyUnavailable, "", http.StatusServiceUnavailable))
		return
	}
	if err := s.as.IssueNonce(r.Context(), w); err != nil {
		authserver.WriteError(w, err) // logged by authserver
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// pkceMatches checks an RFC 7636 S256 code_verifier against the challenge.
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		b := verifier[i]
		if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || strings.IndexByte("-._~", b) >= 0) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// subset reports whether every scope of want is in have.
func subset(want, have string) bool {
	hs := strings.Fields(have)
	for _, w := range strings.Fields(want) {
		if !slices.Contains(hs, w) {
			return false
		}
	}
	return true
}

// tokenResponse is an RFC 6749 §5.1 token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	Subject      string `json:"sub,omitempty"` // ProfileATProto only
}

// refreshPolicy says whether a token response carries a refresh token.
type refreshPolicy int

const (
	withoutRefreshToken refreshPolicy = iota
	withRefreshToken
)

// grant is what a token response is issued for.
type grant struct {
	subject, scope string
	aud            []string // the access token's audience
	resources      []string // the refresh token's resources (RFC 8707)
}

// issue makes the access token (and refresh token) of a token response.
func (s *Server) issue(c *Client, g grant, b *authserver.Binding, refresh refreshPolicy) (*tokenResponse, error) {
	now := s.now()
	ttl := s.opts.AccessTokenTTL
	subject, scope := g.subject, g.scope
	ag := &accessGrant{
		clientID: c.ID,
		scope:    scope,
		subject:  subject,
		jkt:      b.JKT,
		jti:      randomToken(),
		aud:      g.aud,
		issued:   now,
		expires:  now.Add(ttl),
	}
	var at string
	if s.opts.OpaqueTokens {
		at = randomToken()
	} else {
		var err error
		if at, err = s.signAccessToken(ag); err != nil {
			return nil, err
		}
	}
	if err := s.st.putAccess(at, ag, now); err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: at, TokenType: b.TokenType, ExpiresIn: int64(ttl / time.Second), Scope: scope}
	if s.opts.Profile == ProfileATProto {
		resp.Subject = subject
	}
	if refresh == withRefreshToken {
		rt := randomToken()
		err := s.st.putRefresh(rt, &refreshGrant{
			clientID:  c.ID,
			scope:     scope,
			subject:   subject,
			jkt:       b.RefreshTokenJKT,
			resources: g.resources,
			expires:   now.Add(s.opts.RefreshTokenTTL),
		}, now)
		if err != nil {
			return nil, err
		}
		resp.RefreshToken = rt
	}
	return resp, nil
}

// signAccessToken makes an RFC 9068 JWT access token, bound with cnf.jkt
// (RFC 9449 §6.1) when ag has a thumbprint.
func (s *Server) signAccessToken(ag *accessGrant) (string, error) {
	claims := map[string]any{
		"iss":       s.asURL,
		"aud":       audClaim(ag.aud),
		"sub":       ag.subject,
		"client_id": ag.clientID,
		"iat":       ag.issued.Unix(),
		"exp":       ag.expires.Unix(),
		"jti":       ag.jti,
	}
	if ag.scope != "" {
		claims["scope"] = ag.scope
	}
	if err := authserver.SetConfirmation(claims, ag.jkt); err != nil {
		return "", err
	}
	return jwt.Signed(s.signer).Claims(claims).Serialize()
}

// serveIntrospect is the RFC 7662 introspection endpoint, for the resource
// server's own credentials only. Bound tokens carry cnf.jkt and token_type
// DPoP (RFC 9449 §6.2).
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if ok {
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
	}
	if !ok || user != IntrospectionClientID || !secretEqual(IntrospectionClientSecret, pass) {
		s.refuse(w, r, invalidClient(w, true, "client authentication failed"))
		return
	}
	form, err := parseForm(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	ag := s.st.lookupAccess(form.Get("token"), s.now())
	if ag == nil {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	resp := map[string]any{
		"active":     true,
		"iss":        s.asURL,
		"aud":        audClaim(ag.aud),
		"sub":        ag.subject,
		"client_id":  ag.clientID,
		"iat":        ag.issued.Unix(),
		"exp":        ag.expires.Unix(),
		"jti":        ag.jti,
		"token_type": authserver.TokenTypeBearer,
	}
	if ag.scope != "" {
		resp["scope"] = ag.scope
	}
	if err := authserver.SetIntrospection(resp, ag.jkt); err != nil {
		s.refuse(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// TokenOptions describe an access token made by [Server.MintToken]. The
// zero value is a token for Options.User and PublicClientID, no scope, the
// default audience and the default lifetime.
type TokenOptions struct {
	// Subject is the sub claim; default Options.User.
	Subject string
	// ClientID is the client_id claim; default PublicClientID.
	ClientID string
	// Scope is the space-separated scope claim; none by default.
	Scope string
	// Audience is the aud claim; default Options.Audience (ResourceURL()).
	// It is not checked against Options.Resources, so a test can mint a
	// token for another audience on purpose.
	Audience []string
	// TTL is the lifetime; default Options.AccessTokenTTL. A negative TTL
	// makes a token that expired that long ago.
	TTL time.Duration
}

// MintToken issues an access token at once, without an OAuth flow, for
// tests of a resource server: bound to the key whose RFC 7638 thumbprint
// is jkt (cnf.jkt, RFC 9449 §6), or an unbound Bearer token when jkt is
// "". It is a JWT (RFC 9068) signed with the server's key, or an opaque
// token known to the introspection endpoint with Options.OpaqueTokens.
// Send it as "Authorization: DPoP <token>" with a proof by that key.
func (s *Server) MintToken(jkt string, o TokenOptions) (string, error) {
	if jkt != "" {
		if _, err := authserver.ParseDPoPJKT(jkt); err != nil {
			return "", fmt.Errorf("dpoptest: MintToken: %w", err)
		}
	}
	if o.Subject == "" {
		o.Subject = s.opts.User
	}
	if o.ClientID == "" {
		o.ClientID = PublicClientID
	}
	if len(o.Audience) == 0 {
		o.Audience = []string{s.audience}
	}
	if o.TTL == 0 {
		o.TTL = s.opts.AccessTokenTTL
	}
	now := s.now()
	issued := now
	if o.TTL < 0 {
		issued = now.Add(2 * o.TTL)
	}
	ag := &accessGrant{
		clientID: o.ClientID,
		scope:    o.Scope,
		subject:  o.Subject,
		jkt:      jkt,
		jti:      randomToken(),
		aud:      slices.Clone(o.Audience),
		issued:   issued,
		expires:  now.Add(o.TTL),
	}
	var at string
	if s.opts.OpaqueTokens {
		at = randomToken()
	} else {
		var err error
		if at, err = s.signAccessToken(ag); err != nil {
			return "", err
		}
	}
	if err := s.st.putAccess(at, ag, now); err != nil {
		return "", err
	}
	return at, nil
}
