package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/resource"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Protecting a handler with DPoP-bound JWT access tokens (RFC 9068). The
// authorization server's JWKS is served on loopback here; in production
// JWKSURL is its https jwks_uri.
func ExampleMiddleware_jwt() {
	// The authorization server: a signing key and its JWKS.
	asKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &asKey.PublicKey, KeyID: "k1", Use: "sig"}}})
	}))
	defer jwks.Close()

	// The resource server.
	tokens, err := resource.NewJWTValidator(resource.JWTOptions{
		Issuer:   "https://as.example.com",
		Audience: "https://api.example.com",
		JWKSURL:  jwks.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier: verifier,
		Tokens:   resource.NewTokenCache(tokens, resource.TokenCacheOptions{}),
		BaseURL:  "https://api.example.com", // the URL clients use, behind the proxy
	})
	if err != nil {
		log.Fatal(err)
	}
	api := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := resource.CallerFromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", caller.Subject, caller.Scheme)
	}))
	srv := httptest.NewServer(api)
	defer srv.Close()

	// The client: a DPoP key and an access token bound to it.
	clientKey, _ := dpop.GenerateKey(dpop.ES256)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: asKey},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	accessToken, _ := jwt.Signed(signer).Claims(map[string]any{
		"iss": "https://as.example.com", "aud": "https://api.example.com",
		"sub": "alice", "client_id": "app", "scope": "read",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": "1",
		"cnf": map[string]string{"jkt": clientKey.Thumbprint()},
	}).Serialize()

	proof, _ := clientKey.Proof("GET", "https://api.example.com/hello", dpop.WithAccessToken(accessToken))
	req, _ := http.NewRequest("GET", srv.URL+"/hello", nil)
	req.Header.Set("Authorization", "DPoP "+accessToken)
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	// Without credentials: a challenge.
	resp, _ = http.Get(srv.URL + "/hello")
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// 200 hello alice (DPoP)
	// 401 DPoP algs="ES256 EdDSA Ed25519 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512"
}

// Protecting a handler with opaque access tokens checked by token
// introspection (RFC 7662), Bearer accepted for unbound tokens, and a
// scope required.
func ExampleMiddleware_introspection() {
	clientKey, _ := dpop.GenerateKey(dpop.ES256)
	// The authorization server's introspection endpoint.
	introspection := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, _ := r.BasicAuth(); id != "api" || secret != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.PostFormValue("token") {
		case "bound-token":
			fmt.Fprintf(w, `{"active":true,"sub":"alice","scope":"read","token_type":"DPoP","cnf":{"jkt":%q}}`, clientKey.Thumbprint())
		case "plain-token":
			fmt.Fprint(w, `{"active":true,"sub":"bob","scope":"read","token_type":"Bearer"}`)
		default:
			fmt.Fprint(w, `{"active":false}`)
		}
	}))
	defer introspection.Close()

	in, err := resource.NewIntrospector(resource.IntrospectionOptions{
		Endpoint:     introspection.URL,
		ClientID:     "api",
		ClientSecret: "s3cret",
	})
	if err != nil {
		log.Fatal(err)
	}
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256}})
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier:       verifier,
		Tokens:         resource.NewTokenCache(in, resource.TokenCacheOptions{TTL: time.Minute}),
		AllowBearer:    true,
		BaseURL:        "https://api.example.com",
		RequiredScopes: []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	api := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := resource.CallerFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", caller.Subject)
	}))

	do := func(auth, proof string) {
		r := httptest.NewRequest("GET", "http://10.0.0.7/data", nil)
		r.Header.Set("Authorization", auth)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
			return
		}
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	}
	proof, _ := clientKey.Proof("GET", "https://api.example.com/data", dpop.WithAccessToken("bound-token"))
	do("DPoP bound-token", proof)
	do("Bearer plain-token", "")
	do("Bearer bound-token", "") // a downgrade
	do("Bearer revoked-token", "")
	// Output:
	// 200 hello alice
	// 200 hello bob
	// 401 Bearer error="invalid_token", error_description="DPoP-bound token presented with the Bearer scheme", DPoP algs="ES256"
	// 401 Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256"
}

// Authenticating a request outside Wrap, as an adapter for another router
// or framework does: Authenticate runs every check and either returns the
// verified caller or an error that says how to answer (status, challenge,
// nonce); WriteError writes that answer on a net/http response.
func ExampleMiddleware_Authenticate() {
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256}})
	clientKey, _ := dpop.GenerateKey(dpop.ES256)
	tokens := resource.TokenValidatorFunc(func(_ context.Context, token string) (*resource.TokenInfo, error) {
		if token != "bound-token" {
			return nil, resource.ErrInvalidToken
		}
		return &resource.TokenInfo{Subject: "alice", JKT: clientKey.Thumbprint()}, nil
	})
	mw, err := resource.NewMiddleware(resource.Options{Verifier: verifier, Tokens: tokens, BaseURL: "https://api.example.com"})
	if err != nil {
		log.Fatal(err)
	}

	authenticate := func(auth, proof string) {
		r := httptest.NewRequest("GET", "/data", nil)
		r.Header.Set("Authorization", auth)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		caller, err := mw.Authenticate(r)
		var refusal *resource.Error
		if errors.As(err, &refusal) {
			fmt.Println(refusal.Status, refusal.Challenge)
			return
		}
		fmt.Println("hello", caller.Subject)
	}
	proof, _ := clientKey.Proof("GET", "https://api.example.com/data", dpop.WithAccessToken("bound-token"))
	authenticate("DPoP bound-token", proof)
	authenticate("DPoP other-token", proof)
	authenticate("Bearer bound-token", "")

	// In a net/http handler, WriteError answers for it.
	w := httptest.NewRecorder()
	_, err = mw.Authenticate(httptest.NewRequest("GET", "/data", nil))
	resource.WriteError(w, err)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// hello alice
	// 401 DPoP error="invalid_token", error_description="Invalid token", algs="ES256"
	// 401 DPoP algs="ES256"
	// 401 DPoP algs="ES256"
}

// Serving the RFC 9728 protected resource metadata next to the API.
func ExampleMetadataHandler() {
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256, dpop.EdDSA}})
	tokens := resource.TokenValidatorFunc(func(context.Context, string) (*resource.TokenInfo, error) {
		return nil, resource.ErrInvalidToken // any validator
	})
	mw, _ := resource.NewMiddleware(resource.Options{Verifier: verifier, Tokens: tokens, BaseURL: "https://api.example.com"})

	path, _ := resource.MetadataPath("https://api.example.com")
	mux := http.NewServeMux()
	mux.Handle("GET "+path, resource.MetadataHandler(mw.Metadata("https://api.example.com", "https://as.example.com")))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	fmt.Println(path)
	fmt.Println(w.Body.String())
	// Output:
	// /.well-known/oauth-protected-resource
	// {"resource":"https://api.example.com","authorization_servers":["https://as.example.com"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":true}
}

// Answering a refusal from a handler that authenticates by itself:
// WriteError sends the status, the challenge, Cache-Control: no-store and,
// when there is an error code, a JSON body.
func ExampleWriteError() {
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256}})
	tokens := resource.TokenValidatorFunc(func(context.Context, string) (*resource.TokenInfo, error) {
		return nil, resource.ErrInvalidToken
	})
	mw, _ := resource.NewMiddleware(resource.Options{Verifier: verifier, Tokens: tokens, BaseURL: "https://api.example.com"})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := mw.Authenticate(r)
		if err != nil {
			resource.WriteError(w, err)
			return
		}
		fmt.Fprintln(w, "hello", caller.Subject)
	})

	r := httptest.NewRequest("GET", "/data", nil)
	r.Header.Set("Authorization", "DPoP expired-token")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Cache-Control"))
	fmt.Println(w.Header().Get("WWW-Authenticate"))
	fmt.Print(w.Body.String())
	// Output:
	// 401 no-store
	// DPoP error="invalid_token", error_description="Invalid token", algs="ES256"
	// {"error":"invalid_token","error_description":"Invalid token"}
}

// Logging every refusal with its evidence: which check failed and the two
// values it compared, for the operator only (the client gets "Invalid
// token"). The time is left out here so the output is stable.
func ExampleOptions_logger() {
	asKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &asKey.PublicKey, KeyID: "k1", Use: "sig"}}})
	}))
	defer jwks.Close()
	tokens, _ := resource.NewJWTValidator(resource.JWTOptions{
		Issuer: "https://as.example.com", Audience: "https://api.example.com", JWKSURL: jwks.URL,
	})
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	mw, _ := resource.NewMiddleware(resource.Options{
		Verifier: verifier,
		Tokens:   tokens,
		BaseURL:  "https://api.example.com",
		Logger:   logger,
	})

	// A token the authorization server issued for another resource.
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: asKey},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	token, _ := jwt.Signed(signer).Claims(map[string]any{
		"iss": "https://as.example.com", "aud": "https://other.example.com", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(),
	}).Serialize()
	r := httptest.NewRequest("GET", "/data", nil)
	r.Header.Set("Authorization", "DPoP "+token)
	_, err := mw.Authenticate(r)
	fmt.Println(err)
	// Output:
	// {"level":"INFO","msg":"resource: request refused","method":"GET","path":"/data","error":{"status":401,"code":"invalid_token","description":"Invalid token","check":"aud","expected":"https://api.example.com","got":"https://other.example.com","cause":"resource: invalid access token: aud"}}
	// resource: 401 invalid_token: Invalid token
}

// A token cache in front of a validator: each token is validated once and
// then served from the cache until its exp or the TTL, whichever is first.
func ExampleNewTokenCache() {
	validations := 0
	slow := resource.TokenValidatorFunc(func(_ context.Context, token string) (*resource.TokenInfo, error) {
		validations++ // e.g. a signature check or an introspection request
		return &resource.TokenInfo{Subject: "alice", Expiry: time.Now().Add(time.Hour)}, nil
	})
	cache := resource.NewTokenCache(slow, resource.TokenCacheOptions{MaxEntries: 1000, TTL: time.Minute})
	for range 3 {
		info, _ := cache.ValidateToken(context.Background(), "token-1")
		fmt.Println(info.Subject)
	}
	fmt.Println("validations:", validations, "entries:", cache.Len())
	// Output:
	// alice
	// alice
	// alice
	// validations: 1 entries: 1
}
