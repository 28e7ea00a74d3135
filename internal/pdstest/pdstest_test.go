package pdstest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
)

// The tests in this file prove the harness (and the general client
// package) against the reference PDS: both kinds of AT Protocol client
// complete a login with PAR, PKCE, DPoP nonces at the authorization server
// and the PDS, call the PDS, refresh, and see a reused refresh token
// refused. The AT Protocol package's own tests against the PDS use this
// harness the same way.

const scope = Scope

// flow is one client's login against the PDS through the client package.
type flow struct {
	s        *Server
	meta     *client.Metadata
	cfg      *oauth2.Config
	key      *dpop.Key
	rec      *Recorder         // below the DPoP transport: sees each request as sent
	base     http.RoundTripper // what the DPoP transport sends through (rec, or the private_key_jwt layer over it)
	clientID string
}

func newFlow(t *testing.T, s *Server, clientID, redirect string, wrap func(http.RoundTripper) http.RoundTripper) *flow {
	t.Helper()
	ctx := t.Context()
	meta, err := client.Discover(ctx, s.URL)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{s: s, meta: meta, key: key, rec: &Recorder{}, clientID: clientID}
	f.base = f.rec
	if wrap != nil {
		f.base = wrap(f.rec)
	}
	f.cfg = &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: redirect,
		Scopes:      strings.Fields(scope),
		Endpoint:    meta.Endpoint(),
	}
	f.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	return f
}

// ctx returns a context under which x/oauth2 sends through a new DPoP
// transport with f's key and an empty nonce cache, so that the first
// request to each server is answered use_dpop_nonce.
func (f *flow) ctx(t *testing.T) context.Context {
	return client.NewContext(t.Context(), &client.Transport{Key: f.key, Base: f.base})
}

// login runs PAR, the sign-in and the code exchange, and returns the
// token.
func (f *flow) login(t *testing.T, acct Account) *oauth2.Token {
	t.Helper()
	ctx := f.ctx(t)
	verifier := oauth2.GenerateVerifier()
	state := "state-" + dpop.Fingerprint(verifier)
	par, err := client.PushAuthCodeURL(ctx, f.cfg, f.meta.PushedAuthorizationRequestEndpoint, state,
		oauth2.S256ChallengeOption(verifier), client.DPoPJKT(f.key),
		oauth2.SetAuthURLParam("login_hint", acct.Handle))
	if err != nil {
		t.Fatalf("PAR: %v\nPDS output:\n%s", err, f.s.Output())
	}
	redirect, err := f.s.SignIn(ctx, par.URL, acct)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	q := redirect.Query()
	if got := strings.TrimSuffix(redirect.Scheme+"://"+redirect.Host+redirect.Path, "/"); got != strings.TrimSuffix(f.cfg.RedirectURL, "/") {
		t.Errorf("redirected to %s, want %s", got, f.cfg.RedirectURL)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != f.meta.Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), f.meta.Issuer)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in the redirect %s", redirect)
	}
	// The code is exchanged through a new transport that knows no nonce:
	// the token endpoint answers use_dpop_nonce first, and the code is not
	// spent by that answer.
	tok, err := f.cfg.Exchange(f.ctx(t), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok, err = client.CheckToken(tok, client.RequireDPoP); err != nil {
		t.Fatal(err)
	}
	if sub, _ := tok.Extra("sub").(string); sub != acct.DID {
		t.Errorf("sub = %q, want %q", sub, acct.DID)
	}
	if sc, _ := tok.Extra("scope").(string); !slices.Contains(strings.Fields(sc), "atproto") {
		t.Errorf("scope = %q, want atproto in it", sc)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	return tok
}

// getSession calls com.atproto.server.getSession with tok through a new
// DPoP transport (empty nonce cache) and returns the DID it answers.
func (f *flow) getSession(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	hc := client.NewClient(f.ctx(t), oauth2.StaticTokenSource(tok), client.RequireDPoP)
	return f.s.GetSession(t, hc)
}

// refresh refreshes with tok's refresh token through a new transport.
func (f *flow) refresh(t *testing.T, refreshToken string) (*oauth2.Token, error) {
	t.Helper()
	src := f.cfg.TokenSource(f.ctx(t), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)})
	tok, err := src.Token()
	if err != nil {
		return nil, err
	}
	return client.CheckToken(tok, client.RequireDPoP)
}

// run takes a client through login, a PDS call, a refresh, a call with the
// new token and a reuse of the spent refresh token.
func (f *flow) run(t *testing.T, acct Account) {
	tok := f.login(t, acct)
	if did := f.getSession(t, tok); did != acct.DID {
		t.Errorf("getSession did = %q, want %q", did, acct.DID)
	}
	ex := f.rec.Exchanges()
	par, token := f.meta.PushedAuthorizationRequestEndpoint, f.meta.TokenEndpoint
	if !NonceRetried(ex, http.MethodPost, par, http.StatusBadRequest) {
		t.Errorf("PAR was not answered 400 use_dpop_nonce and retried with the nonce:\n%s", Dump(ex))
	}
	if !NonceRetried(ex, http.MethodPost, token, http.StatusBadRequest) {
		t.Errorf("the code exchange was not answered 400 use_dpop_nonce and retried with the nonce:\n%s", Dump(ex))
	}
	session := f.s.URL + "/xrpc/com.atproto.server.getSession"
	if !NonceRetried(ex, http.MethodGet, session, http.StatusUnauthorized) {
		t.Errorf("the PDS call was not answered 401 use_dpop_nonce and retried with the nonce:\n%s", Dump(ex))
	}
	for _, e := range ex {
		if e.Proof == "" {
			t.Errorf("%s %s was sent without a DPoP proof", e.Method, e.URL)
		}
		if e.URL == session && e.Scheme != "DPoP" {
			t.Errorf("the PDS call used Authorization scheme %q, want DPoP", e.Scheme)
		}
	}

	// The refresh goes through a new transport: the token endpoint
	// answers use_dpop_nonce, and the refresh token is not spent by that
	// answer (the retry succeeds).
	mark := len(f.rec.Exchanges())
	fresh, err := f.refresh(t, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if ex := f.rec.Since(mark); !NonceRetried(ex, http.MethodPost, token, http.StatusBadRequest) {
		t.Errorf("the refresh was not answered 400 use_dpop_nonce and retried with the nonce:\n%s", Dump(ex))
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Error("the refresh did not issue a new access token and a new refresh token")
	}
	if did := f.getSession(t, fresh); did != acct.DID {
		t.Errorf("getSession with the refreshed token: did = %q, want %q", did, acct.DID)
	}

	_, err = f.refresh(t, tok.RefreshToken)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("reusing the spent refresh token: err = %v, want an invalid_grant answer", err)
	}
	if re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" {
		t.Errorf("reusing the spent refresh token: HTTP %d %q, want 400 invalid_grant", re.Response.StatusCode, re.ErrorCode)
	}
	t.Logf("reused refresh token: HTTP %d %s %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
}

func TestReferencePDS(t *testing.T) {
	s := Start(t)
	acct := s.CreateAccount(t, "alice.test")

	t.Run("PublicLoopbackClient", func(t *testing.T) {
		redirect := "http://127.0.0.1:8080/callback"
		newFlow(t, s, LoopbackClient(redirect), redirect, nil).run(t, acct)
	})

	t.Run("ConfidentialClient", func(t *testing.T) {
		ck, err := client.GenerateClientKey(dpop.ES256, "client-key-1")
		if err != nil {
			t.Fatal(err)
		}
		clientID, redirect := s.ServeClientMetadata(t, "client.dpop.internal", ck)
		f := newFlow(t, s, clientID, redirect, func(rt http.RoundTripper) http.RoundTripper {
			return &client.PrivateKeyJWT{Key: ck, ClientID: clientID, Audience: s.URL, Base: rt,
				Endpoints: []string{s.URL + "/oauth/par", s.URL + "/oauth/token"}}
		})
		if f.meta.PushedAuthorizationRequestEndpoint != s.URL+"/oauth/par" || f.meta.TokenEndpoint != s.URL+"/oauth/token" {
			t.Fatalf("endpoints moved: %s %s", f.meta.PushedAuthorizationRequestEndpoint, f.meta.TokenEndpoint)
		}
		f.run(t, acct)

		// Every PAR and token request carried a client assertion of its
		// own, nonce retries included.
		seen := map[string]bool{}
		for _, e := range f.rec.Exchanges() {
			if e.Method != http.MethodPost {
				continue
			}
			form, _ := url.ParseQuery(e.Form)
			a := form.Get("client_assertion")
			if a == "" {
				t.Errorf("%s was sent without a client assertion", e.URL)
				continue
			}
			if seen[a] {
				t.Errorf("%s reused a client assertion", e.URL)
			}
			seen[a] = true
		}
	})

	t.Run("PLCStandIn", func(t *testing.T) {
		get := func(path string) (int, []byte) {
			resp, err := http.Get(s.PLC + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			return resp.StatusCode, body
		}
		status, body := get("/" + acct.DID)
		var doc struct {
			ID          string   `json:"id"`
			AlsoKnownAs []string `json:"alsoKnownAs"`
			Service     []struct {
				ID, Type, ServiceEndpoint string
			} `json:"service"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &doc) != nil {
			t.Fatalf("DID document: HTTP %d %s", status, body)
		}
		if doc.ID != acct.DID || !slices.Contains(doc.AlsoKnownAs, "at://"+acct.Handle) ||
			len(doc.Service) != 1 || doc.Service[0].ID != "#atproto_pds" || doc.Service[0].ServiceEndpoint != s.URL {
			t.Errorf("DID document %s", body)
		}
		if status, _ := get("/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); status != http.StatusNotFound {
			t.Errorf("unknown DID: HTTP %d, want 404", status)
		}
		// An operation that does not follow the log (here: the genesis
		// operation sent again, its prev missing) is refused.
		status, ops := get("/" + acct.DID + "/log")
		var log []json.RawMessage
		if status != http.StatusOK || json.Unmarshal(ops, &log) != nil || len(log) == 0 {
			t.Fatalf("operation log: HTTP %d %s", status, ops)
		}
		resp, err := http.Post(s.PLC+"/"+acct.DID, "application/json", strings.NewReader(string(log[0])))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a replayed genesis operation: HTTP %d, want 400", resp.StatusCode)
		}
		resp, err = http.Post(s.PLC+"/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "application/json", strings.NewReader(string(log[0])))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a genesis operation for another DID: HTTP %d, want 400", resp.StatusCode)
		}
	})

	t.Run("PARWithoutProofAccepted", func(t *testing.T) {
		// The reference server accepts a pushed authorization request
		// without a DPoP proof; our client must not rely on the server
		// to enforce binding, and always sends one (asserted above for
		// every request, the PAR included).
		redirect := "http://127.0.0.1:8080/callback"
		id := LoopbackClient(redirect)
		form := url.Values{
			"client_id": {id}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {scope},
			"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
			"code_challenge_method": {"S256"},
		}
		resp, err := http.PostForm(s.URL+"/oauth/par", form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Skipf("the reference server now refuses a PAR without a proof: HTTP %d %s", resp.StatusCode, body)
		}
		t.Logf("PAR without a proof: HTTP %d (accepted by the reference server)", resp.StatusCode)
	})
}
