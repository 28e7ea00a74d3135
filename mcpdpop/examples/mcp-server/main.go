// Command mcp-server is an MCP server protected by DPoP (RFC 9449): it
// accepts only DPoP-bound JWT access tokens (RFC 9068) issued for its own
// URL by one authorization server, answers with the profile's challenges,
// demands its own nonces, publishes RFC 9728 metadata, and offers one tool,
// whoami, that reports the verified caller.
//
//	dpop serve -resource http://127.0.0.1:8000/mcp &   # the authorization server, issuer http://127.0.0.1:8080
//	mcp-server -issuer http://127.0.0.1:8080 -addr 127.0.0.1:8000
//
// It prints its MCP endpoint once it listens.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address (127.0.0.1:0 picks a port)")
	issuer := flag.String("issuer", "", "the authorization server's issuer URL (required)")
	jwks := flag.String("jwks", "", "the issuer's JWKS URL (default: issuer + /jwks)")
	flag.Parse()
	if *issuer == "" {
		log.Fatal("usage: mcp-server -issuer URL [-addr HOST:PORT] [-jwks URL]")
	}
	if *jwks == "" {
		*jwks = *issuer + "/jwks"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/mcp" // behind TLS: the public https URL

	server := mcp.NewServer(&mcp.Implementation{Name: "mcp-server", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami", Description: "the verified caller"},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			c, _ := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
			text := fmt.Sprintf("%s, key %s", c.Subject, c.JKT)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
		})

	tokens, err := resource.NewJWTValidator(resource.JWTOptions{Issuer: *issuer, Audience: endpoint, JWKSURL: *jwks})
	if err != nil {
		log.Fatal(err)
	}
	h, err := mcpdpop.Protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil),
		mcpdpop.ServerOptions{
			Resource:             endpoint,
			AuthorizationServers: []string{*issuer},
			Tokens:               resource.NewTokenCache(tokens, resource.TokenCacheOptions{}),
			Logger:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("MCP endpoint:", endpoint)
	log.Fatal(http.Serve(ln, h))
}
