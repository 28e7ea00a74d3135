package mcpdpop_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// An MCP server that accepts only DPoP-bound tokens. A request without
// credentials is answered with the DPoP challenge, which tells the client
// where the RFC 9728 metadata is.
func ExampleProtect() {
	server := mcp.NewServer(&mcp.Implementation{Name: "my-server", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		caller, _ := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: caller.Subject}}}, nil, nil
	})

	tokens, err := resource.NewJWTValidator(resource.JWTOptions{
		Issuer:   "https://as.example.com",
		Audience: "https://mcp.example.com/mcp", // the token must name this server (RFC 8707)
		JWKSURL:  "https://as.example.com/jwks",
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := mcpdpop.Protect(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil),
		mcpdpop.ServerOptions{
			Resource:             "https://mcp.example.com/mcp",
			AuthorizationServers: []string{"https://as.example.com"},
			Tokens:               resource.NewTokenCache(tokens, resource.TokenCacheOptions{}),
		})
	if err != nil {
		log.Fatal(err)
	}
	// http.ListenAndServeTLS(":443", cert, key, h) in a real server.

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "https://mcp.example.com/mcp", strings.NewReader("{}")))
	fmt.Println(rec.Code)
	challenges, _ := client.ParseChallenges(rec.Header().Get("WWW-Authenticate"))
	fmt.Println(challenges[0].Scheme, challenges[0].Param("resource_metadata"))
	// Output:
	// 401
	// DPoP https://mcp.example.com/.well-known/oauth-protected-resource/mcp
}

// The profile's verifier, sharing a nonce secret across a fleet.
func ExampleVerifierOptions() {
	nonces, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{
		Secret: []byte("32 bytes or more of a secret from the fleet's vault"),
		Scope:  "rs:https://mcp.example.com/mcp",
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := dpop.NewVerifier(mcpdpop.VerifierOptions(nonces))
	if err != nil {
		log.Fatal(err)
	}
	_ = mcpdpop.ServerOptions{Verifier: v}
	fmt.Println(mcpdpop.ProfileMaxAge+mcpdpop.ProfileLeeway, mcpdpop.ProfileLeeway)
	// Output: 5m0s 4m30s
}

func ExampleMetadataPath() {
	p, err := mcpdpop.MetadataPath("https://mcp.example.com/mcp")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p)
	// Output: /.well-known/oauth-protected-resource/mcp
}

// What go-sdk's tools see of a verified caller.
func ExampleTokenInfo() {
	ti := mcpdpop.TokenInfo(&resource.Caller{Subject: "alice", JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", Scheme: resource.SchemeDPoP})
	fmt.Println(ti.UserID)
	c, _ := mcpdpop.CallerFromTokenInfo(ti)
	fmt.Println(c.Scheme)
	// Output:
	// alice#0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
	// DPoP
}

// A tool reads the verified caller from go-sdk's request.
func ExampleCallerFromTokenInfo() {
	whoami := func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		caller, ok := mcpdpop.CallerFromTokenInfo(req.Extra.TokenInfo)
		if !ok {
			return nil, nil, fmt.Errorf("not behind mcpdpop.Protect")
		}
		text := fmt.Sprintf("%s (client %s, key %s, scopes %v)", caller.Subject, caller.ClientID, caller.JKT, caller.Scopes)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "my-server", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "whoami"}, whoami)
}
