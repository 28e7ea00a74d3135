package atproto

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
)

// DefaultScope is the scope a login asks for when Config.Scope is empty.
const DefaultScope = "atproto"

// Config describes a client application.
type Config struct {
	// ClientID is the https URL of the client's metadata document
	// (confidential and web clients), or a loopback client id made by
	// [LoopbackClientID] (public clients in development, AT Protocol
	// OAuth "localhost client").
	ClientID string
	// RedirectURI is where the authorization server sends the user back
	// with the authorization response. It must be one of the client's
	// redirect URIs.
	RedirectURI string
	// Scope is the space-separated scope asked for; empty means
	// DefaultScope. It must include atproto.
	Scope string
	// ClientKey makes the client confidential: it authenticates with
	// private_key_jwt, signing with this key, which its metadata document
	// must publish (jwks or jwks_uri). nil makes a public client
	// (token_endpoint_auth_method none).
	ClientKey *client.ClientKey
	// Resolver resolves identities and servers; nil means a zero
	// Resolver (the system's DNS and the public PLC directory).
	Resolver *Resolver
	// HTTPClient sends the requests to the authorization server and the
	// PDS, under the DPoP transport: its Transport is the base, and its
	// Timeout is kept. nil means http.DefaultTransport and no timeout
	// beyond the contexts'.
	HTTPClient *http.Client
	// Store keeps sessions; nil means sessions live in memory only.
	Store Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LoopbackClientID returns the client id of a public client in
// development (the AT Protocol's loopback client): http://localhost with
// redirect_uri and scope as query parameters, no metadata document.
// redirectURI should be http://127.0.0.1:<port>/<path>.
func LoopbackClientID(redirectURI, scope string) string {
	q := url.Values{}
	if redirectURI != "" {
		q.Set("redirect_uri", redirectURI)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	if len(q) == 0 {
		return "http://localhost"
	}
	return "http://localhost?" + q.Encode()
}

// App is a client application that logs users in to their AT Protocol
// accounts. It is safe for concurrent use.
type App struct {
	cfg   Config
	scope string
}

// NewApp checks cfg and returns an App. For a metadata document client
// id, the document [App.ClientMetadata] makes must pass
// [client.ClientMetadata.Validate]. Every refusal wraps [ErrConfig].
func NewApp(cfg Config) (*App, error) {
	scope := cfg.Scope
	if scope == "" {
		scope = DefaultScope
	}
	if !slices.Contains(strings.Fields(scope), "atproto") {
		return nil, newErr(ErrConfig, "new app", "a scope with atproto", quoteShort(scope), nil)
	}
	u, err := url.Parse(cfg.ClientID)
	if err != nil || u.Host == "" {
		return nil, newErr(ErrConfig, "new app", "a client_id URL", quoteShort(cfg.ClientID), err)
	}
	switch {
	case u.Scheme == "http" && u.Host == "localhost" && (u.Path == "" || u.Path == "/"):
		if cfg.ClientKey != nil {
			return nil, newErr(ErrConfig, "new app", "no ClientKey for a loopback client id (it is public)", "a ClientKey", nil)
		}
	case u.Scheme == "https" && u.Fragment == "" && u.User == nil:
	default:
		return nil, newErr(ErrConfig, "new app", "an https metadata document URL or http://localhost client id", quoteShort(cfg.ClientID), nil)
	}
	if _, err := url.Parse(cfg.RedirectURI); err != nil || cfg.RedirectURI == "" {
		return nil, newErr(ErrConfig, "new app", "a redirect URI", quoteShort(cfg.RedirectURI), err)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = &Resolver{}
	}
	a := &App{cfg: cfg, scope: scope}
	if doc := a.ClientMetadata(); doc != nil {
		// The document the App serves must pass the client package's own
		// rules for one (client_id path, redirect URIs, auth method).
		if err := doc.Validate(); err != nil {
			return nil, newErr(ErrConfig, "new app", "", "", err)
		}
	}
	return a, nil
}

func (a *App) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now()
	}
	return time.Now()
}

func (a *App) authMethod() string {
	if a.cfg.ClientKey != nil {
		return AuthPrivateKeyJWT
	}
	return AuthNone
}

// Request is a login in progress, between [App.Start] and [App.Callback].
// Keep it until the callback (a web application keys it by State); it
// holds the new session's private DPoP key, so treat it as a secret.
type Request struct {
	// URL is the authorization URL to send the user's browser to.
	URL string
	// State is the state parameter of the request.
	State string
	// DID, Handle and PDS are the account the login started from; all
	// empty when it started from a server URL.
	DID, Handle, PDS string
	// Issuer is the authorization server.
	Issuer string
	// Metadata is the authorization server's metadata.
	Metadata *client.Metadata
	// Verifier is the PKCE code verifier.
	Verifier string
	// Key is the new DPoP key of the session.
	Key *dpop.Key
	// Nonces are the DPoP nonces learnt so far, by origin.
	Nonces map[string]string
	// Created is when the request was pushed.
	Created time.Time
}

// Start begins a login from what the user typed: a handle
// ("alice.bsky.social", with or without "@"), a DID, or the https URL of
// a PDS or of an authorization server (an entryway). It resolves the
// account and its authorization server, checks the server's metadata
// against the profile ([CheckProfile]), makes a new DPoP key for the
// session, and pushes the authorization request (RFC 9126) with a proof,
// PKCE S256, a random state and login_hint. Send the user to Request.URL.
func (a *App) Start(ctx context.Context, input string) (*Request, error) {
	req := &Request{Created: a.now()}
	r := a.cfg.Resolver
	input = strings.TrimSpace(input)
	switch {
	case strings.HasPrefix(input, "https://") || strings.HasPrefix(input, "http://"):
		server, err := parseServerURL(input)
		if err != nil {
			return nil, newErr(ErrConfig, "start", "a server origin URL", quoteShort(input), err)
		}
		// A PDS names its authorization server; an entryway is one.
		meta, err := r.AuthorizationServer(ctx, server)
		if errors.Is(err, errNoResourceMetadata) {
			meta, err = r.Metadata(ctx, server)
		}
		if err != nil {
			return nil, err
		}
		req.Metadata = meta
	default:
		id, err := r.Resolve(ctx, input)
		if err != nil {
			return nil, err
		}
		req.DID, req.Handle, req.PDS = id.DID, id.Handle, id.PDS
		if req.Metadata, err = r.AuthorizationServer(ctx, id.PDS); err != nil {
			return nil, err
		}
	}
	if err := CheckProfile(req.Metadata, a.authMethod()); err != nil {
		return nil, err
	}
	req.Issuer = req.Metadata.Issuer
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		return nil, err
	}
	req.Key = key
	req.State = rand.Text()
	req.Verifier = oauth2.GenerateVerifier()
	nonces := new(client.MemoryNonceCache)
	ctx = a.oauthContext(ctx, req.Metadata, key, nonces)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(req.Verifier)}
	switch {
	case req.Handle != "":
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.Handle))
	case req.DID != "":
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.DID))
	}
	par, err := client.PushAuthCodeURL(ctx, a.oauthConfig(req.Metadata), req.Metadata.PushedAuthorizationRequestEndpoint, req.State, opts...)
	if err != nil {
		return nil, newErr(ErrProfile, "pushed authorization request", "201 with a request_uri", "a refusal", err)
	}
	req.URL = par.URL
	req.Nonces = nonces.Snapshot()
	return req, nil
}

// oauthConfig is the x/oauth2 configuration for one authorization server.
func (a *App) oauthConfig(meta *client.Metadata) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    a.cfg.ClientID,
		RedirectURL: a.cfg.RedirectURI,
		Scopes:      strings.Fields(a.scope),
		Endpoint: oauth2.Endpoint{
			AuthURL:   meta.AuthorizationEndpoint,
			TokenURL:  meta.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// transport returns the DPoP transport for a session's key and nonces,
// with private_key_jwt under it for a confidential client.
func (a *App) transport(issuer, tokenEndpoint, parEndpoint string, key *dpop.Key, nonces client.NonceCache) *client.Transport {
	var base http.RoundTripper = http.DefaultTransport
	if a.cfg.HTTPClient != nil && a.cfg.HTTPClient.Transport != nil {
		base = a.cfg.HTTPClient.Transport
	}
	if a.cfg.ClientKey != nil {
		endpoints := []string{tokenEndpoint}
		if parEndpoint != "" {
			endpoints = append(endpoints, parEndpoint)
		}
		base = &client.PrivateKeyJWT{
			Key: a.cfg.ClientKey, ClientID: a.cfg.ClientID, Audience: issuer,
			Endpoints: endpoints, Base: base, Now: a.cfg.Now,
		}
	}
	return &client.Transport{Key: key, Base: base, Nonces: nonces, Now: a.cfg.Now}
}

func (a *App) httpClient(t http.RoundTripper) *http.Client {
	hc := &http.Client{Transport: t}
	if a.cfg.HTTPClient != nil {
		hc.Timeout = a.cfg.HTTPClient.Timeout
	}
	return hc
}

func (a *App) oauthContext(ctx context.Context, meta *client.Metadata, key *dpop.Key, nonces client.NonceCache) context.Context {
	t := a.transport(meta.Issuer, meta.TokenEndpoint, meta.PushedAuthorizationRequestEndpoint, key, nonces)
	return context.WithValue(ctx, oauth2.HTTPClient, a.httpClient(t))
}

// Callback completes a login: it checks the authorization response (the
// query of the request to the redirect URI) against req (iss, RFC 9207;
// state), exchanges the code with the session's DPoP key, and checks the
// token response: a DPoP-bound token, sub the DID the login resolved (for
// a login started from a server: a DID whose PDS uses this authorization
// server), and a scope with atproto. The session is saved to the Store.
func (a *App) Callback(ctx context.Context, req *Request, query url.Values) (*Session, error) {
	if req == nil || req.Metadata == nil || req.Key == nil {
		return nil, newErr(ErrConfig, "callback", "the Request that Start returned", "an incomplete one", nil)
	}
	code, err := client.CheckAuthorizationResponse(query, req.State, req.Metadata)
	if err != nil {
		return nil, newErr(ErrProfile, "callback", "an authorization response for this request", "another", err)
	}
	nonces := new(client.MemoryNonceCache)
	nonces.Load(req.Nonces)
	ctx = a.oauthContext(ctx, req.Metadata, req.Key, nonces)
	tok, err := a.oauthConfig(req.Metadata).Exchange(ctx, code, oauth2.VerifierOption(req.Verifier))
	if err != nil {
		return nil, newErr(ErrProfile, "callback", "a token response", "a refusal", err)
	}
	sess := &SessionData{
		Version:       sessionVersion,
		ClientID:      a.cfg.ClientID,
		Issuer:        req.Issuer,
		TokenEndpoint: req.Metadata.TokenEndpoint,
		DID:           req.DID,
		Handle:        req.Handle,
		PDS:           req.PDS,
		Created:       a.now(),
	}
	if err := a.acceptToken(ctx, sess, tok, "callback"); err != nil {
		return nil, err
	}
	if req.DID == "" {
		// Started from a server: the account's own PDS must use this
		// authorization server (AT Protocol OAuth, after the token).
		id, err := a.cfg.Resolver.Resolve(ctx, sess.DID)
		if err != nil {
			return nil, err
		}
		meta, err := a.cfg.Resolver.AuthorizationServer(ctx, id.PDS)
		if err != nil {
			return nil, err
		}
		if meta.Issuer != req.Issuer {
			return nil, newErr(ErrSubMismatch, "callback", "an account whose PDS uses "+req.Issuer, sess.DID+" on "+id.PDS+" using "+meta.Issuer, nil)
		}
		sess.PDS, sess.Handle = id.PDS, id.Handle
	}
	key, err := req.Key.MarshalPrivateJWK()
	if err != nil {
		return nil, newErr(ErrConfig, "callback", "an exportable DPoP key", "a key that cannot be saved", err)
	}
	sess.Key = key
	sess.Nonces = nonces.Snapshot()
	s, err := a.newSession(sess, req.Key, nonces)
	if err != nil {
		return nil, err
	}
	if a.cfg.Store != nil {
		if err := a.cfg.Store.Save(ctx, s.Data()); err != nil {
			return nil, fmt.Errorf("atproto: saving the new session: %w", err)
		}
	}
	return s, nil
}

// acceptToken checks a token response and stores it in d: token_type
// DPoP, sub the session's DID (set from it when d has none yet), scope
// with atproto.
func (a *App) acceptToken(_ context.Context, d *SessionData, tok *oauth2.Token, op string) error {
	checked, err := client.CheckToken(tok, client.RequireDPoP)
	if err != nil {
		return newErr(ErrProfile, op, "token_type DPoP", quoteShort(tok.TokenType), err)
	}
	sub, _ := tok.Extra("sub").(string)
	switch {
	case !ValidDID(sub):
		return newErr(ErrSubMismatch, op, "sub a DID", quoteShort(sub), nil)
	case d.DID != "" && sub != d.DID:
		return newErr(ErrSubMismatch, op, "sub "+d.DID, sub, nil)
	}
	scope, _ := tok.Extra("scope").(string)
	if !slices.Contains(strings.Fields(scope), "atproto") {
		return newErr(ErrScope, op, "a scope with atproto", quoteShort(scope), nil)
	}
	if checked.RefreshToken == "" && d.RefreshToken != "" {
		checked.RefreshToken = d.RefreshToken
	}
	d.DID = sub
	d.Scope = scope
	d.AccessToken = checked.AccessToken
	d.RefreshToken = checked.RefreshToken
	d.Expiry = checked.Expiry
	return nil
}

// ClientMetadata returns the client metadata document of the App
// (draft-ietf-oauth-client-id-metadata-document) to serve at its
// ClientID: the redirect URI, the scope, dpop_bound_access_tokens, and for
// a confidential client private_key_jwt with the ClientKey's public key
// in jwks. A loopback client has no document: it returns nil.
func (a *App) ClientMetadata() *client.ClientMetadata {
	if strings.HasPrefix(a.cfg.ClientID, "http://localhost") {
		return nil
	}
	var keys []*client.ClientKey
	if a.cfg.ClientKey != nil {
		keys = append(keys, a.cfg.ClientKey)
	}
	return client.NewClientMetadata(a.cfg.ClientID, []string{a.cfg.RedirectURI}, a.scope, keys...)
}

// savedRequest is the JSON form of a Request.
type savedRequest struct {
	URL      string            `json:"url"`
	State    string            `json:"state"`
	DID      string            `json:"did,omitempty"`
	Handle   string            `json:"handle,omitempty"`
	PDS      string            `json:"pds,omitempty"`
	Issuer   string            `json:"issuer"`
	Metadata *client.Metadata  `json:"metadata"`
	Verifier string            `json:"code_verifier"`
	Key      json.RawMessage   `json:"dpop_key"`
	Nonces   map[string]string `json:"nonces,omitempty"`
	Created  time.Time         `json:"created"`
}

// MarshalJSON encodes the request, its private DPoP key included, for an
// application that keeps pending logins outside the process (a web
// application between Start and Callback). Store it as a secret.
func (r *Request) MarshalJSON() ([]byte, error) {
	if r.Key == nil {
		return nil, errors.New("atproto: a Request without a key")
	}
	k, err := r.Key.MarshalPrivateJWK()
	if err != nil {
		return nil, err
	}
	return json.Marshal(savedRequest{
		URL: r.URL, State: r.State, DID: r.DID, Handle: r.Handle, PDS: r.PDS, Issuer: r.Issuer,
		Metadata: r.Metadata, Verifier: r.Verifier, Key: k, Nonces: r.Nonces, Created: r.Created,
	})
}

// UnmarshalJSON decodes a request encoded by MarshalJSON.
func (r *Request) UnmarshalJSON(b []byte) error {
	var s savedRequest
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s.Metadata == nil || s.Metadata.Issuer != s.Issuer {
		return errors.New("atproto: saved request without the metadata of its issuer")
	}
	key, err := dpop.ParseKey(s.Key)
	if err != nil {
		return fmt.Errorf("atproto: saved request key: %w", err)
	}
	*r = Request{
		URL: s.URL, State: s.State, DID: s.DID, Handle: s.Handle, PDS: s.PDS, Issuer: s.Issuer,
		Metadata: s.Metadata, Verifier: s.Verifier, Key: key, Nonces: s.Nonces, Created: s.Created,
	}
	return nil
}
