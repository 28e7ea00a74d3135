package dpoptest

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// requestURIPrefix starts every request_uri (RFC 9126 §2.2).
const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

func (s *Server) asHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.serveMetadata)
	mux.HandleFunc("GET /jwks", s.serveJWKS)
	mux.HandleFunc("GET /authorize", s.serveAuthorize)
	mux.HandleFunc("POST /par", s.servePAR)
	mux.HandleFunc("POST /token", s.serveToken)
	mux.HandleFunc("POST /introspect", s.serveIntrospect)
	mux.HandleFunc("POST /register", s.serveRegister)
	return mux
}

func (s *Server) setupSigner(priv *ecdsa.PrivateKey) error {
	k, err := dpop.NewKey(priv, dpop.ES256)
	if err != nil {
		return err
	}
	kid := k.Thumbprint()
	s.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(jose.ES256)}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	s.jwks, err = json.Marshal(set)
	return err
}

// Metadata returns the authorization server's RFC 8414 metadata, as
// served at /.well-known/oauth-authorization-server.
func (s *Server) Metadata() map[string]any {
	iss := s.asURL
	if s.opts.MetadataIssuer != "" {
		iss = s.opts.MetadataIssuer
	}
	m := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                s.AuthorizationEndpoint(),
		"token_endpoint":                        s.TokenEndpoint(),
		"pushed_authorization_request_endpoint": s.PAREndpoint(),
		"jwks_uri":                              s.JWKSURL(),
		"introspection_endpoint":                s.IntrospectionEndpoint(),
		"registration_endpoint":                 s.RegistrationEndpoint(),
		"introspection_endpoint_auth_methods_supported":    []string{AuthClientSecretBasic},
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"grant_types_supported":                            []string{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported":            []string{AuthNone, AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT},
		"token_endpoint_auth_signing_alg_values_supported": []string{string(jose.ES256)},
		"authorization_response_iss_parameter_supported":   true,
		"require_pushed_authorization_requests":            false,
	}
	if s.opts.Profile == ProfileATProto {
		atprotoMetadata(m)
	}
	if s.clientIDs != nil {
		m["client_id_metadata_document_supported"] = true
	}
	s.as.Metadata().Set(m)
	return m
}

func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Metadata())
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(s.jwks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		authserver.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// parseForm parses a POST body of type application/x-www-form-urlencoded
// and refuses a repeated parameter (RFC 6749 §3.2).
func parseForm(r *http.Request) (url.Values, error) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, oauthError(dpop.CodeInvalidRequest, "the body must be application/x-www-form-urlencoded", http.StatusBadRequest)
	}
	if err := r.ParseForm(); err != nil {
		return nil, oauthError(dpop.CodeInvalidRequest, "malformed body", http.StatusBadRequest)
	}
	if err := single(r.PostForm); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

func single(v url.Values) error {
	for k, vs := range v {
		if len(vs) > 1 && k != ParamResource {
			return oauthError(dpop.CodeInvalidRequest, "a parameter is repeated", http.StatusBadRequest)
		}
	}
	return nil
}

// authzParams are the checked parameters of an authorization request.
type authzParams struct {
	redirectURI, state, scope, codeChallenge string
}

// checkAuthzParams checks an authorization request's parameters after its
// client and redirect_uri: response_type code and PKCE with S256.
func checkAuthzParams(q url.Values) (authzParams, *authserver.Error) {
	p := authzParams{redirectURI: q.Get("redirect_uri"), state: q.Get("state"), scope: q.Get("scope"), codeChallenge: q.Get("code_challenge")}
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return p, oauthError(dpop.CodeInvalidRequest, "response_type is required", http.StatusBadRequest)
		}
		return p, oauthError(authserver.CodeUnsupportedResponseType, "only response_type code is supported", http.StatusBadRequest)
	}
	if p.codeChallenge == "" {
		return p, oauthError(dpop.CodeInvalidRequest, "code_challenge is required (PKCE)", http.StatusBadRequest)
	}
	if q.Get("code_challenge_method") != "S256" {
		return p, oauthError(dpop.CodeInvalidRequest, "code_challenge_method must be S256", http.StatusBadRequest)
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(p.codeChallenge); err != nil || len(b) != sha256.Size {
		return p, oauthError(dpop.CodeInvalidRequest, "code_challenge is not a SHA-256 value", http.StatusBadRequest)
	}
	return p, nil
}

// serveAuthorize is the authorization endpoint: it approves the request
// for Options.User at once and redirects back with a code.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := s.now()
	if err := single(q); err != nil {
		s.refuse(w, r, err)
		return
	}
	c, err := s.lookupClient(r.Context(), q.Get("client_id"))
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if c == nil {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "unknown client_id", http.StatusBadRequest))
		return
	}
	jkt, pushed := "", false
	if uri := q.Get("request_uri"); uri != "" {
		p := s.st.takeRequest(uri, now)
		if p == nil || p.clientID != c.ID {
			s.refuse(w, r, oauthError(authserver.CodeInvalidRequestURI, "request_uri unknown, used or expired", http.StatusBadRequest))
			return
		}
		// RFC 9126 §4: the pushed parameters are the request.
		q, jkt, pushed = p.params, p.jkt, true
	} else if s.opts.Profile == ProfileATProto {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "pushed authorization request required (request_uri)", http.StatusBadRequest))
		return
	} else if !redirectAllowed(c, q.Get("redirect_uri")) {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "redirect_uri missing or not registered", http.StatusBadRequest))
		return
	}
	params, oerr := checkAuthzParams(q)
	var resources []string
	if oerr == nil && !c.scopeAllowed(params.scope) {
		oerr = evidence(oauthError(authserver.CodeInvalidScope, "the scope exceeds the client's", http.StatusBadRequest), "scope", c.scope, params.scope)
	}
	if oerr == nil {
		var err error
		if resources, err = s.requestedTargets(q); err != nil {
			oerr = err.(*authserver.Error)
		}
	}
	if oerr == nil && !pushed {
		var err error
		if jkt, err = authserver.AuthorizationJKT(q); err != nil {
			var ae *authserver.Error
			if !errors.As(err, &ae) {
				ae = oauthError(dpop.CodeInvalidRequest, "invalid dpop_jkt", http.StatusBadRequest)
			}
			oerr = ae
		}
	}
	if oerr != nil {
		redirect(w, r, params.redirectURI, url.Values{"error": {oerr.Err.Code}, "error_description": {oerr.Err.Description}}, params.state, s.asURL)
		return
	}
	code := randomToken()
	err = s.st.putCode(code, &codeGrant{
		clientID:      c.ID,
		redirectURI:   params.redirectURI,
		codeChallenge: params.codeChallenge,
		scope:         params.scope,
		subject:       s.opts.User,
		jkt:           jkt,
		resources:     resources,
		expires:       now.Add(CodeTTL),
	}, now)
	if err != nil {
		redirect(w, r, params.redirectURI, url.Values{"error": {dpop.CodeTemporarilyUnavailable}}, params.state, s.asURL)
		return
	}
	redirect(w, r, params.redirectURI, url.Values{"code": {code}}, params.state, s.asURL)
}

// redirect answers 302 to uri with v, state and iss (RFC 9207) added to its
// query.
func redirect(w http.ResponseWriter, r *http.Request, uri string, v url.Values, state, iss string) {
	u, err := url.Parse(uri)
	if err != nil {
		authserver.WriteError(w, oauthError(dpop.CodeInvalidRequest, "bad redirect_uri", http.StatusBadRequest))
		return
	}
	q := u.Query()
	for k, vs := range v {
		if len(vs) == 1 && vs[0] == "" {
			continue
		}
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", iss)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// servePAR is the pushed authorization request endpoint (RFC 9126, RFC
// 9449 §10.1).
func (s *Server) servePAR(w http.ResponseWriter, r *http.Request) {
	form, auth, ok := s.clientRequest(w, r, s.PAREndpoint())
	if !ok {
		return
	}
	if form.Has("request_uri") {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "request_uri is not allowed in a pushed request", http.StatusBadRequest))
		return
	}
	if !redirectAllowed(auth.client, form.Get("redirect_uri")) {
		s.refuse(w, r, oauthError(dpop.CodeInvalidRequest, "redirect_uri missing or not registered", http.StatusBadRequest))
		return
	}
	if _, oerr := checkAuthzParams(form); oerr != nil {
		s.refuse(w, r, oerr)
		return
	}
	if _, err := s.requestedTargets(form); err != nil {
		s.refuse(w, r, err)
		return
	}
	if !auth.client.scopeAllowed(form.Get("scope")) {
		s.refuse(w, r, evidence(oauthError(authserver.CodeInvalidScope, "the scope exceeds the client's", http.StatusBadRequest), "scope", auth.client.scope, form.Get("scope")))
		return
	}
	if err := s.parProofRequired(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	jkt, err := s.as.PARRequest(r.Context(), r, form)
	if err != nil {
		authserver.WriteError(w, err)
		return
	}
	if err := s.commit(auth); err != nil {
		s.refuse(w, r, err)
		return
	}
	params := url.Values{}
	for k, vs := range form {
		switch k {
		case "client_secret", "client_assertion", "client_assertion_type":
		default:
			params[k] = vs
		}
	}
	params.Set("client_id", auth.client.ID)
	uri := requestURIPrefix + randomToken()
	now := s.now()
	if err := s.st.putRequest(uri, &pushedRequest{clientID: auth.client.ID, params: params, jkt: jkt, expires: now.Add(RequestURITTL)}, now); err != nil {
		s.refuse(w, r, oauthError(dpop.CodeTemporarilyUnavailable, "", http.StatusServiceUnavailable))
		return
	}
	if err := s.as.IssueNonce(r.Context(), w); err != nil {
		authserver.WriteError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{
		"request_uri": uri,
		"expires_in":  int(RequestURITTL.Seconds()),
	})
}
