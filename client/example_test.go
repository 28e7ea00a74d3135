package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The authorization code flow with PAR, PKCE and DPoP, through x/oauth2.
func Example_authorizationCodeWithPAR() {
	as, stop := client.StartExampleServer() // a strict loopback AS + RS
	defer stop()
	ctx := context.Background()

	// Discover the server and make a key with an algorithm it accepts.
	meta, err := client.Discover(ctx, as.URL)
	if err != nil {
		log.Fatal(err)
	}
	alg, err := client.ChooseAlgorithm(meta.Algorithms())
	if err != nil {
		log.Fatal(err)
	}
	key, err := dpop.GenerateKey(alg)
	if err != nil {
		log.Fatal(err)
	}

	// Every x/oauth2 request made with ctx now carries a proof.
	ctx = client.NewContext(ctx, &client.Transport{Key: key})
	cfg := &oauth2.Config{
		ClientID:    "example-app",
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"read"},
		Endpoint:    meta.Endpoint(),
	}
	verifier := oauth2.GenerateVerifier()
	par, err := client.PushAuthCodeURL(ctx, cfg, meta.PushedAuthorizationRequestEndpoint, "state-xyz",
		oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key))
	if err != nil {
		log.Fatal(err)
	}

	// Send the user to par.URL; the server redirects back with a code.
	code := as.Approve(par.RequestURI)

	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		log.Fatal(err)
	}
	if tok, err = client.CheckToken(tok, client.RequireDPoP); err != nil {
		log.Fatal(err)
	}
	fmt.Println("token type:", tok.Type())

	// Requests to the resource server carry the token and a proof with ath;
	// refreshes go through the same transport.
	hc := client.NewClient(ctx, cfg.TokenSource(ctx, tok), client.RequireDPoP)
	resp, err := hc.Get(as.URL + "/resource/profile")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// token type: DPoP
	// 200 hello /resource/profile
}

// Client credentials with DPoP: the server demands a nonce, which the
// transport learns and retries with.
func Example_clientCredentials() {
	as, stop := client.StartExampleServer()
	defer stop()
	as.RequireNonce()

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key})
	cc := &clientcredentials.Config{
		ClientID:     "service",
		ClientSecret: "secret",
		TokenURL:     as.URL + "/token",
	}
	hc := client.NewClient(ctx, cc.TokenSource(ctx), client.RequireDPoP)
	resp, err := hc.Get(as.URL + "/resource/report")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// 200
}

// Restoring a saved session after a restart and refreshing its DPoP-bound
// refresh token with the same key.
func Example_restoreSession() {
	as, stop := client.StartExampleServer()
	defer stop()
	cfg := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: as.URL + "/token"}}

	// Before the restart: a token bound to a key that is saved with it.
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	nonces := new(client.MemoryNonceCache)
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key, Nonces: nonces})
	tok, err := (&clientcredentials.Config{ClientID: "app", TokenURL: cfg.Endpoint.TokenURL}).Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	s := &client.Session{Token: tok, Key: key, Nonces: nonces.Snapshot()}
	saved, err := s.Save(client.SaveOptions{ExportPrivateKey: true, IncludeNonces: true})
	if err != nil {
		log.Fatal(err)
	}

	// After the restart.
	s, err = client.LoadSession(context.Background(), saved, nil)
	if err != nil {
		log.Fatal(err)
	}
	restored := new(client.MemoryNonceCache)
	restored.Load(s.Nonces)
	ctx = client.NewContext(context.Background(), &client.Transport{Key: s.Key, Nonces: restored})
	s.Token.Expiry = time.Now().Add(-time.Minute) // force a refresh
	ts := client.TokenSource(cfg.TokenSource(ctx, s.Token), client.RequireDPoP)
	fresh, err := ts.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed:", fresh.AccessToken != tok.AccessToken, fresh.Type())
	// Output:
	// refreshed: true DPoP
}
