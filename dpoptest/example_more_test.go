package dpoptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
)

// A resource-server test without an OAuth flow: a token bound to the
// client's key, minted in one call.
func ExampleServer_MintToken() {
	srv := dpoptest.NewServer(dpoptest.Options{})
	defer srv.Close()

	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := srv.MintToken(key.Thumbprint(), dpoptest.TokenOptions{Subject: "bob", Scope: "read"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := client.NewContext(context.Background(), &client.Transport{Key: key})
	hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "DPoP"}))
	resp, err := hc.Get(srv.ResourceEndpoint())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var caller dpoptest.ResourceResponse
	_ = json.NewDecoder(resp.Body).Decode(&caller)
	fmt.Println(resp.StatusCode, caller.Subject, caller.Scope, caller.JKT == key.Thumbprint())
	// Output: 200 bob read true
}

// The authorization server of a local MCP server: dynamic client
// registration (RFC 7591) and a token whose audience is the MCP server
// named by the resource parameter (RFC 8707).
func ExampleOptions_resources() {
	const mcpServer = "http://127.0.0.1:8931/mcp"
	srv := dpoptest.NewServer(dpoptest.Options{Resources: []string{mcpServer}})
	defer srv.Close()

	reg, _ := json.Marshal(map[string]any{
		"redirect_uris": []string{"http://127.0.0.1/callback"}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "dpop_bound_access_tokens": true,
	})
	resp, err := http.Post(srv.RegistrationEndpoint(), "application/json", bytes.NewReader(reg))
	if err != nil {
		log.Fatal(err)
	}
	var registered struct {
		ClientID string `json:"client_id"`
		Bound    bool   `json:"dpop_bound_access_tokens"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&registered)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, registered.Bound)
	fmt.Println(srv.Metadata()["registration_endpoint"] == srv.RegistrationEndpoint())
	// Output:
	// 201 true
	// true
}

// An AT Protocol authorization server for a client's unit tests: PAR,
// nonces, client ID metadata documents and loopback development clients.
func ExampleProfile() {
	srv := dpoptest.NewServer(dpoptest.Options{Profile: dpoptest.ProfileATProto})
	defer srv.Close()

	m := srv.Metadata()
	fmt.Println(m["require_pushed_authorization_requests"], m["authorization_response_iss_parameter_supported"], m["client_id_metadata_document_supported"])
	fmt.Println(srv.Options().Nonces, srv.Options().User)
	// Output:
	// true true true
	// both did:plc:dpoptestaliceaaaaaaaaaaa
}
