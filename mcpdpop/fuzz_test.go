package mcpdpop_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/mcpdpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// FuzzProtect sends arbitrary Authorization and DPoP fields, methods and
// paths through Protect: it never panics, a refusal is 400, 401 or 403 with
// a challenge, and only a request with a proof by the bound key reaches the
// MCP handler, with the caller as go-sdk's TokenInfo.
func FuzzProtect(f *testing.F) {
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		f.Fatal(err)
	}
	const resourceURL = "https://mcp.example.com/mcp"
	tokens := resource.TokenValidatorFunc(func(_ context.Context, tok string) (*resource.TokenInfo, error) {
		if tok != "tok" {
			return nil, resource.ErrInvalidToken
		}
		return &resource.TokenInfo{Subject: "alice", JKT: key.Thumbprint(), Expiry: time.Now().Add(time.Hour)}, nil
	})
	v, err := dpop.NewVerifier(mcpdpop.VerifierOptions(nil))
	if err != nil {
		f.Fatal(err)
	}
	var reached *auth.TokenInfo
	h, err := mcpdpop.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = auth.TokenInfoFromContext(r.Context())
	}), mcpdpop.ServerOptions{Resource: resourceURL, AuthorizationServers: []string{"https://as.example.com"}, Tokens: tokens, Verifier: v})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := key.Proof(http.MethodPost, resourceURL, dpop.WithAccessToken("tok"))
	f.Add("POST", "/mcp", "DPoP tok", good)
	f.Add("POST", "/mcp", "Bearer tok", "")
	f.Add("GET", "/.well-known/oauth-protected-resource/mcp", "", "")
	f.Add("DELETE", "/mcp", "DPoP  tok", "x.y.z")
	f.Add("POST", "/mcp", "dpop tok", good+", "+good)
	f.Fuzz(func(t *testing.T, method, path, authorization, proof string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n#?") {
			return
		}
		req, err := http.NewRequest(method, "https://mcp.example.com"+path, nil)
		if err != nil {
			return
		}
		if authorization != "" {
			req.Header["Authorization"] = []string{authorization}
		}
		if proof != "" {
			req.Header["Dpop"] = []string{proof}
		}
		reached = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if reached != nil {
			if rec.Code != http.StatusOK || reached.UserID != "alice#"+key.Thumbprint() {
				t.Fatalf("reached the handler with %d, UserID %q", rec.Code, reached.UserID)
			}
			return
		}
		if strings.HasPrefix(path, "/.well-known/") && path == "/.well-known/oauth-protected-resource/mcp" {
			return
		}
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			if !strings.Contains(rec.Header().Get("WWW-Authenticate"), "DPoP ") {
				t.Fatalf("%d without a DPoP challenge: %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
		default:
			t.Fatalf("refused with %d", rec.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
