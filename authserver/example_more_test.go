package authserver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// A refusal of the server's own, with evidence for the log and only the
// code and description for the client.
func ExampleNewError() {
	e := authserver.NewError(http.StatusBadRequest, authserver.CodeInvalidGrant, "redirect_uri does not match", nil)
	e.Err.Check, e.Err.Expected, e.Err.Got = "redirect_uri", "https://app.example/cb", "https://evil.example/cb"
	w := httptest.NewRecorder()
	authserver.WriteError(w, e)
	fmt.Println(w.Code, w.Body.String())
	// Output: 400 {"error":"invalid_grant","error_description":"redirect_uri does not match"}
}

// Options.Logger: each refusal is one record with its evidence.
func ExampleOptions_logger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	as, _ := authserver.New(authserver.Options{Verifier: verifier, TokenURL: "https://as.example/token", Logger: logger})

	r := httptest.NewRequest(http.MethodPost, "https://as.example/token", strings.NewReader("grant_type=client_credentials"))
	_, err := as.TokenRequest(context.Background(), r, authserver.TokenRequest{
		Client: authserver.Client{ID: "mcp-client", DPoPBoundAccessTokens: true},
	})
	fmt.Println(errors.Is(err, authserver.ErrProofRequired))
	// Output:
	// level=INFO msg="authserver: request refused" endpoint=token client_id=mcp-client error.status=400 error.code=invalid_dpop_proof error.description="DPoP proof required for this client" error.check=proof error.expected="a proof (client registered with dpop_bound_access_tokens)" error.got="no DPoP header" error.cause="authserver: DPoP proof required: dpop: no DPoP header"
	// true
}

// Validating a client ID metadata document fetched from its client_id.
func ExampleParseClientMetadataDocument() {
	const id = "https://app.example.com/client-metadata.json"
	doc, err := authserver.ParseClientMetadataDocument(id, []byte(`{
		"client_id": "https://app.example.com/client-metadata.json",
		"redirect_uris": ["https://app.example.com/callback"],
		"token_endpoint_auth_method": "none",
		"dpop_bound_access_tokens": true
	}`))
	fmt.Println(doc.Public(), doc.DPoPBoundAccessTokens, err)

	_, err = authserver.ParseClientMetadataDocument(id, []byte(`{"client_id":"https://evil.example/c.json","redirect_uris":["https://app.example.com/callback"],"token_endpoint_auth_method":"none"}`))
	var e *authserver.Error
	errors.As(err, &e)
	fmt.Println(e.Code(), e.Err.Check, e.Err.Got)
	// Output:
	// true true <nil>
	// invalid_client_metadata client_id https://evil.example/c.json
}

// A resolver for client_ids that are metadata document URLs. The default
// refuses loopback and private addresses at dial time.
func ExampleNewClientIDResolver() {
	r := authserver.NewClientIDResolver(authserver.ClientIDOptions{})
	_, err := r.Resolve(context.Background(), "https://127.0.0.1:8443/client-metadata.json")
	fmt.Println(errors.Is(err, authserver.ErrForbiddenAddress))
	// Output: true
}

func ExampleParseClientIDURL() {
	for _, id := range []string{"https://app.example.com/client-metadata.json", "https://app.example.com/", "http://app.example.com/c.json"} {
		_, err := authserver.ParseClientIDURL(id)
		fmt.Println(err == nil)
	}
	// Output:
	// true
	// false
	// false
}
