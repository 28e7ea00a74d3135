package dpoptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
)

// A client test: the authorization code flow with PKCE and dpop_jkt,
// then a DPoP-bound request to the resource server.
func ExampleNewServer() {
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	defer srv.Close()

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key})

	md, err := client.Discover(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	cfg := &oauth2.Config{
		ClientID:    dpoptest.PublicClientID,
		Endpoint:    md.Endpoint(),
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"read"},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key))

	// The user agent: the server approves at once and redirects.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		log.Fatal(err)
	}

	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		log.Fatal(err)
	}
	hc := client.NewClient(ctx, cfg.TokenSource(ctx, tok), client.RequireDPoP)
	res, err := hc.Get(srv.ResourceEndpoint())
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var caller dpoptest.ResourceResponse
	if err := json.NewDecoder(res.Body).Decode(&caller); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, tok.TokenType, res.StatusCode)
	fmt.Println(caller.Subject, caller.ClientID, caller.Scope, caller.Scheme, caller.JKT == key.Thumbprint())
	// Output:
	// 302 DPoP 200
	// alice public-client read DPoP true
}

// A service with private_key_jwt client authentication (a fresh
// assertion on every request) and the client_credentials grant.
func ExampleServer_RegisteredClient() {
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()

	jwtClient, _ := srv.RegisteredClient(dpoptest.JWTClientID)
	clientKey, err := client.NewClientKey(jwtClient.Signer, dpop.ES256, "")
	if err != nil {
		log.Fatal(err)
	}
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key, Base: &client.PrivateKeyJWT{
		Key: clientKey, ClientID: jwtClient.ID, Audience: srv.URL(), Endpoints: []string{srv.TokenEndpoint()},
	}})
	cfg := clientcredentials.Config{ClientID: jwtClient.ID, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}
	for range 2 {
		tok, err := cfg.Token(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(tok.TokenType, tok.RefreshToken == "")
	}
	// Output:
	// DPoP true
	// DPoP true
}
