package mcpdpop_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// An MCP client whose every request carries a DPoP-bound token and a proof.
func ExampleNewOAuthHandler() {
	key, err := dpop.GenerateKey(dpop.ES256) // keep it as long as the tokens
	if err != nil {
		log.Fatal(err)
	}
	redirect := "http://127.0.0.1:3000/callback"
	h, err := mcpdpop.NewOAuthHandler(key, &auth.AuthorizationCodeHandlerConfig{
		// A real client opens the URL in a browser and waits for the redirect.
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher(redirect, nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "my-client", Version: "1.0.0"}, nil)
	session, err := c.Connect(context.Background(), mcpdpop.NewClientTransport("https://mcp.example.com/mcp", h), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
}

// The transport can also be assembled by hand: the handler's HTTP client
// is what turns go-sdk's Bearer header into DPoP and signs.
func ExampleOAuthHandler_HTTPClient() {
	key, _ := dpop.GenerateKey(dpop.ES256)
	h, err := mcpdpop.NewOAuthHandler(key, &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher("http://127.0.0.1:3000/callback", nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{"http://127.0.0.1:3000/callback"}},
		},
	}, &mcpdpop.ClientOptions{AllowBearer: false})
	if err != nil {
		log.Fatal(err)
	}
	_ = &mcp.StreamableClientTransport{
		Endpoint:     "https://mcp.example.com/mcp",
		HTTPClient:   h.HTTPClient(),
		OAuthHandler: h,
	}
}

// The whole story in one process: an MCP server behind Protect, dpoptest
// as its authorization server (it approves at once, registers clients
// dynamically and issues tokens for the MCP server, RFC 8707), nonces
// demanded at both, and a go-sdk client with the DPoP handler calling a
// tool that reports who called it.
func ExampleNewClientTransport() {
	// The MCP server's URL must be known before the authorization server
	// can issue tokens for it.
	mcpSrv := httptest.NewUnstartedServer(nil)
	endpoint := "http://" + mcpSrv.Listener.Addr().String() + "/mcp"
	as := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth, Resources: []string{endpoint}})
	defer as.Close()

	server := mcp.NewServer(&mcp.Implementation{Name: "example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		caller, _ := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: caller.Subject + " with a DPoP key: " + strconv.FormatBool(caller.JKT != "")}}}, nil, nil
	})
	tokens, err := resource.NewJWTValidator(resource.JWTOptions{Issuer: as.URL(), Audience: endpoint, JWKSURL: as.JWKSURL()})
	if err != nil {
		log.Fatal(err)
	}
	h, err := mcpdpop.Protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil),
		mcpdpop.ServerOptions{Resource: endpoint, AuthorizationServers: []string{as.URL()}, Tokens: tokens})
	if err != nil {
		log.Fatal(err)
	}
	mcpSrv.Config.Handler = h
	mcpSrv.Start()
	defer mcpSrv.Close()

	key, _ := dpop.GenerateKey(dpop.ES256)
	redirect := "http://127.0.0.1:3000/callback"
	oauth, err := mcpdpop.NewOAuthHandler(key, &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher(redirect, nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none"},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	session, err := mcp.NewClient(&mcp.Implementation{Name: "example-client", Version: "1.0.0"}, nil).
		Connect(ctx, mcpdpop.NewClientTransport(endpoint, oauth), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output: alice with a DPoP key: true
}

// The DPoP transport under the handler holds the key and the servers'
// nonces, e.g. to save them with a session.
func ExampleOAuthHandler_Transport() {
	key, _ := dpop.GenerateKey(dpop.ES256)
	h, err := mcpdpop.NewOAuthHandler(key, &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher("http://127.0.0.1:3000/callback", nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{"http://127.0.0.1:3000/callback"}},
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Transport().Key.Thumbprint() == key.Thumbprint())
	// Output: true
}

// A code fetcher for authorization servers that approve at once: it reads
// the code from the redirect instead of waiting for a browser.
func ExampleHeadlessFetcher() {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:3000/callback?code=abc&state="+r.URL.Query().Get("state"), http.StatusFound)
	}))
	defer as.Close()
	fetch := mcpdpop.HeadlessFetcher("http://127.0.0.1:3000/callback", nil)
	res, err := fetch(context.Background(), &auth.AuthorizationArgs{URL: as.URL + "/authorize?state=xyz"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Code, res.State)
	// Output: abc xyz
}
