package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// observer records the exchanges of a dpoptest server.
type observer struct {
	mu  sync.Mutex
	log []dpoptest.Exchange
}

func (o *observer) observe(e dpoptest.Exchange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log = append(o.log, e)
}

// exchanges returns the recorded exchanges whose URL has the suffix.
func (o *observer) exchanges(suffix string) []dpoptest.Exchange {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []dpoptest.Exchange
	for _, e := range o.log {
		if strings.HasSuffix(e.URL, suffix) {
			out = append(out, e)
		}
	}
	return out
}

// proofClaims decodes the claims of the DPoP proof of a recorded request
// (the server verified it; this only reads it).
func proofClaims(t *testing.T, e dpoptest.Exchange) (claims struct {
	HTM, HTU, Nonce, ATH string
	JWK                  json.RawMessage
}, jkt string) {
	t.Helper()
	parts := strings.Split(e.RequestHeader.Get("DPoP"), ".")
	if len(parts) != 3 {
		t.Fatalf("%s %s: no proof", e.Method, e.URL)
	}
	hdr, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	var h struct{ JWK json.RawMessage }
	if err1 != nil || err2 != nil || json.Unmarshal(hdr, &h) != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("%s %s: undecodable proof", e.Method, e.URL)
	}
	jkt, err := dpop.Thumbprint(h.JWK)
	if err != nil {
		t.Fatal(err)
	}
	return claims, jkt
}

// TestOAuth2AuthorizationCodeFlow: against dpoptest demanding nonces at
// both servers: PAR with proof and nonce retry, code bound to the key,
// Exchange with proof, Config.Client-style requests to the resource
// server with its own nonce, a refresh with the same key, and a refresh
// with another key refused.
func TestOAuth2AuthorizationCodeFlow(t *testing.T) {
	obs := new(observer)
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth, Observe: obs.observe})
	defer srv.Close()
	k := testkit.Key(t)
	tr := &Transport{Key: k}
	ctx := NewContext(context.Background(), tr)
	cfg := &oauth2.Config{
		ClientID:    dpoptest.PublicClientID,
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"read"},
		Endpoint:    oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()

	par, err := PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "state-1", oauth2.S256ChallengeOption(verifier), DPoPJKT(k))
	if err != nil {
		t.Fatal(err)
	}
	u := mustURL(t, par.URL)
	q := u.Query()
	if u.Path != "/authorize" || len(q) != 2 || q.Get("client_id") != dpoptest.PublicClientID || q.Get("request_uri") != par.RequestURI {
		t.Fatalf("authorization URL %s, %+v", par.URL, par)
	}
	pars := obs.exchanges("/par")
	if len(pars) != 2 || pars[0].Status != 400 || pars[1].Status != 201 {
		t.Fatalf("PAR exchanges: %d", len(pars))
	}
	pushed, _ := url.ParseQuery(string(pars[1].RequestBody))
	for name, want := range map[string]string{
		"dpop_jkt": k.Thumbprint(), "code_challenge_method": "S256", "code_challenge": oauth2.S256ChallengeFromVerifier(verifier),
		"state": "state-1", "response_type": "code", "scope": "read", "redirect_uri": "http://127.0.0.1:8080/callback",
	} {
		if got := pushed[name]; len(got) != 1 || got[0] != want {
			t.Errorf("pushed %s = %q, want %q", name, got, want)
		}
	}
	if c, jkt := proofClaims(t, pars[1]); c.HTM != "POST" || c.HTU != srv.PAREndpoint() || c.Nonce == "" || jkt != k.Thumbprint() {
		t.Errorf("PAR proof %+v", c)
	}

	resp := testkit.RedirectQuery(t, par.URL)
	meta, err := Discover(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	code, err := CheckAuthorizationResponse(resp, "state-1", meta)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err = CheckToken(tok, RequireDPoP); err != nil || tok.Type() != "DPoP" {
		t.Fatalf("token %v %v", tok, err)
	}
	// The token endpoint proof: htm POST, htu the token endpoint, the
	// nonce learnt at PAR (no second refusal).
	toks := obs.exchanges("/token")
	if len(toks) != 1 || toks[0].Status != 200 {
		t.Fatalf("token exchanges: %d", len(toks))
	}
	if c, jkt := proofClaims(t, toks[0]); c.HTM != "POST" || c.HTU != srv.TokenEndpoint() || jkt != k.Thumbprint() {
		t.Errorf("token request proof %+v", c)
	}

	hc := NewClient(ctx, cfg.TokenSource(ctx, tok), RequireDPoP)
	for range 2 {
		if st, body, _ := do(t, hc, "GET", srv.ResourceEndpoint(), "", ""); st != 200 {
			t.Fatalf("resource: %d %s", st, body)
		}
	}
	rsReqs := obs.exchanges("/resource")
	if len(rsReqs) != 3 || rsReqs[0].Status != 401 || rsReqs[0].RequestHeader.Get("Authorization") != "DPoP "+tok.AccessToken {
		t.Fatalf("resource requests: %d", len(rsReqs))
	}
	if c, _ := proofClaims(t, rsReqs[2]); c.ATH != dpop.AccessTokenHash(tok.AccessToken) || c.Nonce == "" {
		t.Errorf("resource proof %+v", c)
	}
	asNonce := tr.NonceCache().Get(Origin(mustURL(t, srv.URL())))
	rsNonce := tr.NonceCache().Get(Origin(mustURL(t, srv.ResourceURL())))
	if asNonce == "" || rsNonce == "" || asNonce == rsNonce {
		t.Error("resource server nonce not kept apart from the authorization server's")
	}

	// Refresh: an expired token makes the TokenSource refresh through the
	// transport, with the same key (the refresh token is bound to it).
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	tok2, err := TokenSource(cfg.TokenSource(ctx, &expired), RequireDPoP).Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.Type() != "DPoP" {
		t.Fatalf("refresh returned %+v", tok2)
	}

	// A different key cannot use the bound refresh token.
	ctxB := NewContext(context.Background(), &Transport{Key: testkit.Key(t)})
	expired2 := *tok2
	expired2.Expiry = time.Now().Add(-time.Hour)
	_, err = cfg.TokenSource(ctxB, &expired2).Token()
	if e := AsError(err); e == nil || e.Code != "invalid_grant" || e.StatusCode != 400 {
		t.Fatalf("refresh with another key: %v", err)
	}
}

// TestOAuth2ClientCredentials: the three x/oauth2 auth styles with a
// client secret, each token request with a proof carrying the nonce.
func TestOAuth2ClientCredentials(t *testing.T) {
	obs := new(observer)
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesAS, Observe: obs.observe})
	defer srv.Close()
	k := testKey(t)
	ctx := NewContext(context.Background(), &Transport{Key: k})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		cc := &clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, TokenURL: srv.TokenEndpoint(), AuthStyle: style}
		raw, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		tok, err := CheckToken(raw, RequireDPoP)
		if err != nil || tok.Type() != "DPoP" {
			t.Fatalf("style %d: %v %v", style, tok, err)
		}
	}
	for _, e := range obs.exchanges("/token") {
		c, jkt := proofClaims(t, e)
		if jkt != k.Thumbprint() || c.HTU != srv.TokenEndpoint() || (e.Status == 200 && c.Nonce == "") {
			t.Errorf("proof %+v (HTTP %d)", c, e.Status)
		}
	}
}

// TestOAuth2BearerFallback: a server answering token_type Bearer is
// refused unless the caller allows it; allowed, the token is sent as
// Bearer without a proof.
func TestOAuth2BearerFallback(t *testing.T) {
	obs := new(observer)
	srv := dpoptest.NewServer(dpoptest.Options{AllowBearer: true, BearerTokens: true, Observe: obs.observe})
	defer srv.Close()
	ctx := NewContext(context.Background(), &Transport{Key: testKey(t)})
	cc := &clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, TokenURL: srv.TokenEndpoint()}
	raw, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckToken(raw, RequireDPoP); !errors.Is(err, ErrNotDPoPBound) {
		t.Fatalf("Bearer accepted without opt-in: %v", err)
	}
	hc := NewClient(ctx, cc.TokenSource(ctx), RequireDPoP)
	if _, err := hc.Get(srv.ResourceEndpoint()); !errors.Is(err, ErrNotDPoPBound) {
		t.Fatalf("client without opt-in: %v", err)
	}

	hc = NewClient(ctx, cc.TokenSource(ctx), AllowBearer)
	st, body, _ := do(t, hc, "GET", srv.ResourceEndpoint(), "", "")
	if st != 200 {
		t.Fatalf("Bearer fallback: %d %s", st, body)
	}
	reqs := obs.exchanges("/resource")
	last := reqs[len(reqs)-1]
	if !strings.HasPrefix(last.RequestHeader.Get("Authorization"), "Bearer ") || last.RequestHeader.Get("DPoP") != "" {
		t.Errorf("fallback request: Authorization %q, proof %q", last.RequestHeader.Get("Authorization"), last.RequestHeader.Get("DPoP"))
	}
}

func TestCheckToken(t *testing.T) {
	for _, tc := range []struct {
		typ         string
		allowBearer TokenBinding
		want        string // "" = error
	}{
		{"DPoP", RequireDPoP, "DPoP"},
		{"dpop", RequireDPoP, "DPoP"},
		{"DPOP", AllowBearer, "DPoP"},
		{"Bearer", RequireDPoP, ""},
		{"bearer", AllowBearer, "Bearer"},
		{"", RequireDPoP, ""},
		{"", AllowBearer, ""},
		{"MAC", AllowBearer, ""},
		{"N_A", RequireDPoP, ""},
	} {
		in := &oauth2.Token{AccessToken: "a", TokenType: tc.typ}
		out, err := CheckToken(in, tc.allowBearer)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q allow=%v: accepted", tc.typ, tc.allowBearer)
		case tc.want != "" && err != nil:
			t.Errorf("%q allow=%v: %v", tc.typ, tc.allowBearer, err)
		case tc.want != "" && (out.TokenType != tc.want || out.Type() != tc.want):
			t.Errorf("%q: type %q", tc.typ, out.TokenType)
		}
		if in.TokenType != tc.typ {
			t.Error("CheckToken modified its argument")
		}
	}
	raw := (&oauth2.Token{AccessToken: "a", TokenType: "dpop"}).WithExtra(map[string]any{"scope": "read"})
	out, err := CheckToken(raw, RequireDPoP)
	if err != nil || out.Extra("scope") != "read" {
		t.Errorf("extra lost: %v %v", out, err)
	}
}

// TestNewContextKeepsClientSettings: a client already in the context lends
// its Timeout to the DPoP client.
func TestNewContextKeepsClientSettings(t *testing.T) {
	old := &http.Client{Timeout: 7 * time.Second}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, old)
	tr := &Transport{Key: testKey(t)}
	hc := NewContext(ctx, tr).Value(oauth2.HTTPClient).(*http.Client)
	if hc.Timeout != 7*time.Second || hc.Transport != tr || old.Transport != nil {
		t.Errorf("client %+v", hc)
	}
}
