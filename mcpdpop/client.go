package mcpdpop

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
)

// ClientOptions configure [NewOAuthHandler]. The zero value is the strict
// client of the MCP DPoP profile.
type ClientOptions struct {
	// AllowBearer accepts an access token that the authorization server
	// chose not to bind (token_type Bearer, RFC 9449 §5): it is then sent
	// as "Authorization: Bearer" without a proof. By default such a token
	// is refused with [client.ErrNotDPoPBound] and no MCP request is sent
	// with it.
	AllowBearer bool
	// Nonces stores the DPoP-Nonce values of the authorization server and
	// the MCP server (RFC 9449 §8, §9); nil means an in-memory cache.
	Nonces client.NonceCache
	// CorrectClock lets the DPoP transport correct for a server whose
	// clock disagrees with the local one (see [client.Transport]).
	CorrectClock bool
}

// OAuthHandler is a go-sdk [auth.OAuthHandler] that obtains DPoP-bound
// access tokens with the authorization code flow of go-sdk's
// [auth.AuthorizationCodeHandler] and makes every MCP request carry them
// under the DPoP scheme with a fresh proof (RFC 9449 §7.1).
//
// go-sdk's streamable transport writes "Authorization: Bearer <token>"
// whatever the token's type, so the handler's [OAuthHandler.HTTPClient]
// must be the transport's HTTPClient (or use [NewClientTransport]): its
// first step rewrites the scheme of the tokens this handler issued as DPoP
// to "DPoP", and the [client.Transport] under it adds the proof with ath,
// answers use_dpop_nonce challenges of the MCP server (401) and of the
// authorization server (400), and refuses plain http except to loopback
// hosts. The POSTs, the GET stream and the DELETE that ends a session all
// pass through it.
//
// The discovery, registration, token and refresh requests of the
// authorization code flow go through the same [client.Transport], so the
// token request carries a proof (RFC 9449 §5) and the authorization
// server's nonce is handled.
type OAuthHandler struct {
	inner       *auth.AuthorizationCodeHandler
	transport   *client.Transport
	allowBearer bool
	hc          *http.Client

	mu     sync.Mutex
	issued [issuedTokens]issuedToken
	next   int
}

// issuedTokens is how many recent access tokens the handler remembers the
// type of: the current one and those a concurrent refresh just replaced.
const issuedTokens = 4

type issuedToken struct {
	hash [sha256.Size]byte
	dpop bool
	set  bool
}

var _ auth.OAuthHandler = (*OAuthHandler)(nil)

// NewOAuthHandler returns an [OAuthHandler] that proves possession of key.
// cfg is go-sdk's configuration of the authorization code flow (client
// registration, redirect URL, code fetcher; see [HeadlessFetcher] for
// tests). Its Client, when set, provides the base transport, timeout,
// redirect policy and cookie jar of the requests to the authorization
// server; cfg itself is not modified. A NewTokenSource in cfg is called as
// usual, and the tokens of the source it returns are checked too.
func NewOAuthHandler(key *dpop.Key, cfg *auth.AuthorizationCodeHandlerConfig, opts *ClientOptions) (*OAuthHandler, error) {
	if key == nil {
		return nil, errors.New("mcpdpop: NewOAuthHandler needs a key")
	}
	if cfg == nil {
		return nil, errors.New("mcpdpop: NewOAuthHandler needs an authorization code configuration")
	}
	if opts == nil {
		opts = &ClientOptions{}
	}
	h := &OAuthHandler{allowBearer: opts.AllowBearer}
	h.transport = &client.Transport{Key: key, Nonces: opts.Nonces, CorrectClock: opts.CorrectClock}

	c := *cfg
	asClient := &http.Client{Transport: h.transport}
	if cfg.Client != nil {
		h.transport.Base = cfg.Client.Transport
		asClient.Timeout = cfg.Client.Timeout
		asClient.CheckRedirect = cfg.Client.CheckRedirect
		asClient.Jar = cfg.Client.Jar
	}
	c.Client = asClient
	newSource := cfg.NewTokenSource
	c.NewTokenSource = func(ctx context.Context, oc *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
		// The first token is checked here, so that Authorize fails when the
		// server did not bind it; later ones by the wrapped source.
		if _, err := client.CheckToken(tok, h.binding()); err != nil {
			return nil, err
		}
		var src oauth2.TokenSource
		if newSource != nil {
			s, err := newSource(ctx, oc, tok)
			if err != nil {
				return nil, err
			}
			src = s
		} else {
			src = oc.TokenSource(ctx, tok)
		}
		return &recordingSource{h: h, src: client.TokenSource(src, h.binding())}, nil
	}
	if cfg.InitialTokenSource != nil {
		c.InitialTokenSource = &recordingSource{h: h, src: client.TokenSource(cfg.InitialTokenSource, h.binding())}
	}
	inner, err := auth.NewAuthorizationCodeHandler(&c)
	if err != nil {
		return nil, err
	}
	h.inner = inner
	h.hc = &http.Client{Transport: &schemeTransport{h: h, next: h.transport}}
	return h, nil
}

// binding is the token type the handler accepts.
func (h *OAuthHandler) binding() client.TokenBinding {
	if h.allowBearer {
		return client.AllowBearer
	}
	return client.RequireDPoP
}

// TokenSource implements [auth.OAuthHandler]. The tokens it returns have
// passed [client.CheckToken].
func (h *OAuthHandler) TokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	return h.inner.TokenSource(ctx)
}

// Authorize implements [auth.OAuthHandler]: it runs go-sdk's authorization
// code flow (RFC 9728 and RFC 8414 discovery, registration, PKCE, RFC 8707
// resource, RFC 9207 iss) with a DPoP proof on the token request.
func (h *OAuthHandler) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	return h.inner.Authorize(ctx, req, resp)
}

// HTTPClient returns the client to use as the HTTPClient of go-sdk's
// [mcp.StreamableClientTransport]: it sends the handler's tokens under the
// DPoP scheme with a proof.
func (h *OAuthHandler) HTTPClient() *http.Client { return h.hc }

// Transport returns the DPoP transport of the handler, for its nonce cache
// and clock offsets.
func (h *OAuthHandler) Transport() *client.Transport { return h.transport }

// NewClientTransport returns go-sdk's streamable client transport for the
// MCP endpoint, authorized by h.
func NewClientTransport(endpoint string, h *OAuthHandler) *mcp.StreamableClientTransport {
	return &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: h.HTTPClient(), OAuthHandler: h}
}

// record remembers the type of a token the handler's source returned.
func (h *OAuthHandler) record(tok *oauth2.Token) {
	sum := sha256.Sum256([]byte(tok.AccessToken))
	isDPoP := strings.EqualFold(tok.TokenType, "DPoP")
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.issued {
		if h.issued[i].set && h.issued[i].hash == sum {
			h.issued[i].dpop = isDPoP
			return
		}
	}
	h.issued[h.next] = issuedToken{hash: sum, dpop: isDPoP, set: true}
	h.next = (h.next + 1) % issuedTokens
}

// isDPoPToken reports whether token was issued to this handler as a
// DPoP-bound token.
func (h *OAuthHandler) isDPoPToken(token string) bool {
	sum := sha256.Sum256([]byte(token))
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.issued {
		if t.set && t.hash == sum {
			return t.dpop
		}
	}
	return false
}

// recordingSource passes on the checked tokens of src and records their
// type for the scheme rewrite.
type recordingSource struct {
	h   *OAuthHandler
	src oauth2.TokenSource
}

func (s *recordingSource) Token() (*oauth2.Token, error) {
	tok, err := s.src.Token()
	if err != nil {
		return nil, err
	}
	s.h.record(tok)
	return tok, nil
}

// schemeTransport rewrites "Authorization: Bearer <token>", which go-sdk
// writes, to "Authorization: DPoP <token>" when the handler issued the
// token as DPoP-bound, and passes the request to the DPoP transport, which
// signs it. Any other Authorization value is passed on unchanged.
type schemeTransport struct {
	h    *OAuthHandler
	next http.RoundTripper
}

func (t *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	v := req.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && len(req.Header.Values("Authorization")) == 1 && t.h.isDPoPToken(token) {
		r := req.Clone(req.Context())
		r.Header.Set("Authorization", "DPoP "+token)
		return t.next.RoundTrip(r)
	}
	return t.next.RoundTrip(req)
}
