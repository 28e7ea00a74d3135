package inspector

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dpopkit/dpop/cmd/dpop/internal/inspect"
	"github.com/dpopkit/dpop/internal/syntax"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/page.html"))

// Servers are the URLs the page shows.
type Servers struct {
	Issuer   string `json:"issuer,omitempty"`
	Resource string `json:"resource,omitempty"`
}

// pageData is the JSON the page's script starts from.
type pageData struct {
	Mode      string   `json:"mode"` // "live" or "static"
	Servers   Servers  `json:"servers"`
	Entries   []*Entry `json:"entries,omitempty"`
	Generated string   `json:"generated,omitempty"`
}

// writePage writes the page, its CSS and script inline.
func writePage(w io.Writer, title string, d pageData) error {
	css, err := assets.ReadFile("assets/app.css")
	if err != nil {
		return err
	}
	js, err := assets.ReadFile("assets/app.js")
	if err != nil {
		return err
	}
	// json.Marshal escapes <, > and &, so the data cannot end the script
	// element it sits in.
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return page.Execute(w, map[string]any{
		"Title": title,
		"CSS":   template.CSS(css),
		"JS":    template.JS(js),
		"Data":  template.JS(data),
	})
}

// WriteHTML writes the page with a fixed list of exchanges, as one
// self-contained file.
func WriteHTML(w io.Writer, title string, servers Servers, entries []*Entry) error {
	var b bytes.Buffer
	if err := writePage(&b, title, pageData{Mode: "static", Servers: servers, Entries: entries, Generated: time.Now().UTC().Format(time.RFC3339)}); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// maxCheckBody caps the form of "check a proof".
const maxCheckBody = 256 << 10

// Handler serves the live page: GET / the page, GET /api/exchanges?after=ID
// the exchanges recorded since ID (oldest first), POST /api/inspect the
// "check a proof" form. It answers only requests addressed to a loopback
// host, so that a web page cannot reach it through DNS rebinding.
func (r *Recorder) Handler(servers Servers) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		var b bytes.Buffer
		if err := writePage(&b, "dpop inspector", pageData{Mode: "live", Servers: servers}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		_, _ = w.Write(b.Bytes())
	})
	mux.HandleFunc("GET /api/exchanges", func(w http.ResponseWriter, req *http.Request) {
		after, _ := strconv.ParseInt(req.URL.Query().Get("after"), 10, 64)
		writeJSON(w, http.StatusOK, map[string]any{"entries": r.Entries(after)})
	})
	mux.HandleFunc("POST /api/inspect", func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, maxCheckBody)
		if err := req.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the form could not be read: " + err.Error()})
			return
		}
		f := req.PostForm
		rep, err := inspect.Inspect(req.Context(), []byte(f.Get("proof")), inspect.Options{
			Method: f.Get("method"), URL: f.Get("url"), AccessToken: f.Get("token"), JKT: f.Get("jkt"), Nonce: f.Get("nonce"),
		})
		var ie *inspect.InputError
		if errors.As(err, &ie) {
			writeJSON(w, http.StatusOK, map[string]string{"error": err.Error()})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host, _, err := net.SplitHostPort(req.Host)
		if err != nil {
			host = req.Host
		}
		if !syntax.IsLoopbackHost(host) {
			http.Error(w, "the inspector answers only on a loopback address", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, req)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves the page on ln until ctx ends.
func (r *Recorder) Serve(ctx context.Context, ln net.Listener, servers Servers) error {
	srv := &http.Server{Handler: r.Handler(servers), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
