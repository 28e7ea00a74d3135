package redisstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/redisstore/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// checkStore runs the basic contract on a store: a fresh key is new once,
// then seen; 100 goroutines on one key see it new exactly once.
func checkStore(t *testing.T, s *redisstore.Store) {
	t.Helper()
	ctx := ctxT(t)
	exp := time.Now().Add(time.Minute)
	for range 20 { // keys over many hash slots
		k := randomKey(t)
		for _, want := range []bool{false, true} {
			if seen, err := s.Seen(ctx, k, exp); err != nil || seen != want {
				t.Fatalf("Seen = %v, %v; want %v", seen, err, want)
			}
		}
	}
	k := randomKey(t)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			seen, err := s.Seen(ctx, k, exp)
			if err != nil {
				t.Error(err)
			} else if !seen {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d goroutines saw the key as new, want 1", fresh.Load())
	}
}

// TestClusterClient: the store on a redis.ClusterClient, against a
// one-node Redis Cluster.
func TestClusterClient(t *testing.T) {
	t.Parallel()
	srv := redistest.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{srv.Addr},
		ContextTimeoutEnabled: true,
	})
	defer c.Close()
	checkStore(t, newStore(t, c, redisstore.Options{Timeout: patientTimeout}))
}

// TestSentinelClient: the store on a failover client, which finds the
// primary through a Sentinel.
func TestSentinelClient(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "dpop")
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            "dpop",
		SentinelAddrs:         []string{sentinel.Addr},
		ContextTimeoutEnabled: true,
	})
	defer c.Close()
	checkStore(t, newStore(t, c, redisstore.Options{Timeout: patientTimeout}))
	// The keys are on the primary the Sentinel named.
	ctx := ctxT(t)
	n, err := master.Client(t).DBSize(ctx).Result()
	if err != nil || n != 21 {
		t.Errorf("DBSIZE on the primary = %d, %v; want 21", n, err)
	}
}
