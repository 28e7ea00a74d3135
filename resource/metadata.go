package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/dpopkit/dpop"
)

// ProtectedResourceMetadata is an RFC 9728 §2 protected resource metadata
// document, limited to the members this package can vouch for plus a few
// common ones. Members with no value are omitted (RFC 9728 §2).
type ProtectedResourceMetadata struct {
	// Resource is the resource identifier (required): an https URL
	// without a fragment, identical to the one clients use (§3.3).
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers of the
	// authorization servers that issue tokens for this resource.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes clients may request for it.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported is ["header"]: the token is only read from
	// the Authorization header.
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// DPoPSigningAlgValuesSupported is the proof algorithm allow-list,
	// the same as the algs of the DPoP challenge.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// DPoPBoundAccessTokensRequired is true when Bearer is not accepted.
	DPoPBoundAccessTokensRequired bool `json:"dpop_bound_access_tokens_required"`
	// ResourceName is a human-readable name.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of developer documentation.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// Metadata returns the metadata of the resource this middleware protects,
// with the DPoP and bearer members filled in from its configuration.
func (m *Middleware) Metadata(resource string, authorizationServers ...string) ProtectedResourceMetadata {
	algs := m.verifier.Algorithms()
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return ProtectedResourceMetadata{
		Resource:                      resource,
		AuthorizationServers:          append([]string(nil), authorizationServers...),
		BearerMethodsSupported:        []string{"header"},
		DPoPSigningAlgValuesSupported: names,
		DPoPBoundAccessTokensRequired: !m.allowBearer,
	}
}

// MetadataPath returns the path at which the metadata of resource is
// served: "/.well-known/oauth-protected-resource" followed by the
// resource's path, if any (RFC 9728 §3).
func MetadataPath(resource string) (string, error) {
	u, err := dpop.NormalizeURL(resource)
	if err != nil || strings.ContainsAny(resource, "?#") {
		return "", errors.New("resource: the resource identifier must be an absolute URL without query or fragment")
	}
	// The normal form is scheme://authority/path.
	rest := u[strings.Index(u, "//")+2:]
	path := rest[strings.IndexByte(rest, '/'):]
	const wk = "/.well-known/oauth-protected-resource"
	if path == "/" {
		return wk, nil
	}
	return wk + strings.TrimSuffix(path, "/"), nil
}

// MetadataHandler serves md as JSON to GET and HEAD requests.
func MetadataHandler(md ProtectedResourceMetadata) http.Handler {
	body, err := json.Marshal(md)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.Error(w, "metadata unavailable", http.StatusInternalServerError)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
