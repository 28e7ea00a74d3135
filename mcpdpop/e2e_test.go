package mcpdpop_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The example client against the example server, with dpoptest (the
// server of `dpop serve`) as the authorization server: the client
// discovers it through the MCP server's RFC 9728 metadata, registers
// dynamically (RFC 7591), asks for a token for the MCP server (RFC 8707
// resource), and calls the tool; nonces are demanded at both servers. Then
// the attacks: a token used with another key, a replayed proof, the
// Bearer downgrade and a token for another audience are refused.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example commands")
	}
	serverBin := buildExample(t, "mcp-server")
	clientBin := buildExample(t, "mcp-client")

	addr := freeLoopbackAddr(t)
	endpoint := "http://" + addr + "/mcp"
	var seen struct {
		sync.Mutex
		registered, asNonce, resource int
	}
	as := dpoptest.NewServer(dpoptest.Options{
		Nonces:    dpoptest.NoncesBoth,
		Resources: []string{endpoint},
		Observe: func(e dpoptest.Exchange) {
			seen.Lock()
			defer seen.Unlock()
			switch {
			case strings.HasSuffix(e.URL, "/register") && e.Status == http.StatusCreated:
				seen.registered++
			case strings.HasSuffix(e.URL, "/token") && e.Status == http.StatusBadRequest && strings.Contains(string(e.ResponseBody), dpop.CodeUseNonce):
				seen.asNonce++
			case strings.HasSuffix(e.URL, "/token") && e.Status == http.StatusOK && strings.Contains(string(e.RequestBody), "resource="+url.QueryEscape(endpoint)):
				seen.resource++
			}
		},
	})
	defer as.Close()
	serverLog := startExampleServer(t, serverBin, addr, as.URL())

	// The example client, as a developer runs it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, clientBin, endpoint).CombinedOutput()
	if err != nil {
		t.Fatalf("mcp-client: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), dpoptest.DefaultUser+", key ") {
		t.Fatalf("mcp-client printed %q, want the tool's answer for %s", out, dpoptest.DefaultUser)
	}
	seen.Lock()
	if seen.registered != 1 || seen.asNonce < 1 || seen.resource != 1 {
		t.Errorf("at the authorization server: %d registrations, %d nonce challenges, %d tokens for the MCP server; want 1, at least 1, 1",
			seen.registered, seen.asNonce, seen.resource)
	}
	seen.Unlock()
	if l := serverLog(); !strings.Contains(l, dpop.CodeUseNonce) {
		t.Errorf("the MCP server never asked for its nonce; its log:\n%s", l)
	}

	// The same flow in process, to keep the token and the key.
	key, h := headlessClient(t)
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	session, err := c.Connect(ctx, mcpdpop.NewClientTransport(endpoint, h), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, key.Thumbprint()) {
		t.Fatalf("whoami: %+v %v, want the key %s", res, err, key.Thumbprint())
	}
	if err := session.Close(); err != nil {
		t.Errorf("closing the session (DELETE with a proof): %v", err)
	}
	// Both sessions, GET streams and DELETEs included, met no refusal but
	// the first request's (no token yet) and the nonce challenges.
	for _, l := range strings.Split(serverLog(), "\n") {
		if strings.Contains(l, "request refused") && !strings.Contains(l, "error.code="+dpop.CodeUseNonce) && !strings.Contains(l, `error.got="no Authorization field"`) {
			t.Errorf("the MCP server refused a request of the honest clients: %s", l)
		}
	}
	ts, err := h.TokenSource(ctx)
	if err != nil || ts == nil {
		t.Fatalf("token source: %v", err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q", tok.TokenType)
	}

	initialize := func(t *testing.T, rt http.RoundTripper, authorization string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(initializeBody))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(initializeBody)), nil }
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp
	}
	refused := func(t *testing.T, resp *http.Response, code string) {
		t.Helper()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
		cs, err := client.ParseChallenges(resp.Header.Get("WWW-Authenticate"))
		if err != nil || len(cs) != 1 || !strings.EqualFold(cs[0].Scheme, "DPoP") {
			t.Fatalf("challenge %q: want one DPoP challenge", resp.Header.Get("WWW-Authenticate"))
		}
		if cs[0].Param("error") != code {
			t.Errorf("error %q, want %q", cs[0].Param("error"), code)
		}
		if !strings.HasSuffix(cs[0].Param("resource_metadata"), "/.well-known/oauth-protected-resource/mcp") {
			t.Errorf("resource_metadata %q", cs[0].Param("resource_metadata"))
		}
	}

	t.Run("the owner's key", func(t *testing.T) {
		// Through a fresh DPoP transport: it meets the server's nonce
		// challenge first and answers it.
		resp := initialize(t, &client.Transport{Key: key}, "DPoP "+tok.AccessToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("stolen token with another key", func(t *testing.T) {
		thief, _ := dpop.GenerateKey(dpop.ES256)
		refused(t, initialize(t, &client.Transport{Key: thief}, "DPoP "+tok.AccessToken), dpop.CodeInvalidToken)
	})
	t.Run("replayed proof", func(t *testing.T) {
		rec := &recordingRT{}
		first := initialize(t, &client.Transport{Key: key, Base: rec}, "DPoP "+tok.AccessToken)
		if first.StatusCode != http.StatusOK {
			t.Fatalf("first: %d", first.StatusCode)
		}
		// The accepted request again, byte for byte: same proof, same
		// (still valid) nonce.
		refused(t, initialize(t, replayRT{rec.last()}, ""), dpop.CodeInvalidProof)
	})
	t.Run("Bearer downgrade", func(t *testing.T) {
		refused(t, initialize(t, http.DefaultTransport, "Bearer "+tok.AccessToken), "")
		refused(t, initialize(t, &client.Transport{Key: key, SignBearer: true}, "Bearer "+tok.AccessToken), "")
	})
	t.Run("token for another audience", func(t *testing.T) {
		other, err := as.MintToken(key.Thumbprint(), dpoptest.TokenOptions{Audience: []string{as.ResourceURL()}})
		if err != nil {
			t.Fatal(err)
		}
		refused(t, initialize(t, &client.Transport{Key: key}, "DPoP "+other), dpop.CodeInvalidToken)
	})
}

// recordingRT remembers the headers of the last request it sent.
type recordingRT struct {
	mu sync.Mutex
	h  http.Header
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.h = req.Header.Clone()
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recordingRT) last() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h
}

// replayRT sends a request with recorded headers.
type replayRT struct{ h http.Header }

func (r replayRT) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header = r.h.Clone()
	return http.DefaultTransport.RoundTrip(req)
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago, for a server that must know its URL before it starts.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startExampleServer runs the example server until the test ends and
// waits for it to listen. The function it returns reads the server's log.
func startExampleServer(t *testing.T, bin, addr, issuer string) func() string {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr, "-issuer", issuer)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logsMu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		logsMu.Lock()
		defer logsMu.Unlock()
		if logs.Len() < 64<<10 {
			logs.Write(p)
		}
		return len(p), nil
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			logsMu.Lock()
			t.Logf("mcp-server log:\n%s", logs.String())
			logsMu.Unlock()
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "MCP endpoint:") {
				ready <- l
			}
		}
	}()
	select {
	case l := <-ready:
		if !strings.HasSuffix(l, addr+"/mcp") {
			t.Fatalf("mcp-server: %q, want %s", l, addr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mcp-server did not start in 20s")
	}
	return func() string {
		logsMu.Lock()
		defer logsMu.Unlock()
		return logs.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// headlessClient is a public client (dynamically registered, with the
// grant types given, if any) that approves headlessly, with a fresh ES256
// key.
func headlessClient(t *testing.T, grantTypes ...string) (*dpop.Key, *mcpdpop.OAuthHandler) {
	t.Helper()
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	redirect := "http://127.0.0.1:3000/callback"
	h, err := mcpdpop.NewOAuthHandler(key, &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher(redirect, nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none", GrantTypes: grantTypes},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, h
}

// inProcessMCP runs an MCP server behind Protect, with a whoami tool, and
// dpoptest as its authorization server.
func inProcessMCP(t *testing.T, asOpts dpoptest.Options, mod func(*mcpdpop.ServerOptions)) (endpoint string, as *dpoptest.Server) {
	t.Helper()
	mcpSrv := httptest.NewUnstartedServer(nil)
	endpoint = "http://" + mcpSrv.Listener.Addr().String() + "/mcp"
	asOpts.Resources = append(asOpts.Resources, endpoint)
	as = dpoptest.NewServer(asOpts)
	t.Cleanup(as.Close)
	server := mcp.NewServer(&mcp.Implementation{Name: "in-process", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		c, _ := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: c.Subject + " " + c.JKT}}}, nil, nil
	})
	tokens, err := resource.NewJWTValidator(resource.JWTOptions{Issuer: as.URL(), Audience: endpoint, JWKSURL: as.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	opts := mcpdpop.ServerOptions{Resource: endpoint, AuthorizationServers: []string{as.URL()}, Tokens: tokens}
	if mod != nil {
		mod(&opts)
	}
	h, err := mcpdpop.Protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	mcpSrv.Config.Handler = h
	mcpSrv.Start()
	t.Cleanup(mcpSrv.Close)
	return endpoint, as
}

// A short-lived token is refreshed (with a proof by the same key, since
// dpoptest binds the refresh token of a public client to it) and the MCP
// calls go on with the new token under the DPoP scheme.
func TestClientRefreshKeepsTheKey(t *testing.T) {
	var refreshes struct {
		sync.Mutex
		n int
	}
	endpoint, _ := inProcessMCP(t, dpoptest.Options{
		Nonces:         dpoptest.NoncesBoth,
		AccessTokenTTL: 5 * time.Second, // inside x/oauth2's expiry margin: every use refreshes
		Observe: func(e dpoptest.Exchange) {
			if strings.HasSuffix(e.URL, "/token") && e.Status == http.StatusOK && strings.Contains(string(e.RequestBody), "grant_type=refresh_token") {
				refreshes.Lock()
				refreshes.n++
				refreshes.Unlock()
			}
		},
	}, nil)
	key, h := headlessClient(t, "authorization_code", "refresh_token")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := mcp.NewClient(&mcp.Implementation{Name: "refresh", Version: "1"}, nil).Connect(ctx, mcpdpop.NewClientTransport(endpoint, h), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	for i := 0; i < 3; i++ {
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
		if err != nil || res.IsError || !strings.HasSuffix(res.Content[0].(*mcp.TextContent).Text, key.Thumbprint()) {
			t.Fatalf("call %d: %+v %v", i, res, err)
		}
	}
	refreshes.Lock()
	defer refreshes.Unlock()
	if refreshes.n == 0 {
		t.Errorf("no refresh happened")
	}
}

// A server that requires a scope lists it in its metadata; go-sdk's
// handler asks for it, and the call succeeds. A token without it is
// answered 403 insufficient_scope with the scope in the DPoP challenge.
func TestServerRequiredScope(t *testing.T) {
	endpoint, as := inProcessMCP(t, dpoptest.Options{}, func(o *mcpdpop.ServerOptions) { o.Scopes = []string{"mcp:tools"} })
	key, h := headlessClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := mcp.NewClient(&mcp.Implementation{Name: "scoped", Version: "1"}, nil).Connect(ctx, mcpdpop.NewClientTransport(endpoint, h), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}}); err != nil || res.IsError {
		t.Fatalf("call with the scope: %+v %v", res, err)
	}

	noScope, err := as.MintToken(key.Thumbprint(), dpoptest.TokenOptions{Audience: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(initializeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "DPoP "+noScope)
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(initializeBody)), nil }
	resp, err := (&client.Transport{Key: key}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs, _ := client.ParseChallenges(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != http.StatusForbidden || len(cs) != 1 || cs[0].Param("error") != "insufficient_scope" || cs[0].Param("scope") != "mcp:tools" {
		t.Errorf("token without the scope: %d %q, want 403 insufficient_scope scope=\"mcp:tools\"", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
