package mcpdpop_test

import (
	"context"
	"log"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/mcpdpop"
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
