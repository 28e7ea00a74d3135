package dpoptest_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

func TestAuthorizationCodeAndRefresh(t *testing.T) {
	for _, nonces := range []dpoptest.NonceMode{dpoptest.NoncesNone, dpoptest.NoncesAS, dpoptest.NoncesRS, dpoptest.NoncesBoth} {
		for _, opaque := range []bool{false, true} {
			name := nonces.String()
			if opaque {
				name += "/opaque"
			} else {
				name += "/jwt"
			}
			t.Run(name, func(t *testing.T) {
				srv := newServer(t, dpoptest.Options{Nonces: nonces, OpaqueTokens: opaque})
				key := testkit.Key(t)
				ctx, _ := clientContext(t, key)
				cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
				verifier := oauth2.GenerateVerifier()
				c := code(t, srv, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key)), "st-1")
				tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "DPoP" || tok.RefreshToken == "" {
					t.Fatalf("token_type %q, refresh token %q", tok.TokenType, tok.RefreshToken)
				}
				rr := callResource(t, srv, client.NewClient(ctx, cfg.TokenSource(ctx, tok), client.RequireDPoP))
				want := dpoptest.ResourceResponse{Subject: "alice", ClientID: dpoptest.PublicClientID, Scope: "read write", JKT: key.Thumbprint(), Scheme: "DPoP", Method: "GET", Path: "/resource"}
				if rr != want {
					t.Fatalf("resource: %+v, want %+v", rr, want)
				}

				// Refresh: the token source refreshes an expired token, with
				// a proof by the same key.
				old := *tok
				old.Expiry = time.Now().Add(-time.Minute)
				ts := client.TokenSource(cfg.TokenSource(ctx, &old), client.RequireDPoP)
				tok2, err := ts.Token()
				if err != nil {
					t.Fatal(err)
				}
				if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken || tok2.RefreshToken == "" {
					t.Fatal("refresh did not rotate the tokens")
				}
				if rr := callResource(t, srv, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok2))); rr != want {
					t.Fatalf("resource after refresh: %+v", rr)
				}
				// The old refresh token was revoked when used.
				_, err = cfg.TokenSource(ctx, &old).Token()
				if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidGrant {
					t.Fatalf("reused refresh token: %d %s", status, code)
				}
			})
		}
	}
}

func TestClientCredentials(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	cases := []struct {
		name string
		cfg  clientcredentials.Config
	}{
		{"client_secret_basic", clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, AuthStyle: oauth2.AuthStyleInHeader}},
		{"client_secret_post", clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, AuthStyle: oauth2.AuthStyleInParams}},
		{"private_key_jwt", clientcredentials.Config{ClientID: dpoptest.JWTClientID, AuthStyle: oauth2.AuthStyleInParams}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := testkit.Key(t)
			ctx, _ := clientContext(t, key)
			if tc.cfg.ClientID == dpoptest.JWTClientID {
				ctx = jwtClientContext(t, srv, key, srv.TokenEndpoint())
			}
			cfg := tc.cfg
			cfg.TokenURL = srv.URL() + "/token"
			cfg.Scopes = []string{"read"}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "DPoP" || tok.RefreshToken != "" {
				t.Fatalf("token_type %q, refresh token %q", tok.TokenType, tok.RefreshToken)
			}
			rr := callResource(t, srv, client.NewClient(ctx, oauth2.StaticTokenSource(tok), client.RequireDPoP))
			want := dpoptest.ResourceResponse{Subject: cfg.ClientID, ClientID: cfg.ClientID, Scope: "read", JKT: key.Thumbprint(), Scheme: "DPoP", Method: "GET", Path: "/resource"}
			if rr != want {
				t.Fatalf("resource: %+v, want %+v", rr, want)
			}
		})
	}
}

// TestConfidentialRefresh: a confidential client's refresh token is bound
// to its credentials, not to a key (RFC 9449 §5): a refresh with a new key
// works and binds the new access token to that key. Another client cannot
// use it, and the scope can narrow but not widen.
func TestConfidentialRefresh(t *testing.T) {
	srv := newServer(t, dpoptest.Options{OpaqueTokens: true})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.ConfidentialClientID, oauth2.AuthStyleInHeader)
	verifier := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "s")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
		old := &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Minute)}
		return cfg.TokenSource(ctx, old).Token()
	}

	// Another client presenting the refresh token.
	pub := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	_, err = refresh(ctx, pub, tok.RefreshToken)
	if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidGrant {
		t.Fatalf("refresh by another client: %d %s", status, code)
	}

	newKey := testkit.Key(t)
	newCtx, _ := clientContext(t, newKey)
	tok2, err := refresh(newCtx, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with a new key: %v", err)
	}
	rr := callResource(t, srv, oauth2.NewClient(newCtx, oauth2.StaticTokenSource(tok2)))
	if rr.JKT != newKey.Thumbprint() || rr.Scope != "read write" {
		t.Fatalf("resource after refresh with a new key: %+v", rr)
	}

	// Narrower scope, then a wider one.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}, "scope": {"read"}}
	req := tokenRequest(t, srv, form, testkit.Proof(t, newKey, "POST", srv.URL()+"/token"))
	req.SetBasicAuth(cfg.ClientID, cfg.ClientSecret)
	resp, body := send(t, req)
	var tr struct {
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != 200 || tr.Scope != "read" {
		t.Fatalf("narrowed refresh: %d %s", resp.StatusCode, body)
	}
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "scope": {"read admin"}}
	req = tokenRequest(t, srv, form, testkit.Proof(t, newKey, "POST", srv.URL()+"/token"))
	req.SetBasicAuth(cfg.ClientID, cfg.ClientSecret)
	resp, body = send(t, req)
	if resp.StatusCode != 400 || jsonError(t, body) != authserver.CodeInvalidScope {
		t.Fatalf("widened refresh: %d %s", resp.StatusCode, body)
	}
}
