package authserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/authserver"
)

// A token endpoint written with plain net/http. The authorization server
// keeps its own stores; the package only decides the binding.
func ExampleAS_TokenRequest() {
	srv := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1
	tokenURL := "http://" + srv.Listener.Addr().String() + "/token"

	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	as, err := authserver.New(authserver.Options{Verifier: verifier, TokenURL: tokenURL})
	if err != nil {
		panic(err)
	}
	// The code "c1" was issued to the public client "spa" with no dpop_jkt.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.PostForm.Get("code") != "c1" {
			authserver.WriteError(w, authserver.NewError(http.StatusBadRequest, authserver.CodeInvalidGrant, "", nil))
			return
		}
		b, err := as.TokenRequest(r.Context(), r, authserver.TokenRequest{
			Client:    authserver.Client{ID: "spa", Public: true},
			GrantType: "authorization_code",
		})
		if err != nil {
			authserver.WriteError(w, err)
			return
		}
		// Mint an access token with cnf = authserver.NewConfirmation(b.JKT)
		// and store b.RefreshTokenJKT with the refresh token.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token":  "at-1",
			"token_type":    b.TokenType,
			"refresh_token": "rt-1",
			"cnf":           authserver.NewConfirmation(b.JKT), // for this example only
		})
	})
	srv.Start()
	defer srv.Close()

	// The client side, with the core package only.
	key, _ := dpop.GenerateKey(dpop.ES256)
	send := func(withProof bool) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {"c1"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withProof {
			proof, _ := key.Proof(http.MethodPost, tokenURL)
			req.Header.Set("DPoP", proof)
		} else {
			req.Header.Set("DPoP", "not-a-proof")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		return resp
	}

	resp := send(true)
	var tok struct {
		TokenType string                   `json:"token_type"`
		Cnf       *authserver.Confirmation `json:"cnf"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, tok.TokenType, tok.Cnf.JKT == key.Thumbprint())

	resp = send(false)
	var e struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, e.Error, resp.Header.Get("Cache-Control"))
	// Output:
	// 200 DPoP true
	// 400 invalid_dpop_proof no-store
}

func ExampleWriteError() {
	w := httptest.NewRecorder()
	e := authserver.NewError(http.StatusBadRequest, dpop.CodeUseNonce, "Authorization server requires nonce in DPoP proof", dpop.ErrNonceRequired)
	e.Err.Nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
	authserver.WriteError(w, e)
	fmt.Println(w.Code, w.Header().Get("DPoP-Nonce"), w.Header().Get("Cache-Control"))
	fmt.Println(w.Body.String())
	// Output:
	// 400 eyJ7S_zG.eyJH0-Z.HX4w-7v no-store
	// {"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}
}

func ExampleAuthorizationJKT() {
	q, _ := url.ParseQuery("response_type=code&client_id=s6BhdRkqt3&dpop_jkt=NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
	jkt, err := authserver.AuthorizationJKT(q)
	fmt.Println(jkt, err)
	_, err = authserver.AuthorizationJKT(url.Values{"dpop_jkt": {"not-a-thumbprint"}})
	fmt.Println(err)
	// Output:
	// NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs <nil>
	// authserver: invalid_request: dpop_jkt is not a JWK SHA-256 thumbprint
}

func ExampleAS_PARRequest() {
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{})
	as, _ := authserver.New(authserver.Options{
		Verifier: verifier,
		TokenURL: "https://server.example.com/token",
		PARURL:   "https://server.example.com/par",
	})
	key, _ := dpop.GenerateKey(dpop.ES256)
	proof, _ := key.Proof(http.MethodPost, "https://server.example.com/par")
	form := url.Values{"response_type": {"code"}, "client_id": {"spa"}}
	r := httptest.NewRequest(http.MethodPost, "/par", strings.NewReader(form.Encode()))
	r.Header.Set("DPoP", proof)

	// Store jkt with the request_uri, then with the code; pass it back as
	// TokenRequest.GrantJKT when the code is redeemed.
	jkt, err := as.PARRequest(r.Context(), r, form)
	fmt.Println(jkt == key.Thumbprint(), err)
	// Output: true <nil>
}

func ExampleAS_Metadata() {
	verifier, _ := dpop.NewVerifier(dpop.VerifierOptions{Algorithms: []dpop.Algorithm{dpop.ES256, dpop.PS256}})
	as, _ := authserver.New(authserver.Options{Verifier: verifier, TokenURL: "https://server.example.com/token"})
	md := map[string]any{"issuer": "https://server.example.com"}
	as.Metadata().Set(md)
	b, _ := json.Marshal(md)
	fmt.Println(string(b))
	// Output: {"dpop_signing_alg_values_supported":["ES256","PS256"],"issuer":"https://server.example.com"}
}

func ExampleParseClientMetadata() {
	md, err := authserver.ParseClientMetadata([]byte(`{"client_name":"spa","dpop_bound_access_tokens":true}`))
	fmt.Println(md.DPoPBoundAccessTokens, err)
	// Output: true <nil>
}

func ExampleSetIntrospection() {
	resp := map[string]any{"active": true, "sub": "someone@example.com"}
	_ = authserver.SetIntrospection(resp, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
	b, _ := json.Marshal(resp)
	fmt.Println(string(b))
	// Output: {"active":true,"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"sub":"someone@example.com","token_type":"DPoP"}
}

func ExampleSetConfirmation() {
	claims := map[string]any{"sub": "someone@example.com"}
	_ = authserver.SetConfirmation(claims, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
	b, _ := json.Marshal(claims)
	fmt.Println(string(b))
	// Output: {"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"sub":"someone@example.com"}
}
