package pdstest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The harness's own pieces, without Node.

func TestServeTLSAndHTTPClient(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{CA: ca}
	base := s.ServeTLS(t, "client.dpop.internal", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	if !strings.HasPrefix(base, "https://client.dpop.internal:") {
		t.Fatalf("ServeTLS URL %s", base)
	}
	resp, err := s.HTTPClient().Get(base + "/x")
	if err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "client.dpop.internal:") {
		t.Errorf("Host %q", body)
	}
	// Without the CA the certificate is refused.
	other, _ := NewCA()
	if _, err := (&Server{CA: other}).HTTPClient().Get(base + "/x"); err == nil {
		t.Error("a client trusting another CA accepted the certificate")
	}
}

func TestRecorderAndNonceRetried(t *testing.T) {
	const nonce = "n-1"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", nonce)
		_, claims, _ := strings.Cut(r.Header.Get("DPoP"), ".")
		claims, _, _ = strings.Cut(claims, ".")
		data, _ := base64.RawURLEncoding.DecodeString(claims)
		var c struct{ Nonce string }
		_ = json.Unmarshal(data, &c)
		switch {
		case c.Nonce == nonce:
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"use_dpop_nonce"}`)
		default:
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", algs="ES256"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	proof := func(n string) string {
		p, _ := json.Marshal(map[string]string{"nonce": n})
		return "e30." + base64.RawURLEncoding.EncodeToString(p) + ".sig"
	}
	rec := &Recorder{}
	hc := &http.Client{Transport: rec}
	send := func(method, path, n string) {
		req, _ := http.NewRequest(method, srv.URL+path+"?q=1", strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof(n))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send(http.MethodPost, "/token", "")
	send(http.MethodPost, "/token", nonce)
	send(http.MethodGet, "/resource", "")
	ex := rec.Exchanges()
	if len(ex) != 3 || ex[0].Error != "use_dpop_nonce" || ex[0].Nonce != nonce || ex[1].ProofNonce != nonce || ex[2].Error != "use_dpop_nonce" {
		t.Fatalf("recorded:\n%s", Dump(ex))
	}
	if ex[0].URL != srv.URL+"/token" || ex[0].Form != "a=b" {
		t.Errorf("URL %q form %q: want the URL without its query and the form", ex[0].URL, ex[0].Form)
	}
	if !NonceRetried(ex, http.MethodPost, srv.URL+"/token", http.StatusBadRequest) {
		t.Error("NonceRetried missed the token endpoint's retry")
	}
	if NonceRetried(ex, http.MethodGet, srv.URL+"/resource", http.StatusUnauthorized) {
		t.Error("NonceRetried saw a retry of /resource that was never sent")
	}
	send(http.MethodGet, "/resource", "stale")
	if NonceRetried(rec.Since(2), http.MethodGet, srv.URL+"/resource", http.StatusUnauthorized) {
		t.Error("NonceRetried took a retry with another nonce")
	}
	send(http.MethodGet, "/resource", nonce)
	if !NonceRetried(rec.Since(2), http.MethodGet, srv.URL+"/resource", http.StatusUnauthorized) {
		t.Errorf("NonceRetried missed the resource's retry:\n%s", Dump(rec.Since(2)))
	}
}
