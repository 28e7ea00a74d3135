// Command fleet runs two instances of a DPoP-protected resource server that
// share one Redis, as two replicas behind a load balancer would, and shows
// what sharing buys: a proof accepted by one instance is refused by the
// other, and a nonce issued by one is accepted by the other.
//
//	go run ./redisstore/example/fleet -redis 127.0.0.1:6379
//
// Both instances get the same configuration: the Redis address, the public
// URL of the resource, and the nonce keyring (DPOP_NONCE_SECRETS, a
// comma-separated list of base64url secrets of 32 bytes or more, the current
// one first; a random one when unset). Everything listens on 127.0.0.1.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/resource"
	"github.com/redis/go-redis/v9"
)

// publicBase is the URL clients use for the resource, whichever instance
// answers.
const publicBase = "https://api.example.com"

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "address of the Redis server")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *addr, os.Getenv("DPOP_NONCE_SECRETS"), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run starts the two instances, exercises them, prints what happens to out
// and stops them.
func run(ctx context.Context, redisAddr, secrets string, out io.Writer) error {
	keyring, err := parseKeyring(secrets)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{
		Addr: redisAddr,
		// redisstore requires a client that bounds socket I/O by the
		// request's deadline.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()

	var instances []*url.URL
	for _, name := range []string{"a", "b"} {
		h, err := newInstance(rdb, keyring)
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(l)
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-done
		}()
		instances = append(instances, &url.URL{Scheme: "http", Host: l.Addr().String()})
		fmt.Fprintf(out, "instance %s listening (public URL %s)\n", name, publicBase)
	}

	// The client: a DPoP key, an access token bound to it, and a transport
	// that signs every request and handles use_dpop_nonce. The balancer
	// under it sends requests to the instances in turn.
	key, err := dpop.GenerateKey(dpop.ES256)
	if err != nil {
		return err
	}
	token := "at-" + key.Thumbprint()
	lb := &balancer{instances: instances}
	tr := &client.Transport{Key: key, Base: lb}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := range 4 {
		req, err := http.NewRequestWithContext(ctx, "GET", publicBase+"/hello", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "DPoP "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "request %d: %d %s (round trips so far: %d)\n", i+1, resp.StatusCode, body, lb.count.Load())
	}

	// A proof replayed on the other instance: the shared store refuses it.
	nonce := tr.NonceCache().Get(client.Origin(&url.URL{Scheme: "https", Host: "api.example.com"}))
	proof, err := key.Proof("GET", publicBase+"/hello", dpop.WithAccessToken(token), dpop.WithNonce(nonce))
	if err != nil {
		return err
	}
	for i, inst := range instances {
		req, err := http.NewRequestWithContext(ctx, "GET", inst.String()+"/hello", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "DPoP "+token)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		verdict := "accepted"
		if resp.StatusCode != http.StatusOK {
			verdict = "refused: " + resp.Header.Get("WWW-Authenticate")
		}
		fmt.Fprintf(out, "same proof at instance %s: %d %s\n", string(rune('a'+i)), resp.StatusCode, verdict)
	}
	return nil
}

// newInstance builds one instance: its own verifier and middleware, on the
// shared Redis and the shared nonce keyring.
func newInstance(rdb redis.UniversalClient, keyring [][]byte) (http.Handler, error) {
	store, err := redisstore.New(rdb, redisstore.Options{
		// One prefix per resource, in case several share the database.
		Prefix: "dpop:jti:api.example.com:",
	})
	if err != nil {
		return nil, err
	}
	nonces, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{
		Secret:   keyring[0],
		Previous: keyring[1:],
		Scope:    "rs:" + publicBase,
	})
	if err != nil {
		return nil, err
	}
	v, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: store, Nonces: nonces})
	if err != nil {
		return nil, err
	}
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier:       v,
		Tokens:         demoTokens,
		BaseURL:        publicBase,
		NonceOnSuccess: true,
	})
	if err != nil {
		return nil, err
	}
	return mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := resource.CallerFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", caller.Subject)
	})), nil
}

// demoTokens stands for a real validator (resource.JWTValidator or
// resource.Introspector): "at-<thumbprint>" is a valid token bound to that
// key.
var demoTokens = resource.TokenValidatorFunc(func(_ context.Context, tok string) (*resource.TokenInfo, error) {
	jkt, ok := strings.CutPrefix(tok, "at-")
	if !ok {
		return nil, resource.ErrInvalidToken
	}
	return &resource.TokenInfo{Subject: "alice", JKT: jkt, Expiry: time.Now().Add(time.Hour)}, nil
})

// parseKeyring reads the nonce secrets, current first. Empty means one
// random secret, which is fine for a demonstration: both instances are in
// this process and share it.
func parseKeyring(s string) ([][]byte, error) {
	if s == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
	var ring [][]byte
	for _, part := range strings.Split(s, ",") {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("DPOP_NONCE_SECRETS: %w", err)
		}
		if len(b) < 32 {
			return nil, errors.New("DPOP_NONCE_SECRETS: each secret must be at least 32 bytes")
		}
		ring = append(ring, b)
	}
	return ring, nil
}

// balancer sends each request to the next instance, as a load balancer
// would; the client only knows the public URL.
type balancer struct {
	instances []*url.URL
	count     atomic.Int64
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	n := b.count.Add(1)
	u := b.instances[int(n-1)%len(b.instances)]
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}
