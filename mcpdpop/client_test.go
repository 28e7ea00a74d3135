package mcpdpop_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// fakeMCP is a minimal authorization server and MCP server on one loopback
// origin, in the manner of the conformance suite: it approves at once,
// issues tokens of a chosen type, and records what the client sent.
type fakeMCP struct {
	srv       *httptest.Server
	tokenType string

	mu         sync.Mutex
	tokenProof string
	mcpAuth    []recorded
}

type recorded struct {
	method, authorization, proof string
	proofs                       int
}

const fakeToken = "fake-access-token-0123456789"

func newFakeMCP(t *testing.T, tokenType string) *fakeMCP {
	f := &fakeMCP{tokenType: tokenType}
	mux := http.NewServeMux()
	mcpServer := mcp.NewServer(&mcp.Implementation{Name: "fake", Version: "1"}, nil)
	mcp.AddTool(mcpServer, &mcp.Tool{Name: "ping"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil, nil
	})
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, nil)
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `DPoP resource_metadata="`+f.srv.URL+`/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.mcpAuth = append(f.mcpAuth, recorded{r.Method, r.Header.Get("Authorization"), r.Header.Get("DPoP"), len(r.Header.Values("DPoP"))})
		f.mu.Unlock()
		streamable.ServeHTTP(w, r)
	})
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"resource": f.srv.URL + "/mcp", "authorization_servers": []string{f.srv.URL}})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize",
			"token_endpoint": f.srv.URL + "/token", "registration_endpoint": f.srv.URL + "/register",
			"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"},
			"token_endpoint_auth_methods_supported": []string{"none"},
			"dpop_signing_alg_values_supported":     []string{"ES256"},
		})
	})
	mux.HandleFunc("/register", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "c1", "redirect_uris": []string{"http://127.0.0.1:3000/callback"}, "token_endpoint_auth_method": "none"})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := url.Values{"code": {"code-1"}, "state": {r.URL.Query().Get("state")}}
		http.Redirect(w, r, r.URL.Query().Get("redirect_uri")+"?"+q.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.tokenProof = r.Header.Get("DPoP")
		f.mu.Unlock()
		writeJSON(w, map[string]any{"access_token": fakeToken, "token_type": f.tokenType, "expires_in": 300})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fakeConfig() *auth.AuthorizationCodeHandlerConfig {
	return &auth.AuthorizationCodeHandlerConfig{
		AuthorizationCodeFetcher: mcpdpop.HeadlessFetcher("http://127.0.0.1:3000/callback", nil),
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{RedirectURIs: []string{"http://127.0.0.1:3000/callback"}, TokenEndpointAuthMethod: "none"},
		},
	}
}

// session connects, calls the tool and closes (sending the DELETE).
func session(ctx context.Context, transport mcp.Transport) error {
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	s, err := c.Connect(ctx, transport, nil)
	if err != nil {
		return err
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "ping", Arguments: map[string]any{}}); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// Every MCP request — POST, the GET stream, DELETE — carries the token
// under the DPoP scheme and exactly one proof for it, with ath and the key
// the token is bound to; the token request carries a proof too.
func TestClientSendsDPoPOnEveryMCPRequest(t *testing.T) {
	f := newFakeMCP(t, "DPoP")
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mcpdpop.NewOAuthHandler(key, fakeConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := session(ctx, mcpdpop.NewClientTransport(f.srv.URL+"/mcp", h)); err != nil {
		t.Fatal(err)
	}
	// The GET stream is opened in the background; give it a moment.
	waitFor(t, func() bool { return f.sawMethod(http.MethodGet) })

	v, err := dpop.NewVerifier(dpop.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := v.Verify(ctx, f.tokenProof, dpop.Request{Method: http.MethodPost, URL: f.srv.URL + "/token"}); err != nil {
		t.Errorf("token request proof: %v", err)
	}
	methods := map[string]int{}
	for _, r := range f.mcpAuth {
		methods[r.method]++
		if r.authorization != "DPoP "+fakeToken {
			t.Errorf("%s: Authorization %q, want the DPoP scheme", r.method, r.authorization)
		}
		if r.proofs != 1 {
			t.Errorf("%s: %d DPoP fields, want 1", r.method, r.proofs)
			continue
		}
		if _, err := v.Verify(ctx, r.proof, dpop.Request{Method: r.method, URL: f.srv.URL + "/mcp", AccessToken: fakeToken, BoundKey: key.Thumbprint()}); err != nil {
			t.Errorf("%s: proof: %v", r.method, err)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if methods[m] == 0 {
			t.Errorf("no authenticated %s seen (saw %v)", m, methods)
		}
	}
}

// A token the server did not bind is refused, and never sent, unless the
// Bearer fallback is allowed (RFC 9449 §5).
func TestClientRefusesUnboundToken(t *testing.T) {
	f := newFakeMCP(t, "Bearer")
	key, _ := dpop.GenerateKey(dpop.ES256)
	h, err := mcpdpop.NewOAuthHandler(key, fakeConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = session(ctx, mcpdpop.NewClientTransport(f.srv.URL+"/mcp", h))
	if !errors.Is(err, client.ErrNotDPoPBound) {
		t.Fatalf("err = %v, want ErrNotDPoPBound", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mcpAuth) != 0 {
		t.Errorf("the unbound token was sent to the MCP server: %v", f.mcpAuth[0].authorization)
	}
}

func TestClientBearerFallback(t *testing.T) {
	f := newFakeMCP(t, "Bearer")
	key, _ := dpop.GenerateKey(dpop.ES256)
	h, err := mcpdpop.NewOAuthHandler(key, fakeConfig(), &mcpdpop.ClientOptions{AllowBearer: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := session(ctx, mcpdpop.NewClientTransport(f.srv.URL+"/mcp", h)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mcpAuth) == 0 {
		t.Fatal("no authenticated request")
	}
	for _, r := range f.mcpAuth {
		if r.authorization != "Bearer "+fakeToken || r.proofs != 0 {
			t.Errorf("%s: Authorization %q with %d proofs, want Bearer and none", r.method, r.authorization, r.proofs)
		}
	}
}

// A DPoP token that did not come from the handler is not rewritten: the
// scheme comes from the token type the handler saw, not from guessing.
func TestClientLeavesForeignBearerAlone(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization") + "|" + r.Header.Get("DPoP")
	}))
	defer srv.Close()
	key, _ := dpop.GenerateKey(dpop.ES256)
	h, err := mcpdpop.NewOAuthHandler(key, fakeConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer someone-elses")
	resp, err := h.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "Bearer someone-elses|" {
		t.Errorf("sent %q, want the Bearer token untouched and no proof", got)
	}
}

func TestHeadlessFetcher(t *testing.T) {
	redirect := "http://127.0.0.1:3000/callback"
	for _, tc := range []struct {
		name     string
		location string
		status   int
		want     string // "" for success, else a substring of the error
	}{
		{"ok", redirect + "?code=c&state=s&iss=https%3A%2F%2Fas", http.StatusFound, ""},
		{"denied", redirect + "?error=access_denied&state=s", http.StatusFound, "refused"},
		{"elsewhere", "http://127.0.0.1:3001/callback?code=c", http.StatusFound, "expected"},
		{"no code", redirect + "?state=s", http.StatusFound, "no code"},
		{"no redirect", "", http.StatusOK, "expected a redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.location != "" {
					w.Header().Set("Location", tc.location)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			res, err := mcpdpop.HeadlessFetcher(redirect, nil)(context.Background(), &auth.AuthorizationArgs{URL: srv.URL + "/authorize"})
			if tc.want == "" {
				if err != nil || res.Code != "c" || res.State != "s" || res.Iss != "https://as" {
					t.Fatalf("got %+v, %v", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.name == "denied" && !errors.Is(err, mcpdpop.ErrAuthorizationDenied) {
				t.Errorf("err = %v, want ErrAuthorizationDenied", err)
			}
		})
	}
}

func (f *fakeMCP) sawMethod(m string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.mcpAuth {
		if r.method == m {
			return true
		}
	}
	return false
}

// waitFor polls cond for at most five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met in 5s")
}
