package authserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseClientIDURL(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"https://app.example.com/client-metadata.json", true},
		{"https://app.example.com:8443/oauth/client.json", true},
		{"https://app.example.com/c?v=1", true},
		{"http://app.example.com/client.json", false},
		{"https://app.example.com", false},
		{"https://app.example.com/", false},
		{"https://user:pw@app.example.com/client.json", false},
		{"https://app.example.com/client.json#x", false},
		{"https://app.example.com/a/../client.json", false},
		{"https://app.example.com/./client.json", false},
		{"https://app.example.com/%2e%2e/client.json", false},
		{"app.example.com/client.json", false},
		{"", false},
	} {
		_, err := ParseClientIDURL(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.id, err)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Code() != CodeInvalidClient || e.Status != 400 || !errors.Is(err, ErrClientIDURL) || e.Err.Got != tc.id) {
			t.Errorf("%q: %v", tc.id, err)
		}
	}
}

const testClientID = "https://app.example.com/client-metadata.json"

func TestParseClientMetadataDocument(t *testing.T) {
	doc := func(members string) string {
		return `{"client_id":"` + testClientID + `","redirect_uris":["https://app.example.com/cb"],` + members + `}`
	}
	good := []string{
		doc(`"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true`),
		doc(`"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`),
		doc(`"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks.json"`),
		`{"client_id":"` + testClientID + `","redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"atproto"}`,
	}
	for _, g := range good {
		d, err := ParseClientMetadataDocument(testClientID, []byte(g))
		if err != nil || d.ClientID != testClientID {
			t.Errorf("%s: %v", g, err)
		}
	}
	d, _ := ParseClientMetadataDocument(testClientID, []byte(good[0]))
	if !d.Public() || !d.DPoPBoundAccessTokens {
		t.Errorf("%+v", d)
	}
	bad := []struct {
		body, check string
	}{
		{`{"client_id":"https://other.example/c.json","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`, "client_id"},
		{`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`, "client_id"},
		{doc(`"token_endpoint_auth_method":"none","client_secret":"s"`), "client_secret"},
		{doc(`"token_endpoint_auth_method":"client_secret_basic"`), "token_endpoint_auth_method"},
		{doc(`"dpop_bound_access_tokens":true`), "token_endpoint_auth_method"},
		{doc(`"token_endpoint_auth_method":"private_key_jwt"`), "jwks"},
		{doc(`"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","d":"x"}]}`), "jwks"},
		{doc(`"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]},"jwks_uri":"https://a.example/j"`), "jwks"},
		{doc(`"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://a.example/j"`), "jwks_uri"},
		{doc(`"token_endpoint_auth_method":"none","grant_types":["client_credentials"]`), "grant_types"},
		{doc(`"token_endpoint_auth_method":"none","response_types":["token"]`), "response_types"},
		{doc(`"token_endpoint_auth_method":"none","redirect_uris":"https://a.example/cb"`), ""},
		{`{"client_id":"` + testClientID + `","redirect_uris":[],"token_endpoint_auth_method":"none"}`, "redirect_uris"},
		{`{"client_id":"` + testClientID + `","redirect_uris":["http://app.example.com/cb"],"token_endpoint_auth_method":"none"}`, "redirect_uris"},
		{`{"client_id":"` + testClientID + `","redirect_uris":["https://app.example.com/cb#f"],"token_endpoint_auth_method":"none"}`, "redirect_uris"},
		{`{"client_id":"` + testClientID + `","redirect_uris":["javascript:alert(1)"],"token_endpoint_auth_method":"none"}`, "redirect_uris"},
		{doc(`"token_endpoint_auth_method":"none","dpop_bound_access_tokens":"yes"`), ""},
		{`[]`, ""},
		{doc(`"token_endpoint_auth_method":"none"`) + `{}`, ""},
	}
	for _, tc := range bad {
		_, err := ParseClientMetadataDocument(testClientID, []byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Code() != CodeInvalidClientMetadata || e.Status != 400 || !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if tc.check != "" && e.Err.Check != tc.check {
			t.Errorf("%s: check %q, want %q", tc.body, e.Err.Check, tc.check)
		}
	}
}

// docServer serves a client metadata document over TLS on 127.0.0.1 and
// counts the fetches.
type docServer struct {
	*httptest.Server
	hits atomic.Int32
	id   string
}

func newDocServer(t *testing.T, handler func(ds *docServer, w http.ResponseWriter, r *http.Request)) *docServer {
	t.Helper()
	ds := &docServer{}
	ds.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds.hits.Add(1)
		handler(ds, w, r)
	}))
	t.Cleanup(ds.Close)
	ds.id = ds.URL + "/client-metadata.json"
	return ds
}

func serveDoc(ds *docServer, w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`, ds.id)
}

func tlsFor(ds *docServer) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ds.Certificate())
	return &tls.Config{RootCAs: pool}
}

func wantRefusal(t *testing.T, err error, code string, sentinel error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code() != code || e.Status != 400 || !errors.Is(err, sentinel) {
		t.Fatalf("err %v, want %s wrapping %v", err, code, sentinel)
	}
	return e
}

// TestClientIDResolver: fetch, validate and cache, with bounds on the
// cache, the size and the time.
func TestClientIDResolver(t *testing.T) {
	ds := newDocServer(t, serveDoc)
	now := time.Unix(1_700_000_000, 0)
	r := NewClientIDResolver(ClientIDOptions{AllowLoopback: true, TLSConfig: tlsFor(ds), CacheTTL: time.Minute, Now: func() time.Time { return now }})
	for i := 0; i < 3; i++ {
		d, err := r.Resolve(t.Context(), ds.id)
		if err != nil || d.ClientID != ds.id || !d.DPoPBoundAccessTokens {
			t.Fatalf("%+v %v", d, err)
		}
	}
	if ds.hits.Load() != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", ds.hits.Load())
	}
	now = now.Add(61 * time.Second)
	if _, err := r.Resolve(t.Context(), ds.id); err != nil || ds.hits.Load() != 2 {
		t.Fatalf("after the TTL: %v, %d fetches", err, ds.hits.Load())
	}

	t.Run("cache bound", func(t *testing.T) {
		ds := newDocServer(t, func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`, ds.URL+r.URL.Path)
		})
		r := NewClientIDResolver(ClientIDOptions{AllowLoopback: true, TLSConfig: tlsFor(ds), CacheMax: 2})
		for i := range 5 {
			if _, err := r.Resolve(t.Context(), fmt.Sprintf("%s/c%d.json", ds.URL, i)); err != nil {
				t.Fatal(err)
			}
			if n := r.CacheLen(); n > 2 {
				t.Fatalf("%d cached documents, bound 2", n)
			}
		}
	})

	t.Run("no-store", func(t *testing.T) {
		ds := newDocServer(t, func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			serveDoc(ds, w, r)
		})
		r := NewClientIDResolver(ClientIDOptions{AllowLoopback: true, TLSConfig: tlsFor(ds)})
		_, _ = r.Resolve(t.Context(), ds.id)
		_, _ = r.Resolve(t.Context(), ds.id)
		if ds.hits.Load() != 2 || r.CacheLen() != 0 {
			t.Fatalf("%d fetches, %d cached", ds.hits.Load(), r.CacheLen())
		}
	})

	for _, tc := range []struct {
		name    string
		handler func(ds *docServer, w http.ResponseWriter, r *http.Request)
		opts    ClientIDOptions
		code    string
		err     error
	}{
		{"too large", func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"client_name":%q}`, ds.id, strings.Repeat("x", 6000))
		}, ClientIDOptions{}, CodeInvalidClient, ErrClientIDFetch},
		{"slow", func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, ClientIDOptions{Timeout: 100 * time.Millisecond}, CodeInvalidClient, ErrClientIDFetch},
		{"404", func(ds *docServer, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, ClientIDOptions{}, CodeInvalidClient, ErrClientIDFetch},
		{"text/html", func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>")
		}, ClientIDOptions{}, CodeInvalidClient, ErrClientIDFetch},
		{"another client_id", func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"client_id":"https://evil.example/c.json","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}`)
		}, ClientIDOptions{}, CodeInvalidClientMetadata, ErrInvalidClientMetadata},
		{"redirect not followed", func(ds *docServer, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, ds.URL+"/elsewhere.json", http.StatusFound)
		}, ClientIDOptions{}, CodeInvalidClient, ErrClientIDFetch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDocServer(t, tc.handler)
			opts := tc.opts
			opts.AllowLoopback, opts.TLSConfig = true, tlsFor(ds)
			start := time.Now()
			_, err := NewClientIDResolver(opts).Resolve(t.Context(), ds.id)
			wantRefusal(t, err, tc.code, tc.err)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestClientIDResolverSSRF: loopback and private addresses are refused at
// dial time unless allowed: a literal address, a name that resolves to
// loopback, and a redirect to a loopback address.
func TestClientIDResolverSSRF(t *testing.T) {
	ds := newDocServer(t, serveDoc)
	t.Run("loopback address refused by default", func(t *testing.T) {
		_, err := NewClientIDResolver(ClientIDOptions{TLSConfig: tlsFor(ds)}).Resolve(t.Context(), ds.id)
		e := wantRefusal(t, err, CodeInvalidClient, ErrForbiddenAddress)
		if e.Err.Got != "127.0.0.1" {
			t.Errorf("evidence got %q", e.Err.Got)
		}
		if ds.hits.Load() != 0 {
			t.Fatal("the server was reached")
		}
	})
	t.Run("a name resolving to loopback is refused at dial time", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(ds.Listener.Addr().String())
		_, err := NewClientIDResolver(ClientIDOptions{TLSConfig: tlsFor(ds)}).Resolve(t.Context(), "https://localhost:"+port+"/client-metadata.json")
		wantRefusal(t, err, CodeInvalidClient, ErrForbiddenAddress)
	})
	t.Run("AllowAddress replaces the policy", func(t *testing.T) {
		only1 := func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
		if _, err := NewClientIDResolver(ClientIDOptions{AllowAddress: only1, TLSConfig: tlsFor(ds)}).Resolve(t.Context(), ds.id); err != nil {
			t.Fatal(err)
		}
	})

	// A document server on 127.0.0.1 that redirects to another one on
	// 127.0.0.2: followed when both are allowed, refused at dial time when
	// only the first is.
	ln2, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	target := httptest.NewUnstartedServer(nil)
	target.Listener.Close()
	target.Listener = ln2
	var targetHits atomic.Int32
	var first *docServer
	target.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		serveDoc(first, w, r)
	})
	target.StartTLS()
	t.Cleanup(target.Close)
	first = newDocServer(t, func(ds *docServer, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/client-metadata.json", http.StatusFound)
	})
	tlsConf := tlsFor(first)
	tlsConf.ServerName = "example.com" // in the certificate of every httptest server
	pool := x509.NewCertPool()
	pool.AddCert(target.Certificate())
	tlsConf.RootCAs = pool

	loopback1 := func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
	_, err = NewClientIDResolver(ClientIDOptions{AllowAddress: loopback1, MaxRedirects: 1, TLSConfig: tlsConf}).Resolve(t.Context(), first.id)
	e := wantRefusal(t, err, CodeInvalidClient, ErrForbiddenAddress)
	if e.Err.Got != "127.0.0.2" || targetHits.Load() != 0 {
		t.Fatalf("evidence %q, target reached %d times", e.Err.Got, targetHits.Load())
	}
	d, err := NewClientIDResolver(ClientIDOptions{AllowLoopback: true, MaxRedirects: 1, TLSConfig: tlsConf}).Resolve(t.Context(), first.id)
	if err != nil || d.ClientID != first.id || targetHits.Load() != 1 {
		t.Fatalf("allowed redirect: %v %v", d, err)
	}
}

// TestClientIDAddressPolicy: the default policy address by address.
func TestClientIDAddressPolicy(t *testing.T) {
	def := NewClientIDResolver(ClientIDOptions{})
	lo := NewClientIDResolver(ClientIDOptions{AllowLoopback: true})
	priv := NewClientIDResolver(ClientIDOptions{AllowPrivate: true})
	for _, tc := range []struct {
		addr          string
		def, lo, priv bool
	}{
		{"93.184.216.34", true, true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true, true},
		{"127.0.0.1", false, true, false},
		{"::1", false, true, false},
		{"10.1.2.3", false, false, true},
		{"172.16.0.1", false, false, true},
		{"192.168.1.1", false, false, true},
		{"169.254.169.254", false, false, true},
		{"fe80::1", false, false, true},
		{"fd00::1", false, false, true},
		{"100.64.0.1", false, false, true},
		{"0.0.0.0", false, false, false},
		{"::", false, false, false},
		{"224.0.0.1", false, false, false},
		{"255.255.255.255", false, false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if def.allowed(a) != tc.def || lo.allowed(a) != tc.lo || priv.allowed(a) != tc.priv {
			t.Errorf("%s: %v %v %v", tc.addr, def.allowed(a), lo.allowed(a), priv.allowed(a))
		}
		err := def.control("tcp", netip.AddrPortFrom(a, 443).String(), nil)
		if (err == nil) != tc.def || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("control %s: %v", tc.addr, err)
		}
	}
	// An IPv4-mapped IPv6 address is judged as the IPv4 address.
	if def.control("tcp", "[::ffff:127.0.0.1]:443", nil) == nil {
		t.Error("::ffff:127.0.0.1 allowed")
	}
}

// TestResolveJWKS: inline jwks as they are; a jwks_uri fetched with the
// same checks, cached, and refused when it holds a private key or lives on
// a forbidden address.
func TestResolveJWKS(t *testing.T) {
	const pub = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	ds := newDocServer(t, func(ds *docServer, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if strings.HasSuffix(r.URL.Path, "/private.json") {
			fmt.Fprint(w, `{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}`)
			return
		}
		fmt.Fprint(w, pub)
	})
	r := NewClientIDResolver(ClientIDOptions{AllowLoopback: true, TLSConfig: tlsFor(ds)})
	inline := &ClientMetadataDocument{JWKS: []byte(pub)}
	if got, err := r.ResolveJWKS(t.Context(), inline); err != nil || string(got) != pub || ds.hits.Load() != 0 {
		t.Fatalf("inline: %s %v", got, err)
	}
	byURI := &ClientMetadataDocument{JWKSURI: ds.URL + "/jwks.json"}
	for range 2 {
		if got, err := r.ResolveJWKS(t.Context(), byURI); err != nil || string(got) != pub {
			t.Fatalf("jwks_uri: %s %v", got, err)
		}
	}
	if ds.hits.Load() != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", ds.hits.Load())
	}
	_, err := r.ResolveJWKS(t.Context(), &ClientMetadataDocument{JWKSURI: ds.URL + "/private.json"})
	wantRefusal(t, err, CodeInvalidClientMetadata, ErrInvalidClientMetadata)
	_, err = NewClientIDResolver(ClientIDOptions{TLSConfig: tlsFor(ds)}).ResolveJWKS(t.Context(), byURI)
	wantRefusal(t, err, CodeInvalidClient, ErrForbiddenAddress)
	_, err = r.ResolveJWKS(t.Context(), &ClientMetadataDocument{})
	wantRefusal(t, err, CodeInvalidClientMetadata, ErrInvalidClientMetadata)
}
