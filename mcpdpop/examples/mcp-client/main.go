// Command mcp-client is an MCP client that proves possession of a key with
// DPoP (RFC 9449) on every request: it discovers the MCP server's
// authorization server (RFC 9728), registers (RFC 7591), obtains a
// DPoP-bound token with the authorization code flow, lists the tools and
// calls one.
//
//	mcp-client [-tool NAME] [-redirect URL] [-bearer] http://127.0.0.1:8000/mcp
//
// The authorization server must approve at once (dpoptest, `dpop serve`, the
// MCP conformance suite): the code is fetched without a browser.
// -plain runs go-sdk's handler with the DPoP transport under it and no
// adapter, which the MCP conformance suite fails (go-sdk then sends the
// token as Bearer, without a proof).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func main() {
	tool := flag.String("tool", "whoami", "the tool to call")
	redirect := flag.String("redirect", "http://127.0.0.1:3000/callback", "the registered redirect URI")
	bearer := flag.Bool("bearer", false, "accept a token the authorization server did not bind")
	plain := flag.Bool("plain", false, "no adapter: go-sdk's handler over the DPoP transport (fails DPoP checks)")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: mcp-client [flags] MCP-URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	cfg := &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher(*redirect, nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "mcp-client example",
				RedirectURIs:            []string{*redirect},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
			},
		},
	}
	var transport *mcp.StreamableClientTransport
	if *plain {
		cfg.Client = &http.Client{Transport: &client.Transport{Key: key}}
		h, err := auth.NewAuthorizationCodeHandler(cfg)
		if err != nil {
			log.Fatal(err)
		}
		transport = &mcp.StreamableClientTransport{Endpoint: flag.Arg(0), HTTPClient: cfg.Client, OAuthHandler: h}
	} else {
		h, err := mcpdpop.NewOAuthHandler(key, cfg, &mcpdpop.ClientOptions{AllowBearer: *bearer})
		if err != nil {
			log.Fatal(err)
		}
		transport = mcpdpop.NewClientTransport(flag.Arg(0), h)
	}

	c := mcp.NewClient(&mcp.Implementation{Name: "mcp-client", Version: "1.0.0"}, nil)
	session, err := c.Connect(ctx, transport, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	if _, err := session.ListTools(ctx, nil); err != nil {
		log.Fatal(err)
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: *tool, Arguments: map[string]any{}})
	if err != nil {
		log.Fatal(err)
	}
	if res.IsError {
		log.Fatalf("tool %s failed", *tool)
	}
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			fmt.Fprintln(os.Stdout, t.Text)
		}
	}
}
