package atproto_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dpopkit/dpop/atproto"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// plcFor serves the DID document of dpoptest's default user, whose PDS is
// the test server's resource server.
func plcFor(t *testing.T, srv *dpoptest.Server) *httptest.Server {
	t.Helper()
	did := dpoptest.ATProtoDefaultUser
	plc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+did {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": did, "alsoKnownAs": []string{"at://alice.test"},
			"service": []map[string]string{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": srv.ResourceURL()}},
		})
	}))
	t.Cleanup(plc.Close)
	return plc
}

// TestDPoPTestProfile: a public loopback client and a confidential client
// with a client ID metadata document log in to dpoptest running the AT
// Protocol profile, call its resource server as the PDS, refresh, and see
// the spent refresh token refused.
func TestDPoPTestProfile(t *testing.T) {
	ck, err := client.GenerateClientKey("", "k1")
	if err != nil {
		t.Fatal(err)
	}
	var doc *client.ClientMetadata
	docSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { doc.ServeHTTP(w, r) }))
	defer docSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(docSrv.Certificate())
	confidentialID := docSrv.URL + "/client-metadata.json"
	const redirect = "http://127.0.0.1/callback"
	doc = client.NewClientMetadata(confidentialID, []string{redirect}, "atproto", ck)

	for _, tc := range []struct {
		name     string
		clientID string
		key      *client.ClientKey
	}{
		{"public", atproto.LoopbackClientID(redirect, "atproto"), nil},
		{"confidential", confidentialID, ck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := dpoptest.NewServer(dpoptest.Options{
				Profile:   dpoptest.ProfileATProto,
				ClientIDs: &authserver.ClientIDOptions{AllowLoopback: true, TLSConfig: &tls.Config{RootCAs: roots}},
			})
			defer srv.Close()
			plc := plcFor(t, srv)
			app, err := atproto.NewApp(atproto.Config{
				ClientID: tc.clientID, RedirectURI: redirect, Scope: "atproto", ClientKey: tc.key,
				Resolver: &atproto.Resolver{PLCURL: plc.URL},
				Store:    &atproto.MemoryStore{},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			req, err := app.Start(ctx, dpoptest.ATProtoDefaultUser)
			if err != nil {
				t.Fatal(err)
			}
			s, err := app.Callback(ctx, req, testkit.RedirectQuery(t, req.URL))
			if err != nil {
				t.Fatal(err)
			}
			call := func() {
				t.Helper()
				resp, err := s.Client().Get(srv.ResourceEndpoint())
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var rr dpoptest.ResourceResponse
				if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || resp.StatusCode != 200 {
					t.Fatalf("resource: HTTP %d %v", resp.StatusCode, err)
				}
				if rr.Subject != dpoptest.ATProtoDefaultUser || rr.JKT != s.Key().Thumbprint() || rr.Scheme != "DPoP" {
					t.Fatalf("resource saw %+v", rr)
				}
			}
			call()
			old := s.Data()
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			call()
			stale, err := app.Session(old)
			if err != nil {
				t.Fatal(err)
			}
			err = stale.Refresh(ctx)
			if !errors.Is(err, atproto.ErrSessionDead) {
				t.Fatalf("spent refresh token: %v", err)
			}
			if ce := client.AsError(err); ce == nil || ce.Code != "invalid_grant" {
				t.Fatalf("spent refresh token: %v", err)
			}
		})
	}
}
