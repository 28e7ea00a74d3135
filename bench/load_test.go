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

var loadFlag = flag.Bool("load", false, "run TestLoad at full size (also DPOP_LOAD=1)")

// Load test sizes: the full run, and the smoke run that go test ./... does.
const (
	loadConcurrency   = 8
	loadRequests      = 20000
	smokeRequests     = 200
	loadTimeLimit     = 60 * time.Second
	loadResourcePath  = "/resource"
	loadRequestMethod = http.MethodGet
)

// resourceHandler is the same resource server for every verifier: it reads
// the DPoP header, rebuilds the request URL and verifies the proof.
func resourceHandler(v verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals := r.Header.Values("DPoP")
		if len(vals) != 1 {
			http.Error(w, "one DPoP header required", http.StatusBadRequest)
			return
		}
		if _, err := v.Verify(vals[0], r.Method, "http://"+r.Host+r.URL.EscapedPath()); err != nil {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}

// loopbackServer starts a server on 127.0.0.1 only.
func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	_ = s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// TestLoad runs a resource server with each verifier on loopback and sends
// it the same number of requests, each with a fresh proof, from the same
// number of concurrent clients, reporting requests per second. Without
// -load (or DPOP_LOAD=1) it sends only a few requests, as a smoke test.
func TestLoad(t *testing.T) {
	total := smokeRequests
	if *loadFlag || os.Getenv("DPOP_LOAD") == "1" {
		total = loadRequests
	} else if testing.Short() {
		total = 40
	}
	for _, kn := range keyNames {
		k := mustKey(t, kn)
		for _, vn := range verifiers {
			t.Run(kn+"/"+vn.name, func(t *testing.T) {
				srv := loopbackServer(t, resourceHandler(vn.make()))
				url := srv.URL + loadResourcePath
				// Fresh proofs, made before the clock starts; their iat
				// stays well inside the window for the time limit.
				proofs := make([]string, total)
				for i := range proofs {
					p, err := k.dk.Proof(loadRequestMethod, url)
					if err != nil {
						t.Fatal(err)
					}
					proofs[i] = p
				}
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
							if err := send(ctx, client, url, proofs[i]); err != nil {
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
				t.Logf("LOAD %s/%s: %d requests, concurrency %d, %v, %.0f req/s",
					kn, vn.name, total, loadConcurrency, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
			})
		}
	}
}

func send(ctx context.Context, c *http.Client, url, proof string) error {
	req, err := http.NewRequestWithContext(ctx, loadRequestMethod, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("DPoP", proof)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
