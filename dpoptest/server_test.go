package dpoptest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
	"github.com/dpopkit/dpop/internal/testsupport"
)

func getJSON(t *testing.T, u string, v any) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %s: %v", u, body, err)
	}
	return resp
}

func TestMetadata(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Algorithms: []dpop.Algorithm{dpop.ES256, dpop.EdDSA}})
	var m map[string]any
	getJSON(t, srv.URL()+"/.well-known/oauth-authorization-server", &m)
	want := map[string]any{
		"issuer":                                srv.URL(),
		"authorization_endpoint":                srv.URL() + "/authorize",
		"token_endpoint":                        srv.URL() + "/token",
		"pushed_authorization_request_endpoint": srv.URL() + "/par",
		"jwks_uri":                              srv.URL() + "/jwks",
		"introspection_endpoint":                srv.URL() + "/introspect",
	}
	if m["require_pushed_authorization_requests"] != false {
		t.Errorf("require_pushed_authorization_requests = %v", m["require_pushed_authorization_requests"])
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	lists := map[string][]string{
		"dpop_signing_alg_values_supported":     {"ES256", "EdDSA"},
		"code_challenge_methods_supported":      {"S256"},
		"grant_types_supported":                 {"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported": {"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
	}
	for k, v := range lists {
		var got []string
		for _, x := range m[k].([]any) {
			got = append(got, x.(string))
		}
		if !slices.Equal(got, v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}

	// client.Discover reads it and checks the issuer.
	md, err := client.Discover(t.Context(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if md.Endpoint().TokenURL != srv.URL()+"/token" || md.PushedAuthorizationRequestEndpoint != srv.PAREndpoint() ||
		!slices.Equal(md.Algorithms(), []dpop.Algorithm{dpop.ES256, dpop.EdDSA}) {
		t.Fatalf("discovered %+v", md)
	}

	// RFC 9728 metadata of the resource server.
	var prm map[string]any
	getJSON(t, srv.ResourceURL()+"/.well-known/oauth-protected-resource", &prm)
	if prm["resource"] != srv.ResourceURL() || prm["authorization_servers"].([]any)[0] != srv.URL() || prm["dpop_bound_access_tokens_required"] != true {
		t.Fatalf("resource metadata %v", prm)
	}

	// The JWKS holds one ES256 signing key.
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, srv.URL()+"/jwks", &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["alg"] != "ES256" || jwks.Keys[0]["kid"] == "" || jwks.Keys[0]["d"] != nil {
		t.Fatalf("jwks %v", jwks)
	}
}

func TestURLsAndClients(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	as, _ := url.Parse(srv.URL())
	rs, _ := url.Parse(srv.ResourceURL())
	if as.Hostname() != "127.0.0.1" || rs.Hostname() != "127.0.0.1" || as.Port() == rs.Port() || strings.HasSuffix(srv.URL(), "/") {
		t.Fatalf("URL %s, ResourceURL %s", srv.URL(), srv.ResourceURL())
	}
	if srv.ResourceEndpoint() != srv.ResourceURL()+"/resource" {
		t.Fatal(srv.ResourceEndpoint())
	}
	ids := []string{}
	for _, c := range srv.Clients() {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"public-client", "confidential-client", "jwt-client", "bearer-client"}) {
		t.Fatal(ids)
	}
	if c, ok := srv.RegisteredClient("public-client"); !ok || !c.Public || c.AuthMethod != "none" || !c.DPoPBound || c.Secret != "" {
		t.Fatalf("%+v", c)
	}
	if c, ok := srv.RegisteredClient("confidential-client"); !ok || c.Public || c.Secret != "confidential-secret" || c.DPoPBound {
		t.Fatalf("%+v", c)
	}
	if c, ok := srv.RegisteredClient("jwt-client"); !ok || c.AuthMethod != "private_key_jwt" || c.Key == nil || c.Key.Algorithm() != dpop.ES256 || c.Secret != "" {
		t.Fatalf("%+v", c)
	}
	if c, ok := srv.RegisteredClient("bearer-client"); !ok || !c.Public || c.DPoPBound {
		t.Fatalf("%+v", c)
	}
	if c, ok := srv.RegisteredClient("nobody"); ok || c.ID != "" {
		t.Fatalf("%+v", c)
	}
}

// TestJWTAccessToken checks the RFC 9068 token the server issues.
func TestJWTAccessToken(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %s", tok.AccessToken)
	}
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
		t.Fatalf("header %v", header)
	}
	for k, v := range map[string]any{"iss": srv.URL(), "aud": srv.ResourceURL(), "sub": dpoptest.ConfidentialClientID, "client_id": dpoptest.ConfidentialClientID, "scope": "read"} {
		if claims[k] != v {
			t.Errorf("%s = %v, want %v", k, claims[k], v)
		}
	}
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != key.Thumbprint() {
		t.Errorf("cnf %v", claims["cnf"])
	}
	if claims["exp"].(float64)-claims["iat"].(float64) != 300 || claims["jti"] == "" {
		t.Errorf("exp/iat/jti %v", claims)
	}
}

func TestIntrospection(t *testing.T) {
	srv := newServer(t, dpoptest.Options{OpaqueTokens: true})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	if strings.Count(tok.AccessToken, ".") != 0 {
		t.Fatalf("opaque token looks like a JWT: %s", tok.AccessToken)
	}
	introspect := func(user, pass, token string) (*http.Response, map[string]any) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, body := send(t, req)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return resp, m
	}
	resp, m := introspect(dpoptest.IntrospectionClientID, dpoptest.IntrospectionClientSecret, tok.AccessToken)
	cnf, _ := m["cnf"].(map[string]any)
	if resp.StatusCode != 200 || m["active"] != true || m["token_type"] != "DPoP" || cnf["jkt"] != key.Thumbprint() || m["aud"] != srv.ResourceURL() {
		t.Fatalf("introspection %d %v", resp.StatusCode, m)
	}
	if resp, m = introspect(dpoptest.IntrospectionClientID, dpoptest.IntrospectionClientSecret, "nope"); resp.StatusCode != 200 || m["active"] != false || len(m) != 1 {
		t.Fatalf("unknown token: %d %v", resp.StatusCode, m)
	}
	if resp, m = introspect(dpoptest.IntrospectionClientID, "wrong", tok.AccessToken); resp.StatusCode != 401 || m["error"] != authserver.CodeInvalidClient || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong credentials: %d %v", resp.StatusCode, m)
	}
	if resp, m = introspect(dpoptest.ConfidentialClientID, dpoptest.ConfidentialClientSecret, tok.AccessToken); resp.StatusCode != 401 || m["error"] != authserver.CodeInvalidClient {
		t.Fatalf("another client: %d %v", resp.StatusCode, m)
	}
}

// TestClock: with Options.Now, codes, request_uris, access tokens and
// nonces expire on the test's clock.
func TestClock(t *testing.T) {
	clk := testsupport.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	srv := newServer(t, dpoptest.Options{Now: clk.Now, Nonces: dpoptest.NoncesBoth, NonceStep: 10 * time.Second, AccessTokenTTL: time.Minute})
	key := testkit.Key(t)
	tr := &client.Transport{Key: key, Base: newBaseTransport(t), Now: clk.Now}
	ctx := client.NewContext(t.Context(), tr)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)

	// A code older than 60 s is refused.
	v := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	clk.Advance(dpoptest.CodeTTL)
	_, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidGrant {
		t.Fatalf("expired code: %d %s", status, code)
	}

	// So is a request_uri.
	pushed, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "st", oauth2.S256ChallengeOption(v))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(dpoptest.RequestURITTL)
	if status := authorizeStatus(t, pushed.URL); status != 400 {
		t.Fatalf("expired request_uri: %d", status)
	}

	c = code(t, srv, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "st")
	clk.Advance(59 * time.Second)
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(tok.Expiry) > time.Minute+time.Second {
		t.Fatalf("expires_in too long: %v", tok.Expiry)
	}
	hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))
	callResource(t, srv, hc)

	// The nonces went stale after two steps; the Transport gets new ones.
	clk.Advance(30 * time.Second)
	callResource(t, srv, hc)

	// The access token expires (beyond the validator's 30 s leeway).
	clk.Advance(time.Minute + time.Second)
	resp, err := hc.Get(srv.ResourceEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidToken {
		t.Fatalf("expired token: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

// TestAlgorithms: a proof with an algorithm outside Options.Algorithms is
// refused at both servers.
func TestAlgorithms(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Algorithms: []dpop.Algorithm{dpop.EdDSA}})
	es := testkit.Key(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}, "client_secret": {dpoptest.ConfidentialClientSecret}}
	resp, body := send(t, tokenRequest(t, srv, form, testkit.Proof(t, es, "POST", srv.URL()+"/token")))
	if resp.StatusCode != 400 || jsonError(t, body) != dpop.CodeInvalidProof {
		t.Fatalf("ES256 proof: %d %s", resp.StatusCode, body)
	}
	ed, err := dpop.GenerateKey(dpop.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	tok := ccToken(t, srv, ed)
	resp, _ = send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, testkit.Proof(t, es, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken))))
	if resp.StatusCode != 401 || challenge(t, resp.Header, "DPoP", "algs") != "EdDSA" {
		t.Fatalf("resource: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

// TestObserve: the hook sees every exchange of a flow, on both servers,
// before the client sees the response.
func TestObserve(t *testing.T) {
	var mu sync.Mutex
	var seen []dpoptest.Exchange
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth, Observe: func(e dpoptest.Exchange) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e)
	}})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	pushed, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "st", oauth2.S256ChallengeOption(v))
	if err != nil {
		t.Fatal(err)
	}
	c := code(t, srv, pushed.URL, "st")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	callResource(t, srv, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)))

	mu.Lock()
	defer mu.Unlock()
	type step struct {
		server, method, path string
		status               int
	}
	want := []step{
		{"as", "POST", "/par", 400},      // use_dpop_nonce
		{"as", "POST", "/par", 201},      // retried with the nonce
		{"as", "GET", "/authorize", 302}, // approved
		{"as", "POST", "/token", 200},    // the AS nonce was learnt at PAR
		{"as", "GET", "/jwks", 200},      // fetched by the resource server inside the next exchange
		{"rs", "GET", "/resource", 401},  // use_dpop_nonce
		{"rs", "GET", "/resource", 200},  // retried with the nonce
	}
	var got []step
	for _, e := range seen {
		u, err := url.Parse(e.URL)
		if err != nil || !u.IsAbs() {
			t.Fatalf("URL %q not absolute", e.URL)
		}
		got = append(got, step{e.Server, e.Method, u.Path, e.Status})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("exchanges\n got %v\nwant %v", got, want)
	}
	first, token, res := seen[0], seen[3], seen[6]
	if first.RequestHeader.Get("DPoP") == "" || first.ResponseHeader.Get("DPoP-Nonce") == "" ||
		!strings.Contains(string(first.RequestBody), "code_challenge=") || !strings.Contains(string(first.ResponseBody), dpop.CodeUseNonce) {
		t.Fatalf("PAR exchange %+v", first)
	}
	if !strings.Contains(string(token.ResponseBody), tok.AccessToken) || !strings.Contains(string(token.RequestBody), "grant_type=authorization_code") {
		t.Fatalf("token exchange %+v", token)
	}
	if !strings.HasPrefix(res.RequestHeader.Get("Authorization"), "DPoP ") || !strings.Contains(string(res.ResponseBody), key.Thumbprint()) {
		t.Fatalf("resource exchange %+v", res)
	}
}

func TestUnstartedAndClose(t *testing.T) {
	srv := dpoptest.NewUnstartedServer(dpoptest.Options{})
	if srv.URL() == "" || srv.ResourceURL() == "" {
		t.Fatal("no URLs before Start")
	}
	srv.Start()
	var m map[string]any
	getJSON(t, srv.URL()+"/.well-known/oauth-authorization-server", &m)
	srv.Close()
	srv.Close() // idempotent
	for _, u := range []string{srv.URL(), srv.ResourceURL()} {
		if resp, err := http.Get(u + "/"); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("%s still serving", u)
		}
	}

	never := dpoptest.NewUnstartedServer(dpoptest.Options{})
	never.Close()

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a non-loopback address was accepted")
			}
		}()
		dpoptest.NewUnstartedServer(dpoptest.Options{ASAddr: "0.0.0.0:0"})
	}()
}

// TestCORS: browser clients can read DPoP-Nonce (RFC 9449 §8),
// and preflights are answered before authentication.
func TestCORS(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	for _, u := range []string{srv.URL() + "/token", srv.ResourceEndpoint()} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, u, nil)
		req.Header.Set("Origin", "http://localhost:3000")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, _ := send(t, req)
		if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") {
			t.Fatalf("preflight %s: %d %v", u, resp.StatusCode, resp.Header)
		}
	}
	req := tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}}, testkit.Proof(t, testkit.Key(t), "POST", srv.URL()+"/token"))
	req.SetBasicAuth(dpoptest.ConfidentialClientID, dpoptest.ConfidentialClientSecret)
	req.Header.Set("Origin", "http://localhost:3000")
	resp, _ := send(t, req)
	if resp.Header.Get("DPoP-Nonce") == "" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("CORS response headers %v", resp.Header)
	}
}

// TestConcurrentFlows runs many clients at once (for -race).
func TestConcurrentFlows(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth, Observe: func(dpoptest.Exchange) {}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			key, err := dpop.GenerateKey(dpop.ES256)
			if err != nil {
				t.Error(err)
				return
			}
			ctx := client.NewContext(t.Context(), &client.Transport{Key: key})
			cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
			v := oauth2.GenerateVerifier()
			pushed, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "st", oauth2.S256ChallengeOption(v))
			if err != nil {
				t.Error(err)
				return
			}
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Get(pushed.URL)
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Error(err)
				return
			}
			res, err := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)).Get(srv.ResourceEndpoint())
			if err != nil {
				t.Error(err)
				return
			}
			_ = res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("resource: %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
}

// TestIntrospectionCall: the resource server introspects opaque tokens
// with its Basic credentials and no DPoP proof (RFC 9449 §6.2).
func TestIntrospectionCall(t *testing.T) {
	var mu sync.Mutex
	var calls []dpoptest.Exchange
	srv := newServer(t, dpoptest.Options{OpaqueTokens: true, Observe: func(e dpoptest.Exchange) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(e.URL, "/introspect") {
			calls = append(calls, e)
		}
	}})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	ctx, _ := clientContext(t, key)
	if rr := callResource(t, srv, client.NewClient(ctx, oauth2.StaticTokenSource(tok), client.RequireDPoP)); rr.JKT != key.Thumbprint() {
		t.Fatalf("%+v", rr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("%d introspection calls", len(calls))
	}
	c := calls[0]
	if c.RequestHeader.Get("DPoP") != "" || !strings.HasPrefix(c.RequestHeader.Get("Authorization"), "Basic ") || c.Status != 200 ||
		!strings.Contains(string(c.ResponseBody), `"token_type":"DPoP"`) {
		t.Fatalf("introspection exchange %+v", c)
	}
}

func TestResourceMethods(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	for method, status := range map[string]int{"POST": 200, "PUT": 405} {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.ResourceEndpoint(), strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		req.Header.Set("DPoP", testkit.Proof(t, key, method, srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken)))
		if resp, body := send(t, req); resp.StatusCode != status {
			t.Fatalf("%s: %d %s", method, resp.StatusCode, body)
		}
	}
	// Bodies over 1 MiB are refused.
	req := tokenRequest(t, srv, url.Values{"x": {strings.Repeat("a", 1<<20)}}, "")
	if resp, _ := send(t, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d", resp.StatusCode)
	}
}
