package dpoptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/internal/syntax"
	"github.com/dpopkit/dpop/resource"
)

// NonceMode says which servers demand DPoP nonces.
type NonceMode int

// The nonce modes.
const (
	NoncesNone NonceMode = iota
	NoncesAS             // the authorization server demands nonces (token and PAR endpoints)
	NoncesRS             // the resource server demands nonces
	NoncesBoth
)

// String returns the mode's name, as "none", "as", "rs" or "both".
func (m NonceMode) String() string {
	switch m {
	case NoncesNone:
		return "none"
	case NoncesAS:
		return "as"
	case NoncesRS:
		return "rs"
	case NoncesBoth:
		return "both"
	}
	return fmt.Sprintf("NonceMode(%d)", int(m))
}

func (m NonceMode) as() bool { return m == NoncesAS || m == NoncesBoth }
func (m NonceMode) rs() bool { return m == NoncesRS || m == NoncesBoth }

// Options configure a Server. The zero value is a strict pair of servers:
// DPoP required, no nonces, RFC 9068 JWT access tokens.
type Options struct {
	// Nonces says which servers demand nonces.
	Nonces NonceMode
	// NonceStep is the HMAC nonce time step; default 60s. Each server
	// has its own nonce scope and secret.
	NonceStep time.Duration
	// AllowBearer lets the authorization server fall back to Bearer when
	// the client sends no proof (and is not registered with
	// dpop_bound_access_tokens), and makes the resource server accept
	// unbound Bearer tokens.
	AllowBearer bool
	// Algorithms is the proof allow-list at both servers; default
	// dpop.DefaultAlgorithms().
	Algorithms []dpop.Algorithm
	// AccessTokenTTL is the lifetime of access tokens; default 5m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of refresh tokens; default 24h.
	RefreshTokenTTL time.Duration
	// OpaqueTokens makes the authorization server issue opaque access
	// tokens, which the resource server validates by introspection,
	// instead of RFC 9068 JWTs.
	OpaqueTokens bool
	// Now is the clock of both servers, for tests with a fixed clock;
	// default time.Now.
	Now func() time.Time
	// Observe is called after every request either server handled,
	// before the response is sent to the client. Calls are serialized.
	Observe func(Exchange)
	// ASAddr and RSAddr are the listen addresses; default "127.0.0.1:0"
	// each. The host must be a loopback IP address.
	ASAddr, RSAddr string
	// User is the subject approved automatically at /authorize; default
	// "alice".
	User string
	// Audience is the aud of access tokens requested without an RFC 8707
	// resource parameter; default ResourceURL(). The built-in resource
	// server accepts only tokens whose aud is ResourceURL().
	Audience string
	// BearerTokens makes the authorization server issue unbound Bearer
	// tokens even to a request with a valid proof (RFC 9449 §5 allows it),
	// except to a client registered with dpop_bound_access_tokens: for
	// testing that a client notices a token the server did not bind.
	BearerTokens bool
	// AlwaysDemandNonce makes both servers refuse every proof with
	// use_dpop_nonce and a fresh nonce, whatever nonce it carries, for
	// testing that a client retries once and then gives up. It implies
	// NoncesBoth.
	AlwaysDemandNonce bool
	// MetadataIssuer, when set, is the issuer published in the RFC 8414
	// metadata instead of URL(), for testing a client's check that the two
	// are the same (RFC 8414 §3.3). Tokens still carry URL().
	MetadataIssuer string
	// Profile selects a deployment profile; default ProfileDefault.
	Profile Profile
	// ClientIDs, when set, makes the authorization server accept https
	// client_ids that are client ID metadata document URLs
	// (draft-ietf-oauth-client-id-metadata-document), fetched with these
	// options (set AllowLoopback, and TLSConfig for an httptest TLS server,
	// to serve documents from a test). ProfileATProto enables them with
	// the zero options (public addresses only) when it is nil.
	ClientIDs *authserver.ClientIDOptions
	// Resources are the resource identifiers (RFC 8707 §2: absolute URIs
	// without a fragment) the authorization server issues tokens for,
	// besides ResourceURL() and Audience. A resource parameter at /authorize,
	// /par or /token that names another is refused with invalid_target; one
	// that is allowed becomes the access token's aud.
	Resources []string
	// Logger, when set, receives a record for every refusal of either
	// server, with its evidence (the check, expected and got; never a
	// token or a secret, which appear only as dpop.Fingerprint): at the
	// authorization server the DPoP rules' refusals through
	// authserver.Options.Logger and the server's own (client
	// authentication, grants, parameters), at the resource server the
	// middleware's through resource.Options.Logger. Nothing is logged when
	// it is nil.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultNonceStep       = 60 * time.Second
	DefaultAccessTokenTTL  = 5 * time.Minute
	DefaultRefreshTokenTTL = 24 * time.Hour
	DefaultUser            = "alice"
)

// Lifetimes of the single-use artefacts.
const (
	// CodeTTL is the lifetime of an authorization code.
	CodeTTL = 60 * time.Second
	// RequestURITTL is the lifetime of a PAR request_uri.
	RequestURITTL = 60 * time.Second
)

// The resource server's credentials at the introspection endpoint.
const (
	IntrospectionClientID     = "resource-server"
	IntrospectionClientSecret = "resource-secret"
)

// Server is an authorization server and a resource server, each on its own
// loopback port, for tests. Make one with NewServer (or NewUnstartedServer
// and Start), use URL, ResourceURL and the registered clients, and Close it.
type Server struct {
	opts Options

	asLn, rsLn   net.Listener
	asURL, rsURL string
	asSrv, rsSrv *http.Server
	wg           sync.WaitGroup

	mu              sync.Mutex
	started, closed bool
	connMu          sync.Mutex
	conns           map[net.Conn]http.ConnState

	as         *authserver.AS
	mw         *resource.Middleware
	rsNonces   dpop.NonceSource
	httpClient *http.Client // the resource server's client to the AS

	signer jose.Signer
	jwks   []byte
	privs  map[string]*ecdsa.PrivateKey // private_key_jwt signing keys

	clientsMu   sync.RWMutex
	clients     map[string]*Client
	clientOrder []string

	observeMu sync.Mutex

	st store

	clientIDs *authserver.ClientIDResolver // nil: no metadata documents

	audience string   // aud without a resource parameter
	targets  []string // resources tokens may be issued for (RFC 8707)
}

// NewServer returns a started Server.
func NewServer(opts Options) *Server {
	s := NewUnstartedServer(opts)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that listens but does not serve yet:
// its URLs are known. Call Start to serve, Close to stop. Like httptest,
// it panics when it cannot listen or is misconfigured.
func NewUnstartedServer(opts Options) *Server {
	if opts.NonceStep <= 0 {
		opts.NonceStep = DefaultNonceStep
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = dpop.DefaultAlgorithms()
	} else {
		opts.Algorithms = append([]dpop.Algorithm(nil), opts.Algorithms...)
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ASAddr == "" {
		opts.ASAddr = "127.0.0.1:0"
	}
	if opts.RSAddr == "" {
		opts.RSAddr = "127.0.0.1:0"
	}
	if opts.User == "" {
		opts.User = DefaultUser
		if opts.Profile == ProfileATProto {
			opts.User = ATProtoDefaultUser
		}
	}
	if opts.AlwaysDemandNonce || opts.Profile == ProfileATProto {
		opts.Nonces = NoncesBoth
	}
	opts.Resources = slices.Clone(opts.Resources)
	s := &Server{opts: opts, st: newStore()}
	var err error
	if s.asLn, err = listenLoopback(opts.ASAddr); err != nil {
		panic(err)
	}
	if s.rsLn, err = listenLoopback(opts.RSAddr); err != nil {
		_ = s.asLn.Close()
		panic(err)
	}
	s.asURL = "http://" + s.asLn.Addr().String()
	s.rsURL = "http://" + s.rsLn.Addr().String()
	if err := s.setup(); err != nil {
		_ = s.asLn.Close()
		_ = s.rsLn.Close()
		panic("dpoptest: " + err.Error())
	}
	return s
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dpoptest: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !syntax.IsLoopbackHost(host) {
		return nil, fmt.Errorf("dpoptest: listen address %q is not a loopback IP address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dpoptest: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// setup builds both servers from the public APIs of authserver, resource
// and dpop.
func (s *Server) setup() error {
	o := s.opts
	if err := s.setupTargets(); err != nil {
		return err
	}
	if o.ClientIDs != nil || o.Profile == ProfileATProto {
		var cio authserver.ClientIDOptions
		if o.ClientIDs != nil {
			cio = *o.ClientIDs
		}
		if cio.Now == nil {
			cio.Now = o.Now
		}
		s.clientIDs = authserver.NewClientIDResolver(cio)
	}

	// Authorization server.
	asVerifierOpts := dpop.VerifierOptions{Algorithms: o.Algorithms, Now: o.Now}
	if o.Nonces.as() {
		src, err := newNonceSource("as", o)
		if err != nil {
			return err
		}
		asVerifierOpts.Nonces = src
	}
	asVerifier, err := dpop.NewVerifier(asVerifierOpts)
	if err != nil {
		return err
	}
	s.as, err = authserver.New(authserver.Options{
		Verifier:    asVerifier,
		TokenURL:    s.TokenEndpoint(),
		PARURL:      s.PAREndpoint(),
		RequireDPoP: !o.AllowBearer,
		Logger:      o.Logger,
		BearerFallback: func(context.Context, authserver.TokenRequest, *dpop.Proof) bool {
			return o.BearerTokens
		},
	})
	if err != nil {
		return err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := s.setupSigner(priv); err != nil {
		return err
	}
	if err := s.registerClients(); err != nil {
		return err
	}

	// Resource server.
	rsVerifierOpts := dpop.VerifierOptions{Algorithms: o.Algorithms, Now: o.Now}
	if o.Nonces.rs() {
		src, err := newNonceSource("rs:"+s.rsURL, o)
		if err != nil {
			return err
		}
		rsVerifierOpts.Nonces = src
		s.rsNonces = src
	}
	rsVerifier, err := dpop.NewVerifier(rsVerifierOpts)
	if err != nil {
		return err
	}
	s.httpClient = &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
		Timeout:   10 * time.Second,
	}
	var tokens resource.TokenValidator
	if o.OpaqueTokens {
		tokens, err = resource.NewIntrospector(resource.IntrospectionOptions{
			Endpoint:     s.IntrospectionEndpoint(),
			ClientID:     IntrospectionClientID,
			ClientSecret: IntrospectionClientSecret,
			Issuer:       s.asURL,
			Audience:     s.rsURL,
			HTTPClient:   s.httpClient,
			Now:          o.Now,
		})
	} else {
		tokens, err = resource.NewJWTValidator(resource.JWTOptions{
			Issuer:     s.asURL,
			Audience:   s.rsURL,
			JWKSURL:    s.JWKSURL(),
			Algorithms: []string{string(jose.ES256)},
			HTTPClient: s.httpClient,
			Now:        o.Now,
		})
	}
	if err != nil {
		return err
	}
	s.mw, err = resource.NewMiddleware(resource.Options{
		Verifier:         rsVerifier,
		Tokens:           tokens,
		AllowBearer:      o.AllowBearer,
		BaseURL:          s.rsURL,
		NonceOnSuccess:   o.Nonces.rs(),
		ResourceMetadata: s.ResourceMetadataURL(),
		Logger:           o.Logger,
	})
	if err != nil {
		return err
	}

	s.conns = map[net.Conn]http.ConnState{}
	s.asSrv = &http.Server{Handler: s.wrap("as", s.asURL, s.asHandler()), ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	s.rsSrv = &http.Server{Handler: s.wrap("rs", s.rsURL, s.rsHandler()), ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	return nil
}

func newNonceSource(scope string, o Options) (dpop.NonceSource, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	src, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: secret, Scope: scope, Step: o.NonceStep, Now: o.Now})
	if err != nil || !o.AlwaysDemandNonce {
		return src, err
	}
	return staleNonces{src}, nil
}

// staleNonces refuses every nonce, so that every proof is answered with
// use_dpop_nonce and a fresh nonce (Options.AlwaysDemandNonce).
type staleNonces struct{ dpop.NonceSource }

func (staleNonces) Check(context.Context, string) error { return dpop.ErrNonceInvalid }

// Start starts serving on both ports. It panics if the server was already
// started or closed.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		panic("dpoptest: Start of a Server already started or closed")
	}
	s.started = true
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.asSrv.Serve(s.asLn) }()
	go func() { defer s.wg.Done(); _ = s.rsSrv.Serve(s.rsLn) }()
}

// Close stops both servers: it closes the listeners and the idle
// connections and waits for the requests in progress, up to five seconds,
// before closing their connections too. Close may be called more than
// once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		_ = s.asLn.Close()
		_ = s.rsLn.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{s.asSrv, s.rsSrv} {
		wg.Go(func() {
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
		})
	}
	// Shutdown waits five seconds for a connection on which no request
	// has come yet; a client's spare connections are closed at once.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		s.closeNewConns()
		select {
		case <-done:
			waiting = false
		case <-tick.C:
		}
	}
	s.wg.Wait()
	s.httpClient.CloseIdleConnections()
}

// trackConn follows the state of every connection, so that Close can close
// those that never carried a request.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	default:
		s.conns[c] = state
	}
}

func (s *Server) closeNewConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c, state := range s.conns {
		if state == http.StateNew || state == http.StateIdle {
			_ = c.Close()
		}
	}
}

// URL returns the issuer, the authorization server's base URL, such as
// "http://127.0.0.1:41234" (no trailing slash).
func (s *Server) URL() string { return s.asURL }

// ResourceURL returns the resource server's base URL, which is also the
// resource identifier and the aud of its access tokens. Its port differs
// from URL's, so it is another origin.
func (s *Server) ResourceURL() string { return s.rsURL }

// ResourceEndpoint returns ResourceURL() + "/resource": GET and POST answer
// the verified caller as JSON {"sub","client_id","scope","jkt","scheme"}.
func (s *Server) ResourceEndpoint() string { return s.rsURL + "/resource" }

// MetadataURL returns the RFC 8414 metadata URL of the authorization server.
func (s *Server) MetadataURL() string { return s.asURL + "/.well-known/oauth-authorization-server" }

// AuthorizationEndpoint returns URL() + "/authorize".
func (s *Server) AuthorizationEndpoint() string { return s.asURL + "/authorize" }

// TokenEndpoint returns URL() + "/token".
func (s *Server) TokenEndpoint() string { return s.asURL + "/token" }

// PAREndpoint returns URL() + "/par".
func (s *Server) PAREndpoint() string { return s.asURL + "/par" }

// IntrospectionEndpoint returns URL() + "/introspect".
func (s *Server) IntrospectionEndpoint() string { return s.asURL + "/introspect" }

// JWKSURL returns URL() + "/jwks".
func (s *Server) JWKSURL() string { return s.asURL + "/jwks" }

// ResourceMetadataURL returns the RFC 9728 metadata URL of the resource
// server.
func (s *Server) ResourceMetadataURL() string {
	path, err := resource.MetadataPath(s.rsURL)
	if err != nil {
		panic("dpoptest: " + err.Error()) // rsURL is http://127.0.0.1:port
	}
	return s.rsURL + path
}

// Options returns the options in effect, with the defaults filled in.
func (s *Server) Options() Options {
	o := s.opts
	o.Algorithms = append([]dpop.Algorithm(nil), o.Algorithms...)
	o.Resources = slices.Clone(o.Resources)
	return o
}

func (s *Server) now() time.Time { return s.opts.Now() }
