package pdstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
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
// profile), made by [client.NewClientMetadata], that authenticates with
// private_key_jwt signed by key, at https://<host>:<port>/client-metadata.json
// (see [Server.ServeTLS]), and returns its client_id and its redirect URI
// (on the same origin; nothing listens there: the tests take the redirect
// from [Server.SignIn]).
func (s *Server) ServeClientMetadata(t testing.TB, host string, key *client.ClientKey) (clientID, redirectURI string) {
	t.Helper()
	var doc atomic.Pointer[client.ClientMetadata] // made once the port is known
	mux := http.NewServeMux()
	mux.HandleFunc("/client-metadata.json", func(w http.ResponseWriter, r *http.Request) {
		if d := doc.Load(); d != nil {
			d.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	base := s.ServeTLS(t, host, mux)
	clientID, redirectURI = base+"/client-metadata.json", base+"/callback"
	d := client.NewClientMetadata(clientID, []string{redirectURI}, Scope, key)
	d.ClientName = "dpop pdstest"
	if err := d.Validate(); err != nil {
		t.Fatalf("pdstest: client metadata document: %v", err)
	}
	doc.Store(d)
	return clientID, redirectURI
}

// GetSession calls com.atproto.server.getSession with hc (which must add
// the DPoP-bound access token) and returns the DID the PDS answers,
// failing t unless it answers 200 with one.
func (s *Server) GetSession(t testing.TB, hc *http.Client) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/xrpc/com.atproto.server.getSession", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("getSession: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("getSession: HTTP %d %s", resp.StatusCode, body)
	}
	var out struct {
		DID string `json:"did"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.DID == "" {
		t.Fatalf("getSession: %v: %s", err, body)
	}
	return out.DID
}
