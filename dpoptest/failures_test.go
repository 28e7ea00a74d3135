package dpoptest_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestStolenToken: a token bound to one key, presented with a proof by
// another, is refused at the resource with 401 invalid_token (RFC 9449
// §7.1, Figure 16).
func TestStolenToken(t *testing.T) {
	for _, opaque := range []bool{false, true} {
		srv := newServer(t, dpoptest.Options{OpaqueTokens: opaque})
		tok := ccToken(t, srv, testkit.Key(t))
		thief := testkit.Key(t)
		resp, _ := send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken,
			testkit.Proof(t, thief, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken))))
		if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidToken {
			t.Fatalf("opaque=%v: status %d, WWW-Authenticate %q", opaque, resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
		}
		// Through the client Transport too.
		_, tr := clientContext(t, thief)
		hc := &http.Client{Transport: tr}
		resp, err := hc.Do(resourceRequest(t, srv, "DPoP", tok.AccessToken, ""))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidToken {
			t.Fatalf("opaque=%v via Transport: status %d, WWW-Authenticate %q", opaque, resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
		}
	}
}

// TestReplayedProof: a proof accepted once is refused the second time with
// 401 invalid_dpop_proof (RFC 9449 §11.1).
func TestReplayedProof(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	tok := ccToken(t, srv, key)
	p := testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken))
	resp, body := send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, p))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %s", resp.StatusCode, body)
	}
	resp, _ = send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, p))
	if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeInvalidProof {
		t.Fatalf("replay: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	// At the token endpoint as well: 400 invalid_dpop_proof.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}, "client_secret": {dpoptest.ConfidentialClientSecret}}
	tp := testkit.Proof(t, key, "POST", srv.URL()+"/token")
	if resp, body := send(t, tokenRequest(t, srv, form, tp)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first token request: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, tokenRequest(t, srv, form, tp))
	if resp.StatusCode != http.StatusBadRequest || jsonError(t, body) != dpop.CodeInvalidProof {
		t.Fatalf("replayed token request: %d %s", resp.StatusCode, body)
	}
}

// TestRefreshWithAnotherKey: a public client's refresh token is bound to
// its key; a refresh with another key is 400 invalid_grant (RFC 9449 §5),
// and the refresh token stays usable by its owner.
func TestRefreshWithAnotherKey(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	ctx, _ := clientContext(t, key)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "s")
	tok, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	otherCtx, _ := clientContext(t, testkit.Key(t))
	_, err = cfg.TokenSource(otherCtx, &expired).Token()
	if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
		t.Fatalf("refresh with another key: %d %q", status, code)
	}
	if _, err := cfg.TokenSource(ctx, &expired).Token(); err != nil {
		t.Fatalf("refresh by the owner after the refused attempt: %v", err)
	}
}

// TestStolenCode: a code bound with dpop_jkt cannot be redeemed with
// another key: 400 invalid_grant (RFC 9449 §10, §11.9).
func TestStolenCode(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	c := code(t, srv, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), client.DPoPJKT(key)), "s")
	thiefCtx, _ := clientContext(t, testkit.Key(t))
	_, err := cfg.Exchange(thiefCtx, c, oauth2.VerifierOption(verifier))
	if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
		t.Fatalf("stolen code: %d %q", status, code)
	}
	ctx, _ := clientContext(t, key)
	if _, err := cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("the owner redeems the code after the refused attempt: %v", err)
	}
	// A code is single use.
	_, err = cfg.Exchange(ctx, c, oauth2.VerifierOption(verifier))
	if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
		t.Fatalf("code reused: %d %q", status, code)
	}
}

// TestPARMismatchedJKT: a pushed request whose proof is by another key than
// its dpop_jkt is 400 invalid_dpop_proof (RFC 9449 §10.1).
func TestPARMismatchedJKT(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	ctx, _ := clientContext(t, testkit.Key(t))
	cfg := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
	_, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "s",
		oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), client.DPoPJKT(testkit.Key(t)))
	var pe *client.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusBadRequest || pe.Code != dpop.CodeInvalidProof {
		t.Fatalf("PAR with another dpop_jkt: %v", err)
	}
}

// TestMissingNonce: a server demanding nonces answers a proof without one
// with use_dpop_nonce and a DPoP-Nonce (RFC 9449 §8, §9); each server's
// nonces are its own.
func TestMissingNonce(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesBoth})
	key := testkit.Key(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}, "client_secret": {dpoptest.ConfidentialClientSecret}}

	// Authorization server: 400 use_dpop_nonce.
	resp, body := send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.URL()+"/token")))
	asNonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != http.StatusBadRequest || jsonError(t, body) != dpop.CodeUseNonce || asNonce == "" {
		t.Fatalf("token without nonce: %d %s, DPoP-Nonce %q", resp.StatusCode, body, asNonce)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	resp, body = send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.URL()+"/token", dpop.WithNonce(asNonce))))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token with nonce: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatal("no fresh DPoP-Nonce on the token response")
	}
	tok := ccToken(t, srv, key)

	// Resource server: 401 use_dpop_nonce, also for the AS's nonce.
	for _, opts := range [][]dpop.ProofOption{nil, {dpop.WithNonce(asNonce)}} {
		opts = append(opts, dpop.WithAccessToken(tok.AccessToken))
		resp, _ = send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), opts...)))
		rsNonce := resp.Header.Get("DPoP-Nonce")
		if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "DPoP", "error") != dpop.CodeUseNonce || rsNonce == "" {
			t.Fatalf("resource without its nonce: %d %q, DPoP-Nonce %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), rsNonce)
		}
		resp, body = send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken,
			testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken), dpop.WithNonce(rsNonce))))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resource with its nonce: %d %s", resp.StatusCode, body)
		}
	}

	// The resource server's nonce is refused at the authorization server.
	resp, _ = send(t, resourceRequest(t, srv, "DPoP", tok.AccessToken, testkit.Proof(t, key, "GET", srv.ResourceEndpoint(), dpop.WithAccessToken(tok.AccessToken))))
	rsNonce := resp.Header.Get("DPoP-Nonce")
	resp, body = send(t, tokenRequest(t, srv, form, testkit.Proof(t, key, "POST", srv.URL()+"/token", dpop.WithNonce(rsNonce))))
	if resp.StatusCode != http.StatusBadRequest || jsonError(t, body) != dpop.CodeUseNonce {
		t.Fatalf("token with the resource server's nonce: %d %s", resp.StatusCode, body)
	}
}

// TestDowngradeToBearer: a DPoP-bound token sent as a Bearer token is
// refused with 401 invalid_token (RFC 9449 §7.2).
func TestDowngradeToBearer(t *testing.T) {
	srv := newServer(t, dpoptest.Options{AllowBearer: true})
	tok := ccToken(t, srv, testkit.Key(t))
	resp, _ := send(t, resourceRequest(t, srv, "Bearer", tok.AccessToken, ""))
	if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "Bearer", "error") != dpop.CodeInvalidToken {
		t.Fatalf("bound token as Bearer: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	// Without AllowBearer the scheme itself is not accepted: 401 with a
	// DPoP challenge and no error (RFC 6750 §3.1).
	strict := newServer(t, dpoptest.Options{})
	tok = ccToken(t, strict, testkit.Key(t))
	resp, _ = send(t, resourceRequest(t, strict, "Bearer", tok.AccessToken, ""))
	if resp.StatusCode != http.StatusUnauthorized || challenge(t, resp.Header, "DPoP", "error") != "" {
		t.Fatalf("Bearer at a DPoP-only resource: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}
}

// TestTokenEndpointRefusals covers the token endpoint's other errors, each
// with its exact status and code.
func TestTokenEndpointRefusals(t *testing.T) {
	srv := newServer(t, dpoptest.Options{})
	key := testkit.Key(t)
	tokenURL := srv.URL() + "/token"
	basic := func(r *http.Request) *http.Request {
		r.SetBasicAuth(dpoptest.ConfidentialClientID, dpoptest.ConfidentialClientSecret)
		return r
	}
	usedAssertion, err := srv.ClientAssertion(dpoptest.JWTClientID, "")
	if err != nil {
		t.Fatal(err)
	}
	ccAssertion := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {dpoptest.ClientAssertionType}, "client_assertion": {a}}
	}
	if resp, body := send(t, tokenRequest(t, srv, ccAssertion(usedAssertion), testkit.Proof(t, key, "POST", tokenURL))); resp.StatusCode != http.StatusOK {
		t.Fatalf("assertion: %d %s", resp.StatusCode, body)
	}
	wrongAud, err := srv.ClientAssertion(dpoptest.JWTClientID, "https://elsewhere.example")
	if err != nil {
		t.Fatal(err)
	}
	tokenAud, err := srv.ClientAssertion(dpoptest.JWTClientID, tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"no proof", basic(tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}}, "")), 400, dpop.CodeInvalidProof},
		{"proof for another URL", basic(tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}}, testkit.Proof(t, key, "POST", srv.URL()+"/par"))), 400, dpop.CodeInvalidProof},
		{"wrong secret", tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}, "client_secret": {"nope"}}, testkit.Proof(t, key, "POST", tokenURL)), 401, authserver.CodeInvalidClient},
		{"unknown client", tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}}, testkit.Proof(t, key, "POST", tokenURL)), 401, authserver.CodeInvalidClient},
		{"confidential client without secret", tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.ConfidentialClientID}}, testkit.Proof(t, key, "POST", tokenURL)), 401, authserver.CodeInvalidClient},
		{"two authentication methods", basic(tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_secret": {dpoptest.ConfidentialClientSecret}}, testkit.Proof(t, key, "POST", tokenURL))), 400, dpop.CodeInvalidRequest},
		{"public client credentials", tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {dpoptest.PublicClientID}}, testkit.Proof(t, key, "POST", tokenURL)), 400, authserver.CodeUnauthorizedClient},
		{"assertion replayed", tokenRequest(t, srv, ccAssertion(usedAssertion), testkit.Proof(t, key, "POST", tokenURL)), 401, authserver.CodeInvalidClient},
		{"assertion for another audience", tokenRequest(t, srv, ccAssertion(wrongAud), testkit.Proof(t, key, "POST", tokenURL)), 401, authserver.CodeInvalidClient},
		{"assertion with the token URL as audience", tokenRequest(t, srv, ccAssertion(tokenAud), testkit.Proof(t, key, "POST", tokenURL)), 200, ""},
		{"unsupported grant", basic(tokenRequest(t, srv, url.Values{"grant_type": {"password"}}, testkit.Proof(t, key, "POST", tokenURL))), 400, authserver.CodeUnsupportedGrantType},
		{"no grant_type", basic(tokenRequest(t, srv, url.Values{}, testkit.Proof(t, key, "POST", tokenURL))), 400, dpop.CodeInvalidRequest},
		{"unknown code", tokenRequest(t, srv, url.Values{"grant_type": {"authorization_code"}, "client_id": {dpoptest.PublicClientID}, "code": {"nope"}, "code_verifier": {oauth2.GenerateVerifier()}, "redirect_uri": {redirectURI}}, testkit.Proof(t, key, "POST", tokenURL)), 400, authserver.CodeInvalidGrant},
		{"unknown refresh token", tokenRequest(t, srv, url.Values{"grant_type": {"refresh_token"}, "client_id": {dpoptest.PublicClientID}, "refresh_token": {"nope"}}, testkit.Proof(t, key, "POST", tokenURL)), 400, authserver.CodeInvalidGrant},
		{"repeated parameter", basic(tokenRequest(t, srv, url.Values{"grant_type": {"client_credentials", "client_credentials"}}, testkit.Proof(t, key, "POST", tokenURL))), 400, dpop.CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" && jsonError(t, body) != tc.code {
				t.Fatalf("error %s, want %s", body, tc.code)
			}
			if tc.status == 401 && tc.req.Header.Get("Authorization") != "" && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 to Basic authentication without WWW-Authenticate")
			}
		})
	}
}
