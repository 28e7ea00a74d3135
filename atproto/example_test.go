package atproto_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/dpopkit/dpop/atproto"
	"github.com/dpopkit/dpop/dpoptest"
)

// A command-line login as a public client: start from the handle, send
// the user to the authorization URL, and finish with the query the
// authorization server redirects back with.
func Example_login() {
	ctx := context.Background()
	redirect := "http://127.0.0.1:8085/callback"
	app, err := atproto.NewApp(atproto.Config{
		ClientID:    atproto.LoopbackClientID(redirect, "atproto transition:generic"),
		RedirectURI: redirect,
		Scope:       "atproto transition:generic",
		Store:       &atproto.FileStore{Path: "sessions.json"},
	})
	if err != nil {
		log.Fatal(err)
	}
	req, err := app.Start(ctx, "alice.bsky.social")
	if err != nil {
		log.Fatal(err) // an *atproto.Error says which step expected what
	}
	fmt.Println("open", req.URL)

	// The redirect to 127.0.0.1:8085/callback arrives; hand its query over.
	done := make(chan *atproto.Session, 1)
	srv := &http.Server{Addr: "127.0.0.1:8085", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := app.Callback(r.Context(), req, r.URL.Query())
		if err != nil {
			http.Error(w, "login failed", http.StatusBadRequest)
			log.Print(err)
			return
		}
		fmt.Fprintln(w, "logged in; you can close this window")
		done <- s
	})}
	go srv.ListenAndServe()
	s := <-done
	srv.Close()
	fmt.Println("logged in as", s.DID(), "on", s.PDS())
}

// A whole login against dpoptest running the AT Protocol profile, with a
// small PLC directory for the account's DID document, then a call to the
// PDS (dpoptest's resource server) with the session's client.
func ExampleSession_Client() {
	srv := dpoptest.NewServer(dpoptest.Options{Profile: dpoptest.ProfileATProto})
	defer srv.Close()
	did := dpoptest.ATProtoDefaultUser
	plc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":%q}]}`,
			did, srv.ResourceURL())
	}))
	defer plc.Close()

	ctx := context.Background()
	redirect := "http://127.0.0.1/callback"
	app, err := atproto.NewApp(atproto.Config{
		ClientID:    atproto.LoopbackClientID(redirect, "atproto"),
		RedirectURI: redirect,
		Resolver:    &atproto.Resolver{PLCURL: plc.URL},
	})
	if err != nil {
		log.Fatal(err)
	}
	req, err := app.Start(ctx, did)
	if err != nil {
		log.Fatal(err)
	}
	// The browser: dpoptest signs the user in at once and redirects.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(req.URL)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	s, err := app.Callback(ctx, req, back.Query())
	if err != nil {
		log.Fatal(err)
	}

	// Token, proof and the PDS's nonce on every call; refreshed when due.
	resp, err = s.Client().Get(srv.ResourceEndpoint())
	if err != nil {
		log.Fatal(err) // errors.Is(err, atproto.ErrSessionDead): log in again
	}
	defer resp.Body.Close()
	var caller dpoptest.ResourceResponse
	if err := json.NewDecoder(resp.Body).Decode(&caller); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, s.DID() == did, caller.Subject == did, caller.JKT == s.Key().Thumbprint())
	// Output:
	// 200 true true true
}
