package dpoptest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestAuthorizeErrors: with a valid client and redirect_uri, errors go
// back by redirection (RFC 6749 §4.1.2.1); without, the endpoint answers
// 400 itself.
func TestAuthorizeErrors(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	s256 := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	redirected := []struct {
		name string
		url  string
		code string
	}{
		{"no PKCE", cfg.AuthCodeURL("st"), dpop.CodeInvalidRequest},
		{"plain PKCE", cfg.AuthCodeURL("st", oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("code_challenge_method", "plain")), dpop.CodeInvalidRequest},
		{"response_type token", cfg.AuthCodeURL("st", s256, oauth2.SetAuthURLParam("response_type", "token")), authserver.CodeUnsupportedResponseType},
		{"malformed dpop_jkt", cfg.AuthCodeURL("st", s256, oauth2.SetAuthURLParam("dpop_jkt", "not-a-thumbprint")), dpop.CodeInvalidRequest},
	}
	for _, tc := range redirected {
		t.Run(tc.name, func(t *testing.T) {
			q := authorize(t, tc.url)
			if q.Get("error") != tc.code || q.Get("state") != "st" || q.Get("code") != "" || q.Get("iss") != srv.URL() {
				t.Fatalf("redirect query %v, want error %s", q, tc.code)
			}
		})
	}

	other := *cfg
	other.RedirectURL = "https://attacker.example/cb"
	unknown := *cfg
	unknown.ClientID = "nobody"
	direct := []struct {
		name string
		url  string
	}{
		{"unregistered redirect_uri", other.AuthCodeURL("st", s256)},
		{"unknown client", unknown.AuthCodeURL("st", s256)},
		{"unknown request_uri", srv.URL() + "/authorize?" + url.Values{"client_id": {cfg.ClientID}, "request_uri": {"urn:ietf:params:oauth:request_uri:nope"}}.Encode()},
		{"repeated parameter", cfg.AuthCodeURL("st", s256) + "&state=again"},
	}
	for _, tc := range direct {
		t.Run(tc.name, func(t *testing.T) {
			if status := authorizeStatus(t, tc.url); status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", status)
			}
		})
	}
}

// TestRedirectURIs: any loopback http redirect with a port is accepted
// (RFC 8252 §7.3), and the code is only redeemed with the same one.
func TestRedirectURIs(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	for _, uri := range []string{"http://localhost:1234/cb", "http://127.0.0.1:50000/x/y?keep=1"} {
		cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
		cfg.RedirectURL = uri
		v := oauth2.GenerateVerifier()
		hc := &http.Client{Transport: newBaseTransport(t), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v), client.DPoPJKT(key)))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: %d %v", uri, resp.StatusCode, err)
		}
		code := loc.Query().Get("code")
		if uri == "http://127.0.0.1:50000/x/y?keep=1" && loc.Query().Get("keep") != "1" {
			t.Fatalf("redirect lost its query: %s", loc)
		}
		wrong := *cfg
		wrong.RedirectURL = "http://localhost:1/other"
		_, err = wrong.Exchange(ctx, code, oauth2.VerifierOption(v))
		if status, c := oauthErr(t, err); status != 400 || c != authserver.CodeInvalidGrant {
			t.Fatalf("another redirect_uri at the token endpoint: %d %s", status, c)
		}
		_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if status, c := oauthErr(t, err); status != 400 || c != authserver.CodeInvalidGrant {
			t.Fatalf("wrong code_verifier: %d %s", status, c)
		}
		if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
	}
}

// TestBearerFallback: with AllowBearer, a client that is not registered
// with dpop_bound_access_tokens and sends no proof gets a Bearer token,
// which the resource accepts; the DPoP-bound public client still needs a
// proof.
func TestBearerFallback(t *testing.T) {
	srv := newServer(t, dpoptest.Options{AllowBearer: true})
	base := &http.Client{Transport: newBaseTransport(t)}
	ctx := t.Context()
	ctx = contextWithClient(ctx, base)

	cfg := config(srv, dpoptest.BearerClientID, oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CheckToken(tok, client.RequireDPoP); err == nil {
		t.Fatal("CheckToken accepted a Bearer token without allowBearer")
	}
	if tok, err = client.CheckToken(tok, client.AllowBearer); err != nil || tok.TokenType != "Bearer" {
		t.Fatalf("token_type %q, %v", tok.TokenType, err)
	}
	rr := callResource(t, srv, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)))
	if rr.Scheme != "Bearer" || rr.JKT != "" || rr.ClientID != dpoptest.BearerClientID {
		t.Fatalf("resource: %+v", rr)
	}
	// Its refresh token is unbound: refresh without a proof.
	old := *tok
	old.Expiry = time.Now().Add(-time.Hour)
	if _, err := cfg.TokenSource(ctx, &old).Token(); err != nil {
		t.Fatal(err)
	}

	// The same client with a proof gets a DPoP token.
	key := testkit.Key(t)
	dctx, _ := clientContext(t, key)
	v = oauth2.GenerateVerifier()
	c = code(t, srv, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	tok, err = cfg.Exchange(dctx, c, oauth2.VerifierOption(v))
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("with a proof: %v %v", tok, err)
	}

	// public-client is registered with dpop_bound_access_tokens.
	pub := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	v = oauth2.GenerateVerifier()
	c = code(t, srv, pub.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	_, err = pub.Exchange(ctx, c, oauth2.VerifierOption(v))
	if status, code := oauthErr(t, err); status != 400 || code != dpop.CodeInvalidProof {
		t.Fatalf("dpop-bound client without proof: %d %s", status, code)
	}

	// Without AllowBearer no client gets a Bearer token.
	strict := newServer(t, dpoptest.Options{})
	cfg = config(strict, dpoptest.BearerClientID, oauth2.AuthStyleInParams)
	v = oauth2.GenerateVerifier()
	c = code(t, strict, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	_, err = cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if status, code := oauthErr(t, err); status != 400 || code != dpop.CodeInvalidProof {
		t.Fatalf("strict server without proof: %d %s", status, code)
	}
}
