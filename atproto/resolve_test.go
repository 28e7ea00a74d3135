package atproto

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseDIDDocument(t *testing.T) {
	const did = aliceDID
	for _, tc := range []struct {
		name, doc string
		pds       string
		err       error
	}{
		{"ok", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example/"}]}`, "https://pds.example", nil},
		{"full id", `{"id":"` + did + `","service":[{"id":"` + did + `#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}]}`, "https://pds.example", nil},
		{"other id", `{"id":"did:plc:zzzzzzzzzzzzzzzzzzzzzzzz","service":[]}`, "", ErrDIDDocument},
		{"not JSON", `{"id":`, "", ErrDIDDocument},
		{"array", `[]`, "", ErrDIDDocument},
		{"huge", `{"id":"` + did + `","x":"` + strings.Repeat("a", MaxDIDDocumentSize) + `"}`, "", ErrDIDDocument},
		{"no service", `{"id":"` + did + `"}`, "", ErrNoPDS},
		{"wrong type", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"Other","serviceEndpoint":"https://pds.example"}]}`, "", ErrNoPDS},
		{"endpoint object", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":{"a":"b"}}]}`, "", ErrNoPDS},
		{"plain http", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"http://pds.example"}]}`, "", ErrNoPDS},
		{"path", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example/x"}]}`, "", ErrNoPDS},
		{"userinfo", `{"id":"` + did + `","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://u@pds.example"}]}`, "", ErrNoPDS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDIDDocument([]byte(tc.doc), did)
			if err == nil {
				var pds string
				pds, err = d.PDS()
				if err == nil && pds != tc.pds {
					t.Fatalf("PDS %q, want %q", pds, tc.pds)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Expected == "") {
				t.Fatalf("error %v does not say what was expected", err)
			}
		})
	}
}

func TestValidSyntax(t *testing.T) {
	for s, want := range map[string]bool{
		aliceDID: true, "did:plc:ABCDEFGHIJKLMNOPQRSTUVWX": false, "did:plc:abc": false, "did:plc:abcdefghijklmnopqrstuvw1": false,
		"did:web:example.com": true, "did:web:localhost%3A2583": true, "did:web:example.com%3A443": false,
		"did:web:example.com:path": false, "did:key:z6Mk": false, "did:web:": false,
	} {
		if ValidDID(s) != want {
			t.Errorf("ValidDID(%q) = %t", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"alice.bsky.social": true, "Alice.Test": true, "a.b": true, "alice": false, "alice.": false, ".alice.test": false,
		"-a.test": false, "a-.test": false, "a.1test": false, "a_b.test": false, strings.Repeat("a", 64) + ".test": false,
		"xn--ls8h.test": true,
	} {
		if ValidHandle(s) != want {
			t.Errorf("ValidHandle(%q) = %t", s, !want)
		}
	}
}

// TestResolveHandle: DNS and HTTPS both asked; either alone is enough;
// they must agree; several did= records are ambiguous.
func TestResolveHandle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	r := w.resolver()
	if did, err := r.ResolveHandle(ctx, "@ALICE.test"); err != nil || did != aliceDID {
		t.Fatalf("%q %v", did, err)
	}
	w.mu.Lock()
	delete(w.txt, "_atproto.alice.test")
	w.mu.Unlock()
	if did, err := r.ResolveHandle(ctx, "alice.test"); err != nil || did != aliceDID {
		t.Fatalf("HTTPS alone: %q %v", did, err)
	}
	w.mu.Lock()
	delete(w.hosts, "alice.test")
	w.mu.Unlock()
	if _, err := r.ResolveHandle(ctx, "alice.test"); !errors.Is(err, ErrHandleNotFound) {
		t.Fatalf("got %v", err)
	}
	w.mu.Lock()
	w.txt["_atproto.alice.test"] = []string{"did=" + aliceDID}
	w.mu.Unlock()
	if did, err := r.ResolveHandle(ctx, "alice.test"); err != nil || did != aliceDID {
		t.Fatalf("DNS alone: %q %v", did, err)
	}
	w.mu.Lock()
	w.txt["_atproto.alice.test"] = []string{"did=" + aliceDID, "did=did:plc:zzzzzzzzzzzzzzzzzzzzzzzz"}
	w.mu.Unlock()
	if _, err := r.ResolveHandle(ctx, "alice.test"); !errors.Is(err, ErrHandleConflict) {
		t.Fatalf("two records: %v", err)
	}
	w.mu.Lock()
	w.txt["_atproto.alice.test"] = []string{"did=did:key:z6Mk"}
	w.mu.Unlock()
	if _, err := r.ResolveHandle(ctx, "alice.test"); !errors.Is(err, ErrHandleNotFound) || !errors.Is(err, ErrInvalidDID) {
		t.Fatalf("a did:key record: got %v, want ErrHandleNotFound and ErrInvalidDID", err)
	}
	if _, err := r.ResolveHandle(ctx, "not a handle"); !errors.Is(err, ErrInvalidHandle) {
		t.Fatalf("got %v", err)
	}
	if _, err := r.ResolveDID(ctx, "did:key:z6Mk"); !errors.Is(err, ErrInvalidDID) {
		t.Fatalf("ResolveDID(did:key): got %v, want ErrInvalidDID", err)
	}
}

// TestFetchLimits: redirects, slow answers, oversized bodies and error
// statuses are refused with ErrFetch.
func TestFetchLimits(t *testing.T) {
	ctx := context.Background()
	const host = "bob.test"
	w := newWorld(t)
	r := w.resolver()
	r.Timeout = 200 * time.Millisecond
	w.txt = map[string][]string{}
	for name, h := range map[string]http.HandlerFunc{
		"redirect": func(rw http.ResponseWriter, req *http.Request) {
			http.Redirect(rw, req, "http://127.0.0.1:1/x", http.StatusFound)
		},
		"slow": func(rw http.ResponseWriter, req *http.Request) {
			select {
			case <-req.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
		"huge": func(rw http.ResponseWriter, req *http.Request) {
			fmt.Fprint(rw, strings.Repeat("d", 10<<10))
		},
		"status": func(rw http.ResponseWriter, req *http.Request) { http.Error(rw, "no", 500) },
	} {
		t.Run(name, func(t *testing.T) {
			w.mu.Lock()
			w.hosts[host] = h
			w.mu.Unlock()
			start := time.Now()
			_, err := r.ResolveHandle(ctx, host)
			if !errors.Is(err, ErrHandleNotFound) || !errors.Is(err, ErrFetch) {
				t.Fatalf("got %v", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
	// A DID document over the cap, and a did:web document.
	w.mu.Lock()
	w.docs[aliceDID] = `{"id":"` + aliceDID + `","pad":"` + strings.Repeat("x", MaxDIDDocumentSize) + `"}`
	w.hosts["web.example"] = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/.well-known/did.json" {
			fmt.Fprint(rw, w.didDoc("did:web:web.example", "web.example", "https://pds.web.example"))
		}
	})
	w.mu.Unlock()
	if _, err := r.ResolveDID(ctx, aliceDID); !errors.Is(err, ErrFetch) {
		t.Fatalf("huge document: %v", err)
	}
	id, err := r.Resolve(ctx, "did:web:web.example")
	if err != nil || id.PDS != "https://pds.web.example" || id.Handle != "web.example" {
		t.Fatalf("did:web: %+v %v", id, err)
	}
}

func FuzzParseDIDDocument(f *testing.F) {
	f.Add([]byte(`{"id":"`+aliceDID+`","alsoKnownAs":["at://alice.test"],"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}]}`), aliceDID)
	f.Add([]byte(`{"id":"did:web:a.example","service":[{"id":"#atproto_pds","type":["x"],"serviceEndpoint":["https://x"]}]}`), "did:web:a.example")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, data []byte, did string) {
		d, err := ParseDIDDocument(data, did)
		if err != nil {
			if !errors.Is(err, ErrDIDDocument) {
				t.Fatalf("error %v is not ErrDIDDocument", err)
			}
			return
		}
		if d.ID != did {
			t.Fatalf("id %q accepted for %q", d.ID, did)
		}
		pds, err := d.PDS()
		if err == nil {
			if _, err := originURL(pds); err != nil || strings.HasSuffix(pds, "/") {
				t.Fatalf("PDS %q is not an origin", pds)
			}
		} else if !errors.Is(err, ErrNoPDS) {
			t.Fatalf("PDS error %v", err)
		}
		if h := d.Handle(); h != "" && !ValidHandle(h) {
			t.Fatalf("handle %q", h)
		}
	})
}

func FuzzValidDID(f *testing.F) {
	for _, s := range []string{aliceDID, "did:web:localhost%3A1", "did:web:a.b", "did:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidDID(s) && !strings.HasPrefix(s, "did:") {
			t.Fatalf("%q", s)
		}
		_ = ValidHandle(s)
	})
}
