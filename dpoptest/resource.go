package dpoptest

import (
	"net/http"
	"strings"

	"github.com/dpopkit/dpop/resource"
)

func (s *Server) rsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/resource", s.mw.Wrap(http.HandlerFunc(serveResource)))
	mux.Handle("/resource/", s.mw.Wrap(http.HandlerFunc(serveResource)))
	md := s.mw.Metadata(s.rsURL, s.asURL)
	md.ResourceName = "dpoptest resource"
	path, err := resource.MetadataPath(s.rsURL)
	if err != nil {
		panic("dpoptest: " + err.Error())
	}
	mux.Handle("GET "+path, resource.MetadataHandler(md))
	return mux
}

// ResourceResponse is the JSON body of a successful request to
// ResourceEndpoint: the caller the resource server verified.
type ResourceResponse struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	JKT      string `json:"jkt"`
	Scheme   string `json:"scheme"`
	Method   string `json:"method"`
	Path     string `json:"path"`
}

// serveResource echoes the verified caller.
func serveResource(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c, ok := resource.CallerFromContext(r.Context())
	if !ok {
		http.Error(w, "no caller", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, ResourceResponse{
		Subject:  c.Subject,
		ClientID: c.ClientID,
		Scope:    strings.Join(c.Scopes, " "),
		JKT:      c.JKT,
		Scheme:   string(c.Scheme),
		Method:   r.Method,
		Path:     r.URL.Path,
	})
}
