package dpoptest_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestBearerTokens: with Options.BearerTokens a client that sent a proof
// still gets a Bearer token, except a DPoP-bound client.
func TestBearerTokens(t *testing.T) {
	srv := newServer(t, dpoptest.Options{BearerTokens: true})
	tok := ccToken(t, srv, testkit.Key(t))
	if tok.Type() != "Bearer" {
		t.Fatalf("token_type %s", tok.Type())
	}
	// The public client is registered with dpop_bound_access_tokens.
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "s")
	bound, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil || bound.Type() != "DPoP" {
		t.Fatalf("%v %v", bound, err)
	}
}

// TestAlwaysDemandNonce: every proof is refused with use_dpop_nonce and a
// new nonce, at both servers; the client retries once and gives up.
func TestAlwaysDemandNonce(t *testing.T) {
	srv := newServer(t, dpoptest.Options{AlwaysDemandNonce: true})
	if srv.Options().Nonces != dpoptest.NoncesBoth {
		t.Fatal("AlwaysDemandNonce does not imply NoncesBoth")
	}
	var tokenRequests int
	srvObs := newServer(t, dpoptest.Options{AlwaysDemandNonce: true, Observe: func(x dpoptest.Exchange) {
		if x.Server == "as" {
			tokenRequests++
		}
	}})
	ctx, _ := clientContext(t, testkit.Key(t))
	cc := clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, TokenURL: srvObs.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInHeader}
	_, err := cc.Token(ctx)
	if status, code := oauthErr(t, err); status != 400 || code != dpop.CodeUseNonce {
		t.Fatalf("%d %s", status, code)
	}
	if tokenRequests != 2 {
		t.Fatalf("%d token requests, want 2 (one retry)", tokenRequests)
	}
	key := testkit.Key(t)
	tok, err := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := send(t, resourceRequest(t, srv, "DPoP", tok, testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok), dpop.WithNonce("whatever"))))
	if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeUseNonce || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
}

// TestMetadataIssuer: the metadata can publish another issuer, which
// client.Discover refuses (RFC 8414 §3.3).
func TestMetadataIssuer(t *testing.T) {
	srv := newServer(t, dpoptest.Options{MetadataIssuer: "https://impostor.example"})
	if srv.Metadata()["issuer"] != "https://impostor.example" {
		t.Fatal(srv.Metadata()["issuer"])
	}
	ctx := contextWithClient(t.Context(), &http.Client{Transport: newBaseTransport(t)})
	if _, err := client.Discover(ctx, srv.URL()); err == nil {
		t.Fatal("Discover accepted a metadata document for another issuer")
	}
}

// TestResourceSubpaths: every path under /resource is protected and
// echoes the method and path; the RFC 9728 metadata is at the path
// resource.MetadataPath gives.
func TestResourceSubpaths(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	tok, err := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &client.Transport{Key: key, Base: newBaseTransport(t)}}
	rc := oauth2.NewClient(contextWithClient(t.Context(), hc), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "DPoP"}))
	resp, err := rc.Post(srv.ResourceEndpoint()+"/a/b?x=1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	u, _ := url.Parse(srv.ResourceMetadataURL())
	if u.Path != "/.well-known/oauth-protected-resource" {
		t.Fatal(u.Path)
	}
	r2, err := http.Get(srv.ResourceMetadataURL())
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("metadata %d", r2.StatusCode)
	}
}
