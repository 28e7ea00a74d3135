package dpoptest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpopkit/dpop/authserver"
)

// FuzzRegister: the RFC 7591 registration parser accepts a client with a
// known authentication method and valid redirect URIs, or refuses with an
// OAuth error of status 400; never a panic.
func FuzzRegister(f *testing.F) {
	f.Add([]byte(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":true}`))
	f.Add([]byte(`{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`))
	f.Add([]byte(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
	f.Add([]byte(`{"redirect_uris":"x"}`))
	s := &Server{opts: Options{Now: time.Now}}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, resp, err := s.register(body)
		if err != nil {
			var e *authserver.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Code() == "" {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		if c.ID == "" || resp.ClientID != c.ID || (c.Public != (c.AuthMethod == AuthNone)) {
			t.Fatalf("%+v %+v", c, resp)
		}
		for _, u := range c.RedirectURIs {
			if !validRedirectURI(u) {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
		if c.AuthMethod == AuthPrivateKeyJWT && len(c.keys) == 0 {
			t.Fatal("private_key_jwt client without keys")
		}
	})
}

// FuzzLoopbackClient: an AT Protocol loopback client_id is accepted only
// as http://localhost with redirect URIs on 127.0.0.1 or [::1].
func FuzzLoopbackClient(f *testing.F) {
	f.Add("http://localhost")
	f.Add("http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=atproto")
	f.Add("http://localhost:80?redirect_uri=x")
	f.Add("hTtp://localhost")
	f.Add("http://localhost/?redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A8080%2F")
	f.Fuzz(func(t *testing.T, id string) {
		c, err := loopbackClient(id)
		if err != nil {
			var e *authserver.Error
			if !errors.As(err, &e) || e.Code() != authserver.CodeInvalidClient {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		if !strings.HasPrefix(id, "http://localhost") || !c.Public || !c.DPoPBound || len(c.RedirectURIs) == 0 {
			t.Fatalf("%q: %+v", id, c)
		}
	})
}

// FuzzResourceParam: a resource parameter maps to an allow-list entry or
// is refused with invalid_target; never a panic.
func FuzzResourceParam(f *testing.F) {
	f.Add("http://127.0.0.1:9/mcp", "HTTP://127.0.0.1:9/mcp")
	f.Add("urn:example:api", "urn:example:api")
	f.Add("https://api.example/v1?x=1", "https://api.example/v1")
	f.Add("http://127.0.0.1:9/mcp", "http://127.0.0.1:9/mcp#frag")
	f.Fuzz(func(t *testing.T, allowed, requested string) {
		if !validResource(allowed) {
			return
		}
		s := &Server{targets: []string{allowed}}
		got, err := s.requestedTargets(map[string][]string{ParamResource: {requested}})
		if err != nil {
			var e *authserver.Error
			if !errors.As(err, &e) || e.Code() != authserver.CodeInvalidTarget || e.Status != 400 {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		if len(got) != 1 || got[0] != allowed {
			t.Fatalf("%q mapped to %q, allow-list %q", requested, got, allowed)
		}
	})
}
