package dpoptest_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/dpoptest"
	"github.com/dpopkit/dpop/internal/testkit"
)

// TestPAR runs the code flow through pushed authorization requests for
// each client authentication method, with and without AS nonces. The PAR
// proof binds the code to the key (RFC 9449 §10.1).
func TestPAR(t *testing.T) {
	for _, nonces := range []dpoptest.NonceMode{dpoptest.NoncesNone, dpoptest.NoncesAS} {
		srv := newServer(t, dpoptest.Options{Nonces: nonces})
		cases := []struct {
			name     string
			clientID string
			style    oauth2.AuthStyle
		}{
			{"none", dpoptest.PublicClientID, oauth2.AuthStyleInParams},
			{"client_secret_basic", dpoptest.ConfidentialClientID, oauth2.AuthStyleInHeader},
			{"client_secret_post", dpoptest.ConfidentialClientID, oauth2.AuthStyleInParams},
			{"private_key_jwt", dpoptest.JWTClientID, oauth2.AuthStyleInParams},
		}
		for _, tc := range cases {
			t.Run(nonces.String()+"/"+tc.name, func(t *testing.T) {
				key := testkit.Key(t)
				ctx, _ := clientContext(t, key)
				cfg := config(srv, tc.clientID, tc.style)
				verifier := oauth2.GenerateVerifier()
				parOpts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
				var exOpts []oauth2.AuthCodeOption
				if tc.clientID == dpoptest.JWTClientID {
					for _, aud := range []string{srv.PAREndpoint(), srv.URL()} {
						a, err := srv.ClientAssertion(tc.clientID, aud)
						if err != nil {
							t.Fatal(err)
						}
						v := url.Values{"client_assertion_type": {dpoptest.ClientAssertionType}, "client_assertion": {a}}
						opts := &parOpts
						if aud == srv.URL() {
							opts = &exOpts
						}
						for k := range v {
							*opts = append(*opts, oauth2.SetAuthURLParam(k, v.Get(k)))
						}
					}
				}
				pushed, err := client.PushAuthCodeURL(ctx, cfg, srv.PAREndpoint(), "st", parOpts...)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(pushed.RequestURI, "urn:ietf:params:oauth:request_uri:") || pushed.ExpiresIn != dpoptest.RequestURITTL {
					t.Fatalf("pushed: %+v", pushed)
				}
				c := code(t, srv, pushed.URL, "st")

				// The request_uri is single use.
				q := authorizeStatus(t, pushed.URL)
				if q != http.StatusBadRequest {
					t.Fatalf("request_uri reused: status %d", q)
				}

				// The code is bound to the PAR proof's key: another key
				// cannot redeem it.
				thiefCtx, _ := clientContext(t, testkit.Key(t))
				_, err = cfg.Exchange(thiefCtx, c, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, exOpts...)...)
				if status, code := oauthErr(t, err); status != http.StatusBadRequest || code != authserver.CodeInvalidGrant {
					t.Fatalf("stolen PAR code: %d %q", status, code)
				}
				tok, err := cfg.Exchange(ctx, c, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, exOpts...)...)
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "DPoP" {
					t.Fatalf("token_type %q", tok.TokenType)
				}
				rr := callResource(t, srv, client.NewClient(ctx, oauth2.StaticTokenSource(tok), client.RequireDPoP))
				if rr.JKT != key.Thumbprint() || rr.ClientID != tc.clientID || rr.Subject != "alice" {
					t.Fatalf("resource: %+v", rr)
				}
			})
		}
	}
}

// authorizeStatus returns the status of a GET of authURL, not following
// redirects.
func authorizeStatus(t *testing.T, authURL string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, authURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := send(t, req)
	return resp.StatusCode
}

// TestPARRefusals: errors of the PAR endpoint.
func TestPARRefusals(t *testing.T) {
	srv := newServer(t, dpoptest.Options{Nonces: dpoptest.NoncesAS})
	ctx, _ := clientContext(t, testkit.Key(t))
	s256 := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	cases := []struct {
		name   string
		cfg    *oauth2.Config
		opts   []oauth2.AuthCodeOption
		status int
		code   string
	}{
		{"mismatched dpop_jkt", config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams), []oauth2.AuthCodeOption{s256, client.DPoPJKT(testkit.Key(t))}, 400, dpop.CodeInvalidProof},
		{"malformed dpop_jkt", config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams), []oauth2.AuthCodeOption{s256, oauth2.SetAuthURLParam("dpop_jkt", "short")}, 400, dpop.CodeInvalidRequest},
		{"no PKCE", config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams), nil, 400, dpop.CodeInvalidRequest},
		{"plain PKCE", config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams), []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("code_challenge_method", "plain")}, 400, dpop.CodeInvalidRequest},
		{"wrong secret", func() *oauth2.Config {
			c := config(srv, dpoptest.ConfidentialClientID, oauth2.AuthStyleInHeader)
			c.ClientSecret = "nope"
			return c
		}(), []oauth2.AuthCodeOption{s256}, 401, authserver.CodeInvalidClient},
		{"bad redirect_uri", func() *oauth2.Config {
			c := config(srv, dpoptest.PublicClientID, oauth2.AuthStyleInParams)
			c.RedirectURL = "https://attacker.example/cb"
			return c
		}(), []oauth2.AuthCodeOption{s256}, 400, dpop.CodeInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.PushAuthCodeURL(ctx, tc.cfg, srv.PAREndpoint(), "st", tc.opts...)
			var pe *client.Error
			if !errors.As(err, &pe) || pe.StatusCode != tc.status || pe.Code != tc.code {
				t.Fatalf("got %v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
}
