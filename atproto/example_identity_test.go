package atproto_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/dpopkit/dpop/atproto"
)

// Resolving a handle to its DID, document and PDS. The DNS lookup and the
// PLC directory are replaced here so the example runs on loopback.
func ExampleResolver() {
	const did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
	plc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,"alsoKnownAs":["at://alice.example.com"],
			"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example.com"}]}`, did)
	}))
	defer plc.Close()
	r := &atproto.Resolver{
		PLCURL: plc.URL,
		LookupTXT: func(_ context.Context, name string) ([]string, error) {
			if name == "_atproto.alice.example.com" {
				return []string{"did=" + did}, nil
			}
			return nil, errors.New("no such host")
		},
		// Only the PLC stand-in is reachable: the HTTPS answer
		// (https://alice.example.com/.well-known/atproto-did) fails, and
		// DNS alone is enough. A disagreement between them would not be.
		HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr != plc.Listener.Addr().String() {
					return nil, errors.New("offline example")
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}},
		Timeout: 2 * time.Second,
	}
	id, err := r.Resolve(context.Background(), "@alice.example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.DID, id.Handle, id.PDS)
	// Output:
	// did:plc:ewvi7nxzyoun6zhxrhs64oiz alice.example.com https://pds.example.com
}

// A DID document must be the document of the DID asked for, and name a PDS.
func ExampleParseDIDDocument() {
	doc, err := atproto.ParseDIDDocument([]byte(`{"id":"did:web:alice.example.com",
		"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example.com/"}]}`),
		"did:web:alice.example.com")
	if err != nil {
		log.Fatal(err)
	}
	pds, err := doc.PDS()
	fmt.Println(pds, err)

	_, err = atproto.ParseDIDDocument([]byte(`{"id":"did:web:mallory.example.com"}`), "did:web:alice.example.com")
	fmt.Println(errors.Is(err, atproto.ErrDIDDocument))
	// Output:
	// https://pds.example.com <nil>
	// true
}

// The syntax checks of handles and DIDs.
func ExampleValidHandle() {
	fmt.Println(atproto.ValidHandle("alice.bsky.social"), atproto.ValidHandle("alice"), atproto.ValidHandle("a.1b"))
	fmt.Println(atproto.ValidDID("did:plc:ewvi7nxzyoun6zhxrhs64oiz"), atproto.ValidDID("did:key:z6Mk"))
	// Output:
	// true false false
	// true false
}

// The client id of a public client in development: no document to host.
func ExampleLoopbackClientID() {
	fmt.Println(atproto.LoopbackClientID("http://127.0.0.1:8085/callback", "atproto"))
	// Output:
	// http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8085%2Fcallback&scope=atproto
}

// Sessions kept in one file, replaced atomically, readable by its owner
// only.
func ExampleFileStore() {
	dir, err := os.MkdirTemp("", "atproto")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := &atproto.FileStore{Path: filepath.Join(dir, "sessions.json")}
	ctx := context.Background()
	_, err = store.Load(ctx, "did:plc:ewvi7nxzyoun6zhxrhs64oiz")
	fmt.Println(errors.Is(err, atproto.ErrNoSession))
	if err := store.Save(ctx, &atproto.SessionData{Version: 1, DID: "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}); err != nil {
		log.Fatal(err)
	}
	fi, err := os.Stat(store.Path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fi.Mode().Perm())
	// Output:
	// true
	// -rw-------
}
