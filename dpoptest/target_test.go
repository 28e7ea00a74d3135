package dpoptest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

const mcpResource = "http://127.0.0.1:9/mcp"

// audOf returns the aud claim of a JWT access token, as a list.
func audOf(t *testing.T, token string) []string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.Audience
}

// TestResourceIndicators: RFC 8707 resource at /authorize, /par, /token
// and refresh: the access token's aud is the requested resource, checked
// against the allow-list; invalid_target otherwise; without resource the
// audience is unchanged.
func TestResourceIndicators(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Resources: []string{mcpResource, "https://api.example/v1"}})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	res := func(r string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam(dpoptest.ParamResource, r) }

	t.Run("no resource: aud is the resource server", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "s")
		tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if got := audOf(t, tok.AccessToken); !slices.Equal(got, []string{srv.ResourceURL()}) {
			t.Fatalf("aud %v", got)
		}
	})

	t.Run("authorize and token: aud is the resource, refresh keeps it", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v), res(mcpResource)), "s")
		tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v), res(mcpResource))
		if err != nil {
			t.Fatal(err)
		}
		if got := audOf(t, tok.AccessToken); !slices.Equal(got, []string{mcpResource}) {
			t.Fatalf("aud %v", got)
		}
		// Refresh without resource: the grant's resource again.
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {dpoptest.PublicClientID}}
		resp, body := send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.TokenEndpoint())))
		if resp.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", resp.StatusCode, body)
		}
		var tr struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal(body, &tr)
		if got := audOf(t, tr.AccessToken); !slices.Equal(got, []string{mcpResource}) {
			t.Fatalf("refreshed aud %v", got)
		}
		// Refresh naming a resource outside the grant: invalid_target.
		form.Set("refresh_token", tr.RefreshToken)
		form.Set(dpoptest.ParamResource, "https://api.example/v1")
		resp, body = send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.TokenEndpoint())))
		if resp.StatusCode != 400 || jsonError(t, body) != authserver.CodeInvalidTarget {
			t.Fatalf("refresh widening the resources: %d %s", resp.StatusCode, body)
		}
		// The refused refresh did not use the refresh token up.
		form.Set(dpoptest.ParamResource, mcpResource)
		resp, body = send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.TokenEndpoint())))
		if resp.StatusCode != 200 {
			t.Fatalf("refresh narrowing to the grant's resource: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("two resources: aud holds both, the token request narrows", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		u := cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)) + "&resource=" + url.QueryEscape(mcpResource) + "&resource=" + url.QueryEscape("https://api.example/v1")
		c := code(t, srv, u, "s")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v}, "redirect_uri": {redirectURI}, "client_id": {dpoptest.PublicClientID}}
		form.Set(dpoptest.ParamResource, "https://api.example/v1")
		resp, body := send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.TokenEndpoint())))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(body, &tr)
		if got := audOf(t, tr.AccessToken); !slices.Equal(got, []string{"https://api.example/v1"}) {
			t.Fatalf("aud %v", got)
		}
	})

	t.Run("normalised match", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v), res("HTTP://127.0.0.1:9/mcp")), "s")
		tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if got := audOf(t, tok.AccessToken); !slices.Equal(got, []string{mcpResource}) {
			t.Fatalf("aud %v", got)
		}
	})

	for _, bad := range []string{"https://evil.example/mcp", "/mcp", "http://127.0.0.1:9/mcp#frag", "http://127.0.0.1:9/other"} {
		t.Run("authorize refuses "+bad, func(t *testing.T) {
			v := oauth2.GenerateVerifier()
			q := authorize(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v), res(bad)))
			if q.Get("error") != authserver.CodeInvalidTarget || q.Get("code") != "" || q.Get("state") != "s" {
				t.Fatalf("redirect %v", q)
			}
		})
	}

	t.Run("token refuses a resource outside the grant", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v), res(mcpResource)), "s")
		_, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v), res("https://api.example/v1"))
		if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidTarget {
			t.Fatalf("%d %s", status, code)
		}
		// The code was not used up by the refused request.
		if _, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("par", func(t *testing.T) {
		for _, tc := range []struct {
			resource string
			status   int
			code     string
		}{{mcpResource, 201, ""}, {"https://evil.example/", 400, authserver.CodeInvalidTarget}} {
			form := url.Values{
				"client_id": {dpoptest.PublicClientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
				dpoptest.ParamResource: {tc.resource},
			}
			req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.PAREndpoint(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, body := send(t, req)
			if resp.StatusCode != tc.status || (tc.code != "" && jsonError(t, body) != tc.code) {
				t.Fatalf("%s: %d %s", tc.resource, resp.StatusCode, body)
			}
		}
	})

	t.Run("client_credentials", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, TokenURL: srv.TokenEndpoint(),
			EndpointParams: url.Values{dpoptest.ParamResource: {mcpResource}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := audOf(t, tok.AccessToken); !slices.Equal(got, []string{mcpResource}) {
			t.Fatalf("aud %v", got)
		}
		cc.EndpointParams.Set(dpoptest.ParamResource, "https://evil.example/")
		_, err = cc.Token(ctx)
		if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidTarget {
			t.Fatalf("%d %s", status, code)
		}
	})
}

// TestResourceIntrospection: an opaque token's introspection names the
// requested resource as aud.
func TestResourceIntrospection(t *testing.T) {
	srv := newServer(t, dpoptest.Options{OpaqueTokens: true, Resources: []string{mcpResource}})
	ctx, _ := clientContext(t, testkit.Key(t))
	cc := clientcredentials.Config{ClientID: dpoptest.ConfidentialClientID, ClientSecret: dpoptest.ConfidentialClientSecret, TokenURL: srv.TokenEndpoint(),
		EndpointParams: url.Values{dpoptest.ParamResource: {mcpResource}}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.IntrospectionEndpoint(), strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(dpoptest.IntrospectionClientID, dpoptest.IntrospectionClientSecret)
	_, body := send(t, req)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	if m["aud"] != mcpResource || m["active"] != true {
		t.Fatalf("%s", body)
	}
}

// TestResourcesOption: a resource that is not an absolute URI makes the
// server panic at construction, as httptest does for a bad configuration.
func TestResourcesOption(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	dpoptest.NewServer(dpoptest.Options{Resources: []string{"relative/path"}})
}

// TestAudience: Options.Audience is the aud of tokens requested without a
// resource; the built-in resource server accepts only its own URL.
func TestAudience(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Audience: "https://api.example"})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	if got := audOf(t, tok.AccessToken); !slices.Equal(got, []string{"https://api.example"}) {
		t.Fatalf("aud %v", got)
	}
	resp, body := send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken))))
	if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidToken {
		t.Fatalf("token for another audience at the built-in resource: %d %s", resp.StatusCode, body)
	}
}

// TestMintToken: a token minted for a key works at the resource server at
// once; another key, another audience, an expired token and an unbound
// token under DPoP-only are refused.
func TestMintToken(t *testing.T) {
	for _, opaque := range []bool{false, true} {
		name := "jwt"
		if opaque {
			name = "opaque"
		}
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, dpoptest.Options{OpaqueTokens: opaque})
			key := testkit.Key(t)
			tok, err := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{Subject: "bob", Scope: "read write"})
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Transport: &client.Transport{Key: key, Base: newBaseTransport(t)}}
			ctx := contextWithClient(t.Context(), hc)
			rc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "DPoP"}))
			rr := callResource(t, srv, rc)
			if rr.Subject != "bob" || rr.Scope != "read write" || rr.JKT != key.Thumbprint() || rr.ClientID != dpoptest.PublicClientID {
				t.Fatalf("%+v", rr)
			}
			refused := func(name, token string, k *dpop.Key) {
				t.Helper()
				resp, body := send(t, resourceRequest(t, srv, "DPoP", token, testkit.Proof(t, k, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(token))))
				if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidToken {
					t.Errorf("%s: %d %s", name, resp.StatusCode, body)
				}
			}
			refused("another key", tok, testkit.Key(t))
			other, _ := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{Audience: []string{"https://elsewhere.example"}})
			refused("another audience", other, key)
			expired, _ := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{TTL: -time.Minute})
			refused("expired", expired, key)
			unbound, err := srv.MintToken("", dpoptest.TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := send(t, resourceRequest(t, srv, "Bearer", unbound, ""))
			// Bearer is not a scheme of this resource: a challenge without an
			// error code (RFC 6750 §3.1).
			if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "error") != "" {
				t.Errorf("Bearer token without AllowBearer: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
			}
		})
	}
	srv := newServer(t, dpoptest.Options{})
	if _, err := srv.MintToken("not-a-thumbprint", dpoptest.TokenOptions{}); err == nil {
		t.Fatal("malformed jkt accepted")
	}
}

// register posts an RFC 7591 registration request.
func register(t *testing.T, srv *dpoptest.Server, contentType, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.RegistrationEndpoint(), strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, b := send(t, req)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// TestRegistration: RFC 7591 dynamic client registration: metadata in and
// out, the rules on redirect URIs, authentication methods and
// dpop_bound_access_tokens, and the registered client in a flow.
func TestRegistration(t *testing.T) {
	srv := newServer(t, dpoptest.Options{AllowBearer: true})
	if srv.Metadata()["registration_endpoint"] != srv.RegistrationEndpoint() {
		t.Fatal("registration_endpoint missing from the metadata")
	}
	jwkKey, err := client.GenerateClientKey(dpop.ES256, "k1")
	if err != nil {
		t.Fatal(err)
	}
	jwks := string(client.JWKS(jwkKey))

	refusals := []struct {
		name, ct, body string
		code           string
	}{
		{"not JSON", "application/json", `redirect_uris=x`, authserver.CodeInvalidClientMetadata},
		{"form content type", "application/x-www-form-urlencoded", `{}`, dpop.CodeInvalidRequest},
		{"no redirect_uris", "application/json", `{"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"http on a public host", "application/json", `{"redirect_uris":["http://app.example/cb"],"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"fragment", "application/json", `{"redirect_uris":["https://app.example/cb#x"],"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"custom scheme", "application/json", `{"redirect_uris":["com.example.app:/cb"],"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"relative", "application/json", `{"redirect_uris":["/cb"],"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"dpop_bound_access_tokens not a boolean", "application/json", `{"redirect_uris":["https://app.example/cb"],"dpop_bound_access_tokens":"true"}`, authserver.CodeInvalidClientMetadata},
		{"redirect_uris not an array", "application/json", `{"redirect_uris":"https://app.example/cb"}`, authserver.CodeInvalidClientMetadata},
		{"unknown auth method", "application/json", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"tls_client_auth"}`, authserver.CodeInvalidClientMetadata},
		{"private_key_jwt without jwks", "application/json", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, authserver.CodeInvalidClientMetadata},
		{"private_key_jwt with jwks_uri", "application/json", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks"}`, authserver.CodeInvalidClientMetadata},
		{"private key in jwks", "application/json", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[` + privateJWK(t) + `]}}`, authserver.CodeInvalidClientMetadata},
		{"public client with client_credentials", "application/json", `{"token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`, authserver.CodeInvalidClientMetadata},
		{"implicit", "application/json", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, authserver.CodeInvalidClientMetadata},
		{"too many redirect_uris", "application/json", `{"redirect_uris":["https://app.example/cb"` + strings.Repeat(`,"https://app.example/cb"`, 16) + `],"token_endpoint_auth_method":"none"}`, authserver.CodeInvalidRedirectURI},
		{"body over 64 KiB", "application/json", `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("n", 64<<10) + `"}`, authserver.CodeInvalidClientMetadata},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := register(t, srv, tc.ct, tc.body)
			if resp.StatusCode != 400 || m["error"] != tc.code {
				t.Fatalf("%d %v", resp.StatusCode, m)
			}
		})
	}

	t.Run("confidential by default", func(t *testing.T) {
		resp, m := register(t, srv, "application/json", `{"redirect_uris":["https://app.example/cb"],"client_name":"App"}`)
		if resp.StatusCode != 201 || m["token_endpoint_auth_method"] != dpoptest.AuthClientSecretBasic || m["client_secret"] == nil || m["client_secret_expires_at"] != 0.0 || m["client_name"] != "App" || m["dpop_bound_access_tokens"] != false {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Error("Cache-Control")
		}
		c, ok := srv.RegisteredClient(m["client_id"].(string))
		if !ok || c.Public || c.Secret != m["client_secret"] {
			t.Fatalf("%+v", c)
		}
	})

	t.Run("private_key_jwt with jwks", func(t *testing.T) {
		resp, m := register(t, srv, "application/json", `{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks":`+jwks+`}`)
		if resp.StatusCode != 201 || m["client_secret"] != nil {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		id := m["client_id"].(string)
		key := testkit.Key(t)
		tr := &client.Transport{Key: key, Base: &client.PrivateKeyJWT{
			Key: jwkKey, ClientID: id, Audience: srv.URL(), Endpoints: []string{srv.TokenEndpoint()}, Base: newBaseTransport(t)}}
		ctx := client.NewContext(t.Context(), tr)
		cc := clientcredentials.Config{ClientID: id, TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams}
		for i := 0; i < 2; i++ { // a fresh assertion each time
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Type() != "DPoP" {
				t.Fatalf("token_type %s", tok.Type())
			}
		}
	})

	// RFC 9449 §5.2: a client registered with dpop_bound_access_tokens
	// gets no token without a proof: 400 invalid_dpop_proof, even where
	// the server falls back to Bearer for other clients.
	for _, bound := range []bool{true, false} {
		t.Run("public, dpop_bound_access_tokens "+map[bool]string{true: "true", false: "false"}[bound], func(t *testing.T) {
			body := `{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"dpop_bound_access_tokens":` + map[bool]string{true: "true", false: "false"}[bound] + `}`
			resp, m := register(t, srv, "application/json", body)
			if resp.StatusCode != 201 || m["dpop_bound_access_tokens"] != bound || m["client_secret"] != nil {
				t.Fatalf("%d %v", resp.StatusCode, m)
			}
			id := m["client_id"].(string)
			cfg := &oauth2.Config{ClientID: id, Endpoint: oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
				RedirectURL: redirectURI} // another port of a registered loopback URI
			v := oauth2.GenerateVerifier()
			c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "s")
			plain := contextWithClient(t.Context(), &http.Client{Transport: newBaseTransport(t)})
			tok, err := cfg.Exchange(plain, c, oauth2.VerifierOption(v))
			if bound {
				if status, code := oauthErr(t, err); status != 400 || code != dpop.CodeInvalidProof {
					t.Fatalf("no proof from a DPoP-bound client: %d %s", status, code)
				}
				ctx, _ := clientContext(t, testkit.Key(t))
				if tok, err = cfg.Exchange(ctx, c, oauth2.VerifierOption(v)); err != nil || tok.Type() != "DPoP" {
					t.Fatalf("with a proof: %v %v", tok, err)
				}
			} else if err != nil || tok.Type() != "Bearer" {
				t.Fatalf("unbound client without a proof: %v %v", tok, err)
			}
			// Another path than the registered one is refused.
			cfg.RedirectURL = "http://127.0.0.1:53111/other"
			resp2, b2 := send(t, mustGet(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v))))
			var m2 map[string]any
			_ = json.Unmarshal(b2, &m2)
			if resp2.StatusCode != 400 || m2["error"] != dpop.CodeInvalidRequest {
				t.Fatalf("unregistered redirect_uri: %d %s", resp2.StatusCode, b2)
			}
		})
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func privateJWK(t *testing.T) string {
	t.Helper()
	k := testkit.Key(t)
	b, err := k.MarshalPrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// TestMetadataAlgorithms: dpop_signing_alg_values_supported lists
// asymmetric algorithms only (RFC 9449 §5.1).
func TestMetadataAlgorithms(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	algs, _ := srv.Metadata()["dpop_signing_alg_values_supported"].([]string)
	if len(algs) == 0 {
		t.Fatal("no dpop_signing_alg_values_supported")
	}
	for _, a := range algs {
		if a == "none" || strings.HasPrefix(a, "HS") {
			t.Errorf("symmetric or none algorithm %q advertised", a)
		}
	}
}

// TestRegistrationLimit: registrations beyond MaxRegisteredClients are
// refused with 503 temporarily_unavailable.
func TestRegistrationLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("registers a thousand clients")
	}
	srv := newServer(t, dpoptest.Options{})
	body := `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`
	for i := 0; i < dpoptest.MaxRegisteredClients; i++ {
		if resp, m := register(t, srv, "application/json", body); resp.StatusCode != 201 {
			t.Fatalf("registration %d: %d %v", i, resp.StatusCode, m)
		}
	}
	resp, m := register(t, srv, "application/json", body)
	if resp.StatusCode != 503 || m["error"] != dpop.CodeTemporarilyUnavailable {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	if n := len(srv.Clients()); n != 4+dpoptest.MaxRegisteredClients {
		t.Fatalf("%d clients", n)
	}
}

// TestTooManyResources: more than eight resource parameters are refused.
func TestTooManyResources(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}, "client_secret": {dpoptest.ConfidentialClientSecret}}
	for i := 0; i < 9; i++ {
		form.Add(dpoptest.ParamResource, srv.ResourceURL())
	}
	resp, body := send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.TokenEndpoint())))
	if resp.StatusCode != 400 || jsonError(t, body) != authserver.CodeInvalidTarget {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
