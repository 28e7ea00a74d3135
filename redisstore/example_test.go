package redisstore_test

import (
	"log"
	"net/http"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/resource"
	"github.com/redis/go-redis/v9"
)

// A resource server whose replicas share one Redis: each replica builds the
// same configuration. A failover (Sentinel) or Cluster client works the
// same way: redisstore.New takes any redis.UniversalClient.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379",
		// Required: socket reads and writes then end at the request's
		// deadline.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()

	store, err := redisstore.New(rdb, redisstore.Options{
		Prefix: "dpop:jti:api.example.com:", // per resource, if several share the database
		// Timeout: redisstore.DefaultTimeout, FailOpen: false (fail closed)
	})
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := dpop.NewVerifier(dpop.VerifierOptions{Replay: store})
	if err != nil {
		log.Fatal(err)
	}
	var tokens resource.TokenValidator // a JWTValidator or Introspector in a real server
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier: verifier,
		Tokens:   tokens,
		BaseURL:  "https://api.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/", mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
}

// Serving while Redis is down, without a replay check, instead of refusing
// with 503; every failure is still reported.
func ExampleOptions_failOpen() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Options{
		FailOpen: true,
		OnError: func(err error) {
			log.Printf("replay check skipped: %v", err) // and count it
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
