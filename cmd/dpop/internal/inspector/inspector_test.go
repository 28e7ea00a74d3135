package inspector

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
)

// flow runs client credentials and a call at a recorded dpoptest server,
// then a call with another key's proof, refused.
func flow(t *testing.T) (*Recorder, *dpoptest.Server) {
	t.Helper()
	rec := NewRecorder()
	srv := dpoptest.NewServer(dpoptest.Options{Nonces: dpoptest.NoncesBoth, Observe: rec.Observe, Logger: rec.Logger()})
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tr := &client.Transport{Key: key}
	pctx := client.NewContext(ctx, tr)
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequestWithContext(pctx, http.MethodPost, srv.TokenEndpoint(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(dpoptest.ConfidentialClientID, dpoptest.ConfidentialClientSecret)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	call := func(k *dpop.Key) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.ResourceEndpoint(), nil)
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		resp, err := (&http.Client{Transport: &client.Transport{Key: k, Nonces: tr.NonceCache()}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := call(key); s != http.StatusOK {
		t.Fatalf("call: %d", s)
	}
	other, _ := dpop.GenerateKey(dpop.ES256)
	if s := call(other); s != http.StatusUnauthorized {
		t.Fatalf("call with another key: %d", s)
	}
	return rec, srv
}

func TestRecorder(t *testing.T) {
	rec, _ := flow(t)
	es := rec.Entries(0)
	var nonce, token, refused *Entry
	for _, e := range es {
		switch {
		case e.Server == "as" && e.Path == "/token" && e.Verdict == "nonce":
			nonce = e
		case e.Server == "as" && e.Path == "/token" && e.Verdict == "ok":
			token = e
		case e.Server == "rs" && e.Verdict == "refused":
			refused = e
		}
	}
	if nonce == nil || token == nil || refused == nil {
		t.Fatalf("entries: %+v", es)
	}
	if nonce.NonceGiven == "" || nonce.Failure == nil || nonce.Failure.Check != "nonce" {
		t.Errorf("nonce entry: %+v %+v", nonce, nonce.Failure)
	}
	if token.Client != dpoptest.ConfidentialClientID || token.Proof == nil || token.Token == nil || token.Token.CnfJKT != token.Proof.JKT {
		t.Errorf("token entry: %+v", token)
	}
	if token.NonceSent != nonce.NonceGiven {
		t.Errorf("the retry's nonce %q is not the one given %q", token.NonceSent, nonce.NonceGiven)
	}
	f := refused.Failure
	if f == nil || f.Check != "jkt" || f.Expected != token.Proof.JKT || f.Got != refused.Proof.JKT || refused.Error != dpop.CodeInvalidToken {
		t.Errorf("refused entry: %+v failure %+v", refused, f)
	}
	for _, p := range token.Params {
		if p.Name == "client_secret" && p.Value != "***" {
			t.Errorf("the client secret is shown: %q", p.Value)
		}
	}
	if got := rec.Entries(es[len(es)-2].ID); len(got) != 1 {
		t.Errorf("Entries(after) = %d entries, want 1", len(got))
	}
}

// TestServerEvidence: a refusal the AS logs carries the server's evidence.
func TestServerEvidence(t *testing.T) {
	rec := NewRecorder()
	l := rec.Logger()
	e := dpop.NewError(dpop.CodeInvalidProof, "htu does not match", dpop.ErrHTUMismatch)
	e.Check, e.Expected, e.Got = "htu", "https://as.example/token", "https://as.example/other"
	l.Info("authserver: request refused", "endpoint", "token", "error", e)
	rec.Observe(dpoptest.Exchange{Server: "as", Method: "POST", URL: "https://as.example/token", Status: 400,
		RequestHeader: http.Header{}, ResponseHeader: http.Header{}, ResponseBody: []byte(`{"error":"invalid_dpop_proof"}`)})
	f := rec.Entries(0)[0].Failure
	if f == nil || f.Source != "server" || f.Check != "htu" || f.Expected != e.Expected || f.Got != e.Got {
		t.Errorf("failure %+v", f)
	}
}

func TestHandler(t *testing.T) {
	rec, srv := flow(t)
	h := rec.Handler(Servers{Issuer: srv.URL()})
	get := func(target, host string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := get("/", "127.0.0.1:9")
	page := w.Body.String()
	if w.Code != 200 || !strings.Contains(page, `id="exchanges"`) || !strings.Contains(page, srv.URL()) {
		t.Fatalf("page %d", w.Code)
	}
	selfContained(t, page)
	if w := get("/", "evil.example"); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("a non-loopback Host: %d", w.Code)
	}
	w = get("/api/exchanges?after=0", "localhost:9")
	var j struct{ Entries []*Entry }
	if err := json.Unmarshal(w.Body.Bytes(), &j); err != nil || len(j.Entries) != len(rec.Entries(0)) {
		t.Errorf("api: %v %d", err, len(j.Entries))
	}
	req := httptest.NewRequest(http.MethodPost, "/api/inspect", strings.NewReader(url.Values{"proof": {"garbage"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "127.0.0.1"
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if !strings.Contains(rw.Body.String(), "cannot inspect this") {
		t.Errorf("inspect garbage: %s", rw.Body)
	}
}

// selfContained fails unless page loads nothing from elsewhere.
func selfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script src", "<link", "@import", "url(http", "//cdn", "src=\"http"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page is not self-contained: it has %q", bad)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	rec, srv := flow(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, "t", Servers{Issuer: srv.URL()}, rec.Entries(0)); err != nil {
		t.Fatal(err)
	}
	selfContained(t, b.String())
	if !strings.Contains(b.String(), `"mode":"static"`) || !strings.Contains(b.String(), `"verdict":"refused"`) {
		t.Error("the data is not in the page")
	}
	// Data cannot close the script element it sits in.
	var c bytes.Buffer
	evil := &Entry{ID: 1, Path: "</script><script>alert(1)</script>", Verdict: "ok"}
	if err := WriteHTML(&c, "t", Servers{}, []*Entry{evil}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.String(), "<script>alert") {
		t.Error("request data breaks out of the script element")
	}
}

// FuzzObserve: any request and response the servers handle is recorded
// without a panic, and its entry encodes as JSON.
func FuzzObserve(f *testing.F) {
	f.Add("POST", "http://127.0.0.1:1/token", "application/x-www-form-urlencoded", "grant_type=x&client_id=%zz&a", "DPoP a.b.c", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.x", `DPoP error="invalid_token", error_description="x"`, `{"error":"e"}`, 401)
	f.Add("GET", "http://127.0.0.1:1/authorize?client_id=c&x=%", "", "", "Basic !!!", "", "", "", 302)
	f.Fuzz(func(t *testing.T, method, rawURL, ctype, body, auth, proof, challenge, respBody string, status int) {
		rec := NewRecorder()
		rec.Observe(dpoptest.Exchange{
			Server: "rs", Method: method, URL: rawURL, Status: status,
			RequestHeader:  http.Header{"Content-Type": {ctype}, "Authorization": {auth}, "Dpop": {proof}},
			RequestBody:    []byte(body),
			ResponseHeader: http.Header{"Www-Authenticate": {challenge}, "Location": {rawURL}},
			ResponseBody:   []byte(respBody),
		})
		es := rec.Entries(0)
		if len(es) != 1 {
			t.Fatalf("%d entries", len(es))
		}
		if _, err := json.Marshal(es[0]); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCheckForm: the "check a proof" form runs inspect with the request
// it describes.
func TestCheckForm(t *testing.T) {
	h := NewRecorder().Handler(Servers{})
	key, _ := dpop.GenerateKey(dpop.ES256)
	proof, err := key.Proof("POST", "https://as.example/token", dpop.WithNonce("n-1"))
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"proof": {proof}, "method": {"POST"}, "url": {"https://as.example/other"}, "nonce": {"n-1"}}
	req := httptest.NewRequest(http.MethodPost, "/api/inspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "127.0.0.1:8082"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var rep struct {
		Kind   string
		JKT    string
		Checks []struct {
			Check    string
			Passed   bool
			Expected string
			Got      string
		}
		Verdict struct{ Valid bool }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err, w.Body.String())
	}
	if rep.Kind != "dpop_proof" || rep.JKT != key.Thumbprint() || rep.Verdict.Valid {
		t.Errorf("%+v", rep)
	}
	for _, c := range rep.Checks {
		want := c.Check != "htu"
		if c.Passed != want {
			t.Errorf("check %+v, want passed=%v", c, want)
		}
		if c.Check == "htu" && (c.Expected != "https://as.example/other" || c.Got != "https://as.example/token") {
			t.Errorf("htu evidence %+v", c)
		}
	}
}
