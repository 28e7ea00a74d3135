package dpoptest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// loopbackClientID is an AT Protocol development client: its redirect
// URI is registered without a port, so any port is accepted.
var loopbackClientID = "http://localhost?" + url.Values{"redirect_uri": {"http://127.0.0.1/callback"}, "scope": {"atproto transition:generic"}}.Encode()

// atprotoConfig is the oauth2.Config of a client of an AT Protocol server.
func atprotoConfig(srv *dpoptest.Server, clientID string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: srv.AuthorizationEndpoint(), TokenURL: srv.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
		Scopes:      []string{dpoptest.ATProtoScope},
	}
}

// atprotoLogin runs PAR (with its nonce retry), the authorization and the
// code exchange, and returns the token.
func atprotoLogin(t *testing.T, srv *dpoptest.Server, ctx context.Context, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	pushed, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "st", oauth2.S256ChallengeOption(v))
	if err != nil {
		t.Fatal(err)
	}
	c := code(t, srv, pushed.URL, "st")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "DPoP" || tok.Extra("sub") != dpoptest.ATProtoDefaultUser || tok.Extra("scope") != dpoptest.ATProtoScope {
		t.Fatalf("token_type %s, sub %v, scope %v", tok.Type(), tok.Extra("sub"), tok.Extra("scope"))
	}
	return tok
}

// TestATProtoMetadata: the profile's metadata members.
func TestATProtoMetadata(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Profile: dpoptest.ProfileATProto})
	m := srv.Metadata()
	if m["require_pushed_authorization_requests"] != true || m["authorization_response_iss_parameter_supported"] != true || m["client_id_metadata_document_supported"] != true {
		t.Fatalf("%v", m)
	}
	algs, _ := m["dpop_signing_alg_values_supported"].([]string)
	if !strings.Contains(strings.Join(algs, " "), "ES256") {
		t.Fatalf("algs %v", algs)
	}
	if got := fmt.Sprint(m["token_endpoint_auth_methods_supported"]); got != "[none private_key_jwt]" {
		t.Fatal(got)
	}
	if o := srv.Options(); o.Nonces != dpoptest.NoncesBoth || o.User != dpoptest.ATProtoDefaultUser {
		t.Fatalf("%+v", o)
	}
}

// TestATProtoLoopbackClient: the development client without a document:
// PAR with a proof and nonce, iss in the redirect, sub and scope in the
// token response, a resource call under RS nonces, a refresh, and a reused
// refresh token refused.
func TestATProtoLoopbackClient(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Profile: dpoptest.ProfileATProto})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := atprotoConfig(srv, loopbackClientID)
	tok := atprotoLogin(t, srv, ctx, cfg)
	rr := callResource(t, srv, client.NewClient(ctx, cfg.TokenSource(ctx, tok), client.RequireDPoP))
	if rr.Subject != dpoptest.ATProtoDefaultUser || rr.ClientID != loopbackClientID || rr.JKT != key.Thumbprint() {
		t.Fatalf("%+v", rr)
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	if _, err := cfg.TokenSource(ctx, &expired).Token(); err != nil {
		t.Fatal(err)
	}
	_, err := cfg.TokenSource(ctx, &expired).Token()
	if status, code := oauthErr(t, err); status != 400 || code != authserver.CodeInvalidGrant {
		t.Fatalf("reused refresh token: %d %s", status, code)
	}
}

// parForm is a pushed authorization request of clientID.
func parForm(clientID, scope string) url.Values {
	return url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {scope},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
}

func postPAR(t *testing.T, srv *dpoptest.Server, form url.Values, proof string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.PAREndpoint(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return send(t, req)
}

// TestATProtoRefusals: what the profile refuses, each with its status and
// code.
func TestATProtoRefusals(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Profile: dpoptest.ProfileATProto})
	key := testkit.Key(t)

	t.Run("authorization request without PAR", func(t *testing.T) {
		q := parForm(loopbackClientID, "atproto")
		resp, body := send(t, mustGet(t, srv.AuthorizationEndpoint()+"?"+q.Encode()))
		if resp.StatusCode != 400 || jsonError(t, body) != dpop.CodeInvalidRequest {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("PAR without a proof", func(t *testing.T) {
		resp, body := postPAR(t, srv, parForm(loopbackClientID, "atproto"), "")
		if resp.StatusCode != 400 || jsonError(t, body) != dpop.CodeInvalidProof {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("PAR proof without a nonce", func(t *testing.T) {
		resp, body := postPAR(t, srv, parForm(loopbackClientID, "atproto"), testkit.Proof(t, key, "POST", srv.PAREndpoint()))
		if resp.StatusCode != 400 || jsonError(t, body) != dpop.CodeUseNonce || resp.Header.Get("DPoP-Nonce") == "" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	for _, tc := range []struct {
		name, clientID, scope string
		code                  string
	}{
		{"scope beyond the loopback client's", loopbackClientID, "atproto transition:chat.bsky", authserver.CodeInvalidScope},
		{"loopback client_id with a port", "http://localhost:8080?redirect_uri=" + url.QueryEscape("http://127.0.0.1/callback"), "atproto", authserver.CodeInvalidClient},
		{"loopback redirect on localhost", "http://localhost?redirect_uri=" + url.QueryEscape("http://localhost/callback"), "atproto", authserver.CodeInvalidClient},
		{"loopback client_id with a path", "http://localhost/app?redirect_uri=" + url.QueryEscape("http://127.0.0.1/callback"), "atproto", authserver.CodeInvalidClient},
		{"document on a loopback address (not allowed by default)", "https://127.0.0.1:1/client-metadata.json", "atproto", authserver.CodeInvalidClient},
		{"http client_id that is not the loopback exception", "http://app.example/client-metadata.json", "atproto", authserver.CodeInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Fetch a nonce first, so that the refusal is the profile's.
			resp, _ := postPAR(t, srv, parForm(loopbackClientID, "atproto"), testkit.Proof(t, key, "POST", srv.PAREndpoint()))
			nonce := resp.Header.Get("DPoP-Nonce")
			resp, body := postPAR(t, srv, parForm(tc.clientID, tc.scope), testkit.Proof(t, key, "POST", srv.PAREndpoint(), dpop.WithNonce(nonce)))
			wantStatus := 400
			if tc.code == authserver.CodeInvalidClient && strings.HasPrefix(tc.clientID, "http://app.") {
				wantStatus = 401
			}
			if resp.StatusCode != wantStatus || jsonError(t, body) != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

// metadataServer serves client metadata documents over TLS on loopback.
func metadataServer(t *testing.T, doc func(clientID string) any) (*httptest.Server, *tls.Config) {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc(srv.URL + r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: pool}
}

// TestATProtoConfidentialClient: a client ID metadata document with
// private_key_jwt: PAR and token requests authenticated with a fresh
// assertion each (nonce retries included), twice, then a refresh.
func TestATProtoConfidentialClient(t *testing.T) {
	clientKey, err := client.GenerateClientKey(dpop.ES256, "k1")
	if err != nil {
		t.Fatal(err)
	}
	docs, tlsConf := metadataServer(t, func(id string) any {
		if strings.HasSuffix(id, "/jwks.json") {
			return client.JWKS(clientKey)
		}
		m := map[string]any{
			"client_id": id, "redirect_uris": []string{"http://127.0.0.1/callback"}, "scope": "atproto",
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
			"jwks": json.RawMessage(client.JWKS(clientKey)), "dpop_bound_access_tokens": true,
		}
		switch {
		case strings.HasSuffix(id, "/unbound.json"):
			m["dpop_bound_access_tokens"] = false
		case strings.HasSuffix(id, "/jwks-uri.json"):
			delete(m, "jwks")
			m["jwks_uri"] = strings.TrimSuffix(id, "/jwks-uri.json") + "/jwks.json"
		case strings.HasSuffix(id, "/jwks-uri-elsewhere.json"):
			delete(m, "jwks")
			m["jwks_uri"] = "https://127.0.0.1:1/jwks.json"
		case strings.HasSuffix(id, "/rsa.json"):
			m["jwks"] = json.RawMessage(`{"keys":[{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}]}`)
		}
		return m
	})
	srv := newServer(t, dpoptest.Options{Profile: dpoptest.ProfileATProto, ClientIDs: &authserver.ClientIDOptions{AllowLoopback: true, TLSConfig: tlsConf}})
	for i, id := range []string{docs.URL + "/client-metadata.json", docs.URL + "/client-metadata.json", docs.URL + "/jwks-uri.json"} {
		key := testkit.Key(t)
		tr := &client.Transport{Key: key, Base: &client.PrivateKeyJWT{
			Key: clientKey, ClientID: id, Audience: srv.URL(), Endpoints: []string{srv.PAREndpoint(), srv.TokenEndpoint()}, Base: newBaseTransport(t)}}
		ctx := client.NewContext(t.Context(), tr)
		cfg := atprotoConfig(srv, id)
		tok := atprotoLogin(t, srv, ctx, cfg)
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Hour)
		if _, err := cfg.TokenSource(ctx, &expired).Token(); err != nil {
			t.Fatalf("login %d, refresh: %v", i, err)
		}
	}

	for _, tc := range []struct{ doc, code string }{
		{"/unbound.json", authserver.CodeInvalidClientMetadata},
		{"/rsa.json", authserver.CodeInvalidClientMetadata},
		{"/jwks-uri-elsewhere.json", authserver.CodeInvalidClient},
	} {
		doc := tc.doc
		t.Run("document "+doc, func(t *testing.T) {
			key := testkit.Key(t)
			resp, _ := postPAR(t, srv, parForm(loopbackClientID, "atproto"), testkit.Proof(t, key, "POST", srv.PAREndpoint()))
			nonce := resp.Header.Get("DPoP-Nonce")
			form := parForm(docs.URL+doc, "atproto")
			a, err := clientKey.Assertion(docs.URL+doc, srv.URL(), time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			form.Set("client_assertion_type", dpoptest.ClientAssertionType)
			form.Set("client_assertion", a)
			resp, body := postPAR(t, srv, form, testkit.Proof(t, key, "POST", srv.PAREndpoint(), dpop.WithNonce(nonce)))
			if resp.StatusCode != 400 || jsonError(t, body) != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}
