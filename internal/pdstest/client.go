package pdstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/dpopkit/dpop/client"
)

// Scope is the scope the test clients ask for.
const Scope = "atproto transition:generic"

// LoopbackClient returns the client_id of a public AT Protocol client in
// development (http://localhost with redirect_uri and scope as query
// parameters: no metadata document) for redirectURI.
func LoopbackClient(redirectURI string) string {
	return "http://localhost?" + url.Values{"redirect_uri": {redirectURI}, "scope": {Scope}}.Encode()
}

// ServeClientMetadata serves the metadata document of a confidential web
// client (draft-ietf-oauth-client-id-metadata-document, AT Protocol
// profile) that authenticates with private_key_jwt signed by key, at
// https://<host>:<port>/client-metadata.json (see [Server.ServeTLS]), and
// returns its client_id and its redirect URI (on the same origin; nothing
// listens there: the tests take the redirect from [Server.SignIn]).
func (s *Server) ServeClientMetadata(t testing.TB, host string, key *client.ClientKey) (clientID, redirectURI string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client-metadata.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id":                       clientID,
			"client_name":                     "dpop pdstest",
			"application_type":                "web",
			"grant_types":                     []string{"authorization_code", "refresh_token"},
			"response_types":                  []string{"code"},
			"redirect_uris":                   []string{redirectURI},
			"scope":                           Scope,
			"token_endpoint_auth_method":      "private_key_jwt",
			"token_endpoint_auth_signing_alg": string(key.Algorithm()),
			"jwks":                            json.RawMessage(client.JWKS(key)),
			"dpop_bound_access_tokens":        true,
		})
	})
	base := s.ServeTLS(t, host, mux)
	return base + "/client-metadata.json", base + "/callback"
}
