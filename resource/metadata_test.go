package resource

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMetadata covers RFC 9728 §2 and §3 (rows of docs/conformance.md).
func TestMetadata(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		e := newEnv(t)
		m := e.middleware(t, mwConfig{bearer: bearer})
		md := m.Metadata("https://api.example.com", "https://as.example.com")
		h := MetadataHandler(md)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource", nil))
		want := `{"resource":"https://api.example.com","authorization_servers":["https://as.example.com"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","PS256"],"dpop_bound_access_tokens_required":` + map[bool]string{false: "true", true: "false"}[bearer] + `}`
		if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("bearer=%v: %d %s\nwant %s", bearer, w.Code, w.Body, want)
		}
	}
	w := httptest.NewRecorder()
	MetadataHandler(ProtectedResourceMetadata{Resource: "https://x"}).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	w = httptest.NewRecorder()
	MetadataHandler(ProtectedResourceMetadata{Resource: "https://x"}).ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d %q", w.Code, w.Body)
	}
}

func TestMetadataPath(t *testing.T) {
	cases := map[string]string{
		"https://api.example.com":           "/.well-known/oauth-protected-resource",
		"https://api.example.com/":          "/.well-known/oauth-protected-resource",
		"https://API.example.com:443/v1/":   "/.well-known/oauth-protected-resource/v1",
		"https://api.example.com/tenant/v2": "/.well-known/oauth-protected-resource/tenant/v2",
	}
	for in, want := range cases {
		if got, err := MetadataPath(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"api.example.com", "https://api.example.com/?a=b", "https://api.example.com/#f"} {
		if _, err := MetadataPath(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
