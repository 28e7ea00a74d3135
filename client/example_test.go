package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
)

// The authorization code flow with PAR, PKCE and DPoP, through x/oauth2,
// against dpoptest (a strict authorization and resource server on
// loopback that demands nonces at both).
func Example_authorizationCodeWithPAR() {
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	defer srv.Close()
	ctx := context.Background()

	// Discover the server and make a key with an algorithm it accepts.
	meta, err := client.Discover(ctx, srv.URL())
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
		ClientID:    dpoptest.PublicClientID,
		RedirectURL: "http://127.0.0.1:8080/callback",
		Scopes:      []string{"read"},
		Endpoint:    meta.Endpoint(),
	}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifier := oauth2.GenerateVerifier()
	state := oauth2.GenerateVerifier()
	par, err := client.PushAuthCodeURL(ctx, cfg, meta.PushedAuthorizationRequestEndpoint, state,
		oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key))
	if err != nil {
		log.Fatal(err)
	}

	// Send the user to par.URL. dpoptest approves at once and redirects
	// to the redirect URI; the query of that request is the response.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(par.URL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	redirect, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		log.Fatal(err)
	}
	code, err := client.CheckAuthorizationResponse(redirect.Query(), state, meta)
	if err != nil {
		log.Fatal(err)
	}

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
	res, err := hc.Get(srv.ResourceEndpoint())
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var caller dpoptest.ResourceResponse
	if err := json.NewDecoder(res.Body).Decode(&caller); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.StatusCode, caller.Scheme, caller.JKT == key.Thumbprint())
	// Output:
	// token type: DPoP
	// 200 DPoP true
}

// Client credentials with DPoP: the server demands a nonce, which the
// transport learns and retries with.
func Example_clientCredentials() {
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	defer srv.Close()

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key})
	cc := &clientcredentials.Config{
		ClientID:     dpoptest.ConfidentialClientID,
		ClientSecret: dpoptest.ConfidentialClientSecret,
		TokenURL:     srv.TokenEndpoint(),
	}
	hc := client.NewClient(ctx, cc.TokenSource(ctx), client.RequireDPoP)
	resp, err := hc.Get(srv.ResourceEndpoint())
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
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()
	cfg := &oauth2.Config{
		ClientID:    dpoptest.PublicClientID,
		RedirectURL: "http://127.0.0.1:8080/callback",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
	}

	// Before the restart: a token bound to a key that is saved with it.
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	nonces := new(client.MemoryNonceCache)
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key, Nonces: nonces})
	verifier := oauth2.GenerateVerifier()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key)))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	redirect, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := cfg.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
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

// A Transport signs any request; given a token it adds ath and sends it
// as "Authorization: DPoP". Nonces are learnt per server.
func ExampleTransport() {
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	defer srv.Close()
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	// A token bound to the key, minted by the test server.
	token, err := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	t := &client.Transport{Key: key}
	req, err := http.NewRequest(http.MethodGet, srv.ResourceEndpoint(), nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP "+token)
	resp, err := (&http.Client{Transport: t}).Do(req) // retried once for the nonce
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(srv.ResourceURL())
	fmt.Println(resp.StatusCode, t.NonceCache().Get(client.Origin(u)) != "")
	// Output:
	// 200 true
}

// Discover reads RFC 8414 metadata and checks its issuer.
func ExampleDiscover() {
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()
	meta, err := client.Discover(context.Background(), srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta.Issuer == srv.URL(), meta.PushedAuthorizationRequestEndpoint == srv.PAREndpoint())
	fmt.Println(meta.Algorithms()[0])
	// Output:
	// true true
	// ES256
}

// ParseChallenges reads every challenge of a WWW-Authenticate field.
func ExampleParseChallenges() {
	cs, err := client.ParseChallenges(`Bearer realm="api", DPoP algs="ES256 PS256", error="use_dpop_nonce"`)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range cs {
		fmt.Println(c.Scheme, c.Param("error"), c.Algorithms())
	}
	// Output:
	// Bearer  []
	// DPoP use_dpop_nonce [ES256 PS256]
}

// A nonce cache kept across a restart: snapshot it with the session and
// load it into the new Transport's cache.
func ExampleMemoryNonceCache() {
	before := new(client.MemoryNonceCache)
	u, _ := url.Parse("https://as.example/token")
	before.Set(client.Origin(u), "nonce-1")
	saved := before.Snapshot()

	after := new(client.MemoryNonceCache)
	after.Load(saved)
	fmt.Println(client.Origin(u), after.Get("https://as.example:443"))
	// Output:
	// https://as.example:443 nonce-1
}

// A confidential client authenticating with private_key_jwt: every token
// request, the nonce retry included, carries a new client assertion.
func ExamplePrivateKeyJWT() {
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesAS})
	defer srv.Close()
	ck, err := client.GenerateClientKey(dpop.ES256, "client-key-1")
	if err != nil {
		log.Fatal(err)
	}
	// Register the client with its public key (RFC 7591).
	reg, _ := json.Marshal(map[string]any{
		"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"},
		"jwks": client.JWKS(ck),
	})
	resp, err := http.Post(srv.RegistrationEndpoint(), "application/json", bytes.NewReader(reg))
	if err != nil {
		log.Fatal(err)
	}
	var registered struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&registered)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key, Base: &client.PrivateKeyJWT{
		Key: ck, ClientID: registered.ClientID, Audience: srv.URL(), Endpoints: []string{srv.TokenEndpoint()},
	}})
	cc := &clientcredentials.Config{ClientID: registered.ClientID, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Type())
	// Output:
	// DPoP
}

// The authorization response: iss first (RFC 9207), then state, then an
// error answer.
func ExampleCheckAuthorizationResponse() {
	meta := &client.Metadata{Issuer: "https://as.example", AuthorizationResponseIssParameterSupported: true}
	q, _ := url.ParseQuery("code=abc&state=s1&iss=https%3A%2F%2Fas.example")
	code, err := client.CheckAuthorizationResponse(q, "s1", meta)
	fmt.Println(code, err)

	q, _ = url.ParseQuery("code=abc&state=s1&iss=https%3A%2F%2Fevil.example")
	_, err = client.CheckAuthorizationResponse(q, "s1", meta)
	fmt.Println(err != nil)

	q, _ = url.ParseQuery("error=access_denied&state=s1&iss=https%3A%2F%2Fas.example")
	_, err = client.CheckAuthorizationResponse(q, "s1", meta)
	fmt.Println(client.AsError(err).Code)
	// Output:
	// abc <nil>
	// true
	// access_denied
}

// A resource names its authorization server in RFC 9728 metadata.
func ExampleDiscoverResource() {
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()
	rm, err := client.DiscoverResource(context.Background(), srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	as, err := rm.AuthorizationServer()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(as == srv.URL())
	// Output:
	// true
}

// A client metadata document for a confidential client, served at the URL
// that is its client_id.
func ExampleNewClientMetadata() {
	ck, err := client.GenerateClientKey(dpop.ES256, "k1")
	if err != nil {
		log.Fatal(err)
	}
	doc := client.NewClientMetadata("https://app.example/client-metadata.json",
		[]string{"https://app.example/callback"}, "atproto transition:generic", ck)
	if err := doc.Validate(); err != nil {
		log.Fatal(err)
	}
	http.Handle("/client-metadata.json", doc)
	fmt.Println(doc.TokenEndpointAuthMethod, doc.TokenEndpointAuthSigningAlg, doc.DPoPBoundAccessTokens)
	// Output:
	// private_key_jwt ES256 true
}

// RFC 8707 resource indicators: on the authorization request and the code
// exchange through ResourceParam, on refreshes (which x/oauth2 cannot
// extend) through ResourceIndicator under the Transport.
func ExampleResourceIndicator() {
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	resource := srv.ResourceURL()
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key, Base: &client.ResourceIndicator{
		Resources: []string{resource}, TokenURL: srv.TokenEndpoint(),
	}})
	cfg := &oauth2.Config{
		ClientID:    dpoptest.PublicClientID,
		RedirectURL: "http://127.0.0.1:8080/callback",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), client.ResourceParam(resource)))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	redirect, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := cfg.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier), client.ResourceParam(resource))
	if err != nil {
		log.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, tok).Token() // carries resource too
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fresh.AccessToken != tok.AccessToken)
	// Output:
	// true
}

// A 401 names the resource's metadata (RFC 9728 §5.1); the document must
// name the very URL that was requested (§3.3), then it names the
// authorization server.
func ExampleResourceMetadataFromChallenge() {
	var rs *httptest.Server
	rs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/oauth-protected-resource/api" {
			fmt.Fprintf(w, `{"resource":%q,"authorization_servers":["https://as.example"]}`, rs.URL+"/api")
			return
		}
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", resource_metadata="`+rs.URL+`/.well-known/oauth-protected-resource/api"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer rs.Close()
	resp, err := http.Get(rs.URL + "/api")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	rm, err := client.ResourceMetadataFromChallenge(context.Background(), resp)
	if err != nil {
		log.Fatal(err)
	}
	as, err := rm.AuthorizationServer()
	fmt.Println(resp.StatusCode, as, err)
	// Output:
	// 401 https://as.example <nil>
}

// An authorization server reads a client metadata document fetched from
// the client_id URL.
func ExampleParseClientMetadata() {
	const id = "https://app.example/client-metadata.json"
	doc := []byte(`{"client_id":"https://app.example/client-metadata.json",
		"redirect_uris":["https://app.example/callback"],
		"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`)
	m, err := client.ParseClientMetadata(doc, id)
	fmt.Println(err, m.DPoPBoundAccessTokens)
	_, err = client.ParseClientMetadata(doc, "https://other.example/client-metadata.json")
	fmt.Println(errors.Is(err, client.ErrClientMetadata))
	// Output:
	// <nil> true
	// true
}
