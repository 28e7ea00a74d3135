package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func testConfig(s *strictServer) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    "public-client",
		RedirectURL: "http://127.0.0.1/callback",
		Scopes:      []string{"read"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.URL() + "/authorize",
			TokenURL:  s.URL() + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// TestOAuth2AuthorizationCodeFlow: PAR with proof and nonce retry, code
// bound to the key, Exchange with proof, then Config.Client-style requests
// to a resource server with its own nonce, and a refresh with the same
// key.
func TestOAuth2AuthorizationCodeFlow(t *testing.T) {
	as, rs := newStrictServer(t), newStrictServer(t)
	as.requireNonce, as.rotateEvery = true, 1
	rs.requireNonce = true
	k := freshKey(t)
	tr := &Transport{Key: k}
	ctx := NewContext(context.Background(), tr)
	cfg := testConfig(as)
	verifier := oauth2.GenerateVerifier()

	par, err := PushAuthCodeURL(ctx, cfg, as.URL()+"/par", "state-1", oauth2.S256ChallengeOption(verifier), DPoPJKT(k))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(par.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/authorize" || len(q) != 2 || q.Get("client_id") != "public-client" || q.Get("request_uri") != par.RequestURI || par.ExpiresIn != time.Minute {
		t.Fatalf("authorization URL %s, %+v", par.URL, par)
	}
	as.mu.Lock()
	pushed := as.pushed[par.RequestURI]
	as.mu.Unlock()
	for name, want := range map[string]string{
		"dpop_jkt": k.Thumbprint(), "code_challenge_method": "S256", "code_challenge": oauth2.S256ChallengeFromVerifier(verifier),
		"state": "state-1", "response_type": "code", "scope": "read", "redirect_uri": "http://127.0.0.1/callback",
	} {
		if got := pushed.params[name]; len(got) != 1 || got[0] != want {
			t.Errorf("pushed %s = %q, want %q", name, got, want)
		}
	}
	if pushed.jkt != k.Thumbprint() {
		t.Errorf("PAR bound to %q", pushed.jkt)
	}
	code, err := as.issueCode(par.RequestURI)
	if err != nil {
		t.Fatal(err)
	}

	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	tok, err = CheckToken(tok, RequireDPoP)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "DPoP" {
		t.Fatalf("token type %q", tok.Type())
	}
	// The token endpoint proof: htm POST, htu the token endpoint.
	last := as.verified()[len(as.verified())-1]
	if last.HTM != "POST" || last.HTU != as.URL()+"/token" || last.JKT != k.Thumbprint() {
		t.Errorf("token request proof %+v", last)
	}

	// The RS trusts the AS's tokens (shared for the test).
	rs.mu.Lock()
	rs.access[tok.AccessToken] = k.Thumbprint()
	rs.mu.Unlock()
	hc := NewClient(ctx, cfg.TokenSource(ctx, tok), RequireDPoP)
	for range 2 {
		if st, body, _ := do(t, hc, "GET", rs.URL()+"/resource/me", "", ""); st != 200 {
			t.Fatalf("resource: %d %s", st, body)
		}
	}
	rsReqs := rs.requests()
	if len(rsReqs) != 3 || rsReqs[0].Authorization != "DPoP "+tok.AccessToken {
		t.Fatalf("resource requests %+v", rsReqs)
	}
	if origin := Origin(mustURL(t, rs.URL())); tr.NonceCache().Get(origin) != rs.currentNonce() || rs.currentNonce() == as.currentNonce() {
		t.Error("resource server nonce not kept apart from the authorization server's")
	}

	// Refresh: an expired token makes the TokenSource refresh through the
	// transport, with the same key (the refresh token is bound to it).
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	ts := TokenSource(cfg.TokenSource(ctx, &expired), RequireDPoP)
	tok2, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok2.AccessToken == tok.AccessToken || tok2.Type() != "DPoP" {
		t.Fatalf("refresh returned %+v", tok2)
	}

	// A different key cannot use the bound refresh token.
	ctxB := NewContext(context.Background(), &Transport{Key: freshKey(t)})
	expired2 := *tok2
	expired2.Expiry = time.Now().Add(-time.Hour)
	if _, err := cfg.TokenSource(ctxB, &expired2).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh with another key: %v", err)
	}
}

func TestOAuth2ClientCredentials(t *testing.T) {
	as := newStrictServer(t)
	as.requireNonce = true
	k := testKey(t)
	ctx := NewContext(context.Background(), &Transport{Key: k})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "s3cret", TokenURL: as.URL() + "/token", AuthStyle: style}
		raw, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		tok, err := CheckToken(raw, RequireDPoP)
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.Type() != "DPoP" {
			t.Fatalf("style %d: type %q", style, tok.Type())
		}
	}
	for _, p := range as.verified() {
		if p.JKT != k.Thumbprint() || p.HTU != as.URL()+"/token" || p.Nonce == "" {
			t.Errorf("proof %+v", p)
		}
	}
}

// TestOAuth2BearerFallback: a server answering token_type Bearer is
// refused unless the caller allows it; allowed, the token is sent as
// Bearer without a proof.
func TestOAuth2BearerFallback(t *testing.T) {
	as := newStrictServer(t)
	as.tokenType = "bearer"
	ctx := NewContext(context.Background(), &Transport{Key: testKey(t)})
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "x", TokenURL: as.URL() + "/token"}
	raw, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckToken(raw, RequireDPoP); !errors.Is(err, ErrNotDPoPBound) {
		t.Fatalf("Bearer accepted without opt-in: %v", err)
	}
	hc := NewClient(ctx, cc.TokenSource(ctx), RequireDPoP)
	if _, err := hc.Get(as.URL() + "/resource/x"); !errors.Is(err, ErrNotDPoPBound) {
		t.Fatalf("client without opt-in: %v", err)
	}

	hc = NewClient(ctx, cc.TokenSource(ctx), AllowBearer)
	st, body, _ := do(t, hc, "GET", as.URL()+"/resource/x", "", "")
	if st != 200 {
		t.Fatalf("Bearer fallback: %d %s", st, body)
	}
	reqs := as.requests()
	last := reqs[len(reqs)-1]
	if !strings.HasPrefix(last.Authorization, "Bearer ") || last.Proof != "" {
		t.Errorf("fallback request: Authorization %q, proof %q", last.Authorization, last.Proof)
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
