package atproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/syntax"
)

// sessionVersion is the version of the SessionData format.
const sessionVersion = 1

// refreshAhead is how long before its expiry an access token is
// refreshed.
const refreshAhead = 30 * time.Second

// SessionData is what a [Store] keeps of a session. It holds the refresh
// token and the session's private DPoP key: store it as a secret.
type SessionData struct {
	Version       int    `json:"version"`
	DID           string `json:"did"`
	Handle        string `json:"handle,omitempty"`
	PDS           string `json:"pds"`
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	ClientID      string `json:"client_id"`
	Scope         string `json:"scope"`

	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Key is the session's DPoP key as a private JWK (RFC 9449 §5: the
	// tokens are bound to it; a new one is made for every login).
	Key json.RawMessage `json:"dpop_key"`
	// Nonces are the DPoP nonces of the authorization server and the
	// PDS, by origin.
	Nonces  map[string]string `json:"nonces,omitempty"`
	Created time.Time         `json:"created,omitzero"`
	// Dead, when set, says why the session can no longer be refreshed
	// (for example "invalid_grant: Refresh token replayed").
	Dead string `json:"dead,omitempty"`
}

// Session is a logged-in account: its tokens, its DPoP key and the
// servers' nonces. It is safe for concurrent use.
type Session struct {
	app    *App
	key    *dpop.Key
	nonces *client.MemoryNonceCache

	mu sync.Mutex
	d  SessionData
}

func (a *App) newSession(d *SessionData, key *dpop.Key, nonces *client.MemoryNonceCache) (*Session, error) {
	if d.PDS == "" || d.DID == "" || d.TokenEndpoint == "" || d.Issuer == "" {
		return nil, newErr(ErrConfig, "session", "a DID, PDS, issuer and token endpoint", "a missing one", nil)
	}
	return &Session{app: a, key: key, nonces: nonces, d: *d}, nil
}

// Session returns a session from saved data: the key is read from
// d.Key, and the session must belong to this App's client_id.
func (a *App) Session(d *SessionData) (*Session, error) {
	if d == nil || d.Version != sessionVersion {
		return nil, newErr(ErrConfig, "restore session", fmt.Sprintf("session data version %d", sessionVersion), "another", nil)
	}
	if d.ClientID != a.cfg.ClientID {
		return nil, newErr(ErrConfig, "restore session", "a session of client "+a.cfg.ClientID, "one of "+quoteShort(d.ClientID), nil)
	}
	key, err := dpop.ParseKey(d.Key)
	if err != nil {
		return nil, newErr(ErrConfig, "restore session", "the session's private DPoP key", "an unreadable one", err)
	}
	nonces := new(client.MemoryNonceCache)
	nonces.Load(d.Nonces)
	cp := *d
	cp.Nonces = maps.Clone(d.Nonces)
	return a.newSession(&cp, key, nonces)
}

// Resume loads the session of did from the Store.
func (a *App) Resume(ctx context.Context, did string) (*Session, error) {
	if a.cfg.Store == nil {
		return nil, newErr(ErrNoSession, "resume", "a Store", "none configured", nil)
	}
	d, err := a.cfg.Store.Load(ctx, did)
	if err != nil {
		return nil, err
	}
	return a.Session(d)
}

// DID returns the account's DID.
func (s *Session) DID() string { return s.d.DID }

// PDS returns the URL of the account's PDS.
func (s *Session) PDS() string { return s.d.PDS }

// Handle returns the account's handle, or "".
func (s *Session) Handle() string { return s.d.Handle }

// Key returns the session's DPoP key.
func (s *Session) Key() *dpop.Key { return s.key }

// Data returns a copy of the session as a Store saves it, with the
// nonces learnt so far.
func (s *Session) Data() *SessionData {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	d.Nonces = s.nonces.Snapshot()
	return &d
}

func (s *Session) transport() *client.Transport {
	return s.app.transport(s.d.Issuer, s.d.TokenEndpoint, "", s.key, s.nonces)
}

// Refresh exchanges the refresh token for new tokens now, with the
// session's own DPoP key (RFC 9449 §5) and, for a confidential client, a
// new client assertion. The new tokens are checked as at login (DPoP
// bound, same sub, atproto scope) and saved.
//
// When the authorization server refuses the refresh token (invalid_grant:
// replayed, revoked, expired), the session is marked dead, that mark is
// saved, and the error wraps ErrSessionDead: a dead session is never
// retried with a new key, the user must log in again. Any other failure
// (network, server error) leaves the session and the stored copy as they
// were.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *Session) refreshLocked(ctx context.Context) error {
	if s.d.Dead != "" {
		return newErr(ErrSessionDead, "refresh", "a live session", "one that died: "+s.d.Dead, nil)
	}
	if s.d.RefreshToken == "" {
		return newErr(ErrSessionDead, "refresh", "a refresh token", "none", nil)
	}
	meta := &client.Metadata{Issuer: s.d.Issuer, TokenEndpoint: s.d.TokenEndpoint}
	octx := context.WithValue(ctx, oauth2.HTTPClient, s.app.httpClient(s.transport()))
	old := &oauth2.Token{RefreshToken: s.d.RefreshToken, TokenType: "DPoP", Expiry: time.Unix(1, 0)}
	tok, err := s.app.oauthConfig(meta).TokenSource(octx, old).Token()
	if err != nil {
		if ce := client.AsError(err); ce != nil && ce.Code == "invalid_grant" {
			return s.die(ctx, "invalid_grant: "+ce.Description, ce)
		}
		return newErr(ErrFetch, "refresh", "new tokens from "+s.d.TokenEndpoint, "a failure; the session is unchanged", err)
	}
	next := s.d
	if err := s.app.acceptToken(ctx, &next, tok, "refresh"); err != nil {
		// The old refresh token is spent and the answer is unusable.
		return errors.Join(err, s.die(ctx, err.Error(), nil))
	}
	next.Nonces = s.nonces.Snapshot()
	s.d = next
	if st := s.app.cfg.Store; st != nil {
		if err := st.Save(ctx, &next); err != nil {
			return fmt.Errorf("atproto: saving the refreshed session: %w", err)
		}
	}
	return nil
}

// die marks the session dead and saves the mark.
func (s *Session) die(ctx context.Context, why string, cause error) error {
	s.d.Dead = why
	s.d.AccessToken, s.d.RefreshToken = "", ""
	e := newErr(ErrSessionDead, "refresh", "the refresh token accepted", why, cause)
	if st := s.app.cfg.Store; st != nil {
		d := s.d
		d.Nonces = s.nonces.Snapshot()
		if err := st.Save(ctx, &d); err != nil {
			return errors.Join(e, fmt.Errorf("atproto: saving the dead mark: %w", err))
		}
	}
	return e
}

// accessToken returns a current access token, refreshing first when it
// is due (or when force is set and the token has not changed since stale
// was read).
func (s *Session) accessToken(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.app.now()
	due := s.d.AccessToken == "" || (!s.d.Expiry.IsZero() && !now.Add(refreshAhead).Before(s.d.Expiry))
	if (stale != "" && stale == s.d.AccessToken) || due {
		if err := s.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	return s.d.AccessToken, nil
}

// Client returns an *http.Client for requests to the account's PDS. Each
// request to the PDS's origin carries "Authorization: DPoP <token>" and a
// proof with ath (RFC 9449 §7.1), with the PDS's nonce (retried once on
// use_dpop_nonce); the token is refreshed when it is due, and once more
// if the PDS answers 401 invalid_token to a request whose body can be
// sent again. Requests to other origins are sent without the token.
func (s *Session) Client() *http.Client {
	return s.app.httpClient(&pdsTransport{s: s, t: s.transport()})
}

type pdsTransport struct {
	s *Session
	t *client.Transport
}

func (p *pdsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pds, err := url.Parse(p.s.PDS())
	if err != nil || req.URL == nil || client.Origin(req.URL) != client.Origin(pds) {
		return p.t.RoundTrip(req)
	}
	tok, err := p.s.accessToken(req.Context(), "")
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "DPoP "+tok)
	resp, err := p.t.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !invalidToken(resp) ||
		(req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, err
	}
	// The token was refused before its expiry: refresh once and retry.
	fresh, rerr := p.s.accessToken(req.Context(), tok)
	if rerr != nil || fresh == tok {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r = req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	r.Header.Set("Authorization", "DPoP "+fresh)
	return p.t.RoundTrip(r)
}

// invalidToken reports whether a 401 carries a DPoP challenge with
// error="invalid_token".
func invalidToken(resp *http.Response) bool {
	for _, c := range client.ChallengesFromHeader(resp.Header) {
		if syntax.EqualFoldASCII(c.Scheme, "DPoP") { // RFC 9110 §11.1: case-insensitive
			if c.Param("error") == dpop.CodeInvalidToken {
				return true
			}
		}
	}
	return false
}
