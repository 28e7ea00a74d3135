package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loadFlag = flag.Bool("load", false, "run TestLoad and TestLoadResource at full size (also DPOP_LOAD=1)")

// Load test sizes: the full run, and the smoke run that go test ./... does.
const (
	loadConcurrency   = 8
	loadRequests      = 20000
	smokeRequests     = 200
	loadTimeLimit     = 60 * time.Second
	loadResourcePath  = "/resource"
	loadRequestMethod = http.MethodGet
)

// loadSize is the number of requests of a load run.
func loadSize() int {
	switch {
	case *loadFlag || os.Getenv("DPOP_LOAD") == "1":
		return loadRequests
	case testing.Short():
		return 40
	}
	return smokeRequests
}

// resourceHandler is the same proof-checking server for every verifier: it
// reads the DPoP header, rebuilds the request URL and verifies the proof.
func resourceHandler(v verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("DPoP")
		if len(vals) != 1 {
			http.Error(w, "one DPoP header required", http.StatusBadRequest)
			return
		}
		if _, err := v.Verify(vals[0], r.Method, "http://"+r.Host+r.URL.EscapedPath(), ""); err != nil {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}

// startLoopback starts a server on 127.0.0.1 only.
func startLoopback(h http.Handler) (*httptest.Server, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := httptest.NewUnstartedServer(h)
	_ = s.Listener.Close()
	s.Listener = l
	s.Start()
	return s, nil
}

// loopbackServer starts a server on 127.0.0.1 only, stopped at the end of
// the test.
func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s, err := startLoopback(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestLoad runs a proof-checking server with each verifier on loopback and
// sends it the same number of requests, each with a fresh proof, from the
// same number of concurrent clients, reporting requests per second.
// Without -load (or DPOP_LOAD=1) it sends only a few requests, as a smoke
// test.
func TestLoad(t *testing.T) {
	total := loadSize()
	for _, kn := range keyNames {
		k := mustKey(t, kn)
		for _, vn := range verifiers {
			t.Run(kn+"/"+vn.name, func(t *testing.T) {
				srv := loopbackServer(t, resourceHandler(vn.make()))
				url := srv.URL + loadResourcePath
				// Fresh proofs, made before the clock starts; their iat
				// stays well inside the window for the time limit.
				reqs := make([]rsRequest, total)
				for i := range reqs {
					p, err := k.dk.Proof(loadRequestMethod, url)
					if err != nil {
						t.Fatal(err)
					}
					reqs[i] = rsRequest{proof: p}
				}
				rate := runLoad(t, url, reqs)
				t.Logf("LOAD %s/%s: %s", kn, vn.name, rate)
			})
		}
	}
}

// TestLoadResource is the same load test against the whole resource server
// of resource_test.go, built with each library: every request carries a
// DPoP-bound access token of one of 16 clients and a fresh proof with ath.
func TestLoadResource(t *testing.T) {
	total := loadSize()
	is, err := newTokenIssuer()
	if err != nil {
		t.Fatal(err)
	}
	jwks := loopbackServer(t, is.jwksHandler())
	for _, kn := range keyNames {
		clients, err := newRSClients(is, kn, rsClients)
		if err != nil {
			t.Fatal(err)
		}
		for _, rn := range resources {
			t.Run(kn+"/"+rn.name, func(t *testing.T) {
				// The handler is built once the server's URL is known.
				var h atomic.Pointer[http.Handler]
				srv := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					(*h.Load()).ServeHTTP(w, r)
				}))
				rs, err := rn.make(is, jwks.URL+"/jwks", srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				h.Store(&rs.h)
				url := srv.URL + rsPath
				reqs, err := rsRequests(clients, total, loadRequestMethod, url)
				if err != nil {
					t.Fatal(err)
				}
				rate := runLoad(t, url, reqs)
				t.Logf("LOAD resource %s/%s: %s", kn, rn.name, rate)
			})
		}
	}
}

// runLoad sends every request once to url from loadConcurrency clients with
// keep-alive, within loadTimeLimit, fails the test unless every answer is
// 200, and describes the rate.
func runLoad(t *testing.T, url string, reqs []rsRequest) string {
	t.Helper()
	total := len(reqs)
	tr := &http.Transport{MaxIdleConnsPerHost: loadConcurrency, MaxConnsPerHost: loadConcurrency}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeLimit)
	defer cancel()

	var next, ok atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range loadConcurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(total) || ctx.Err() != nil {
					return
				}
				if err := send(ctx, client, url, reqs[i]); err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatalf("after %d good responses: %v", ok.Load(), err)
	}
	if ok.Load() != int64(total) {
		t.Fatalf("%d of %d requests answered within %v", ok.Load(), total, loadTimeLimit)
	}
	return fmt.Sprintf("%d requests, concurrency %d, %v, %.0f req/s",
		total, loadConcurrency, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}

func send(ctx context.Context, c *http.Client, url string, r rsRequest) error {
	req, err := http.NewRequestWithContext(ctx, loadRequestMethod, url, nil)
	if err != nil {
		return err
	}
	if r.authz != "" {
		req.Header.Set("Authorization", r.authz)
	}
	req.Header.Set("DPoP", r.proof)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return nil
}
