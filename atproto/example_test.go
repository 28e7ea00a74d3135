package atproto_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/dpopkit/dpop/atproto"
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

// Calling the PDS with a restored session: the client adds the token and a
// proof to each request, keeps the PDS's nonce, and refreshes the token
// when it is due.
func ExampleSession_Client() {
	ctx := context.Background()
	app, err := atproto.NewApp(atproto.Config{
		ClientID:    "https://app.example/client-metadata.json",
		RedirectURI: "https://app.example/callback",
		Store:       &atproto.FileStore{Path: "sessions.json"},
	})
	if err != nil {
		log.Fatal(err)
	}
	s, err := app.Resume(ctx, "did:plc:ewvi7nxzyoun6zhxrhs64oiz")
	if err != nil {
		log.Fatal(err) // errors.Is(err, atproto.ErrNoSession): log in first
	}
	resp, err := s.Client().Get(s.PDS() + "/xrpc/com.atproto.server.getSession")
	if err != nil {
		log.Fatal(err) // errors.Is(err, atproto.ErrSessionDead): log in again
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
