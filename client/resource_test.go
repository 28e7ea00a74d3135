package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testkit"
	"golang.org/x/oauth2"
)

// TestResourceIndicator: the RFC 8707 resource reaches the PAR, code
// exchange and refresh requests; the refresh gets it from the transport
// layer, x/oauth2 alone cannot send it.
func TestResourceIndicator(t *testing.T) {
	const res = "https://rs.example/api"
	var mu sync.Mutex
	seen := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		seen[r.URL.Path+" "+r.PostForm.Get("grant_type")] = r.PostForm["resource"]
		mu.Unlock()
		if r.URL.Path == "/par" {
			writeJSON(w, 201, map[string]any{"request_uri": "urn:x", "expires_in": 60})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "a", "token_type": "DPoP", "refresh_token": "r", "expires_in": 60})
	}))
	defer srv.Close()
	ctx := NewContext(context.Background(), &Transport{Key: testkit.Key(t), Base: &ResourceIndicator{
		Resources: []string{res}, TokenURL: srv.URL + "/token",
	}})
	cfg := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	par, err := PushAuthCodeURL(ctx, cfg, srv.URL+"/par", "s", ResourceParam(res))
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(par.URL); u.Query().Has("resource") {
		t.Errorf("resource left on the authorization URL %s", par.URL)
	}
	tok, err := cfg.Exchange(ctx, "code", ResourceParam(res))
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if _, err := cfg.TokenSource(ctx, tok).Token(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"/par ", "/token authorization_code", "/token refresh_token"} {
		if !slices.Equal(seen[k], []string{res}) {
			t.Errorf("%s: resource %q", k, seen[k])
		}
	}
}
