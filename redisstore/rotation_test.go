package redisstore_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/testkit"
	"github.com/dpopkit/dpop/redisstore"
)

// rotationStep is the nonce step of the rotation tests: a nonce lives
// between one and two steps.
const rotationStep = 500 * time.Millisecond

// keyring is an instance's nonce configuration, which can be reloaded while
// the instance runs, as a server re-reading its configuration would.
type keyring struct {
	src atomic.Pointer[dpop.HMACNonceSource]
}

func (k *keyring) Nonce(ctx context.Context) (string, error) { return k.src.Load().Nonce(ctx) }
func (k *keyring) Check(ctx context.Context, n string) error { return k.src.Load().Check(ctx, n) }

// configure installs the secrets: current issues and checks, previous only
// check.
func (k *keyring) configure(t testing.TB, current []byte, previous ...[]byte) {
	t.Helper()
	s, err := newNonceSource(current, previous...)
	if err != nil {
		t.Error(err)
		return
	}
	k.src.Store(s)
}

func newNonceSource(current []byte, previous ...[]byte) (*dpop.HMACNonceSource, error) {
	return dpop.NewHMACNonceSource(dpop.HMACNonceOptions{
		Secret:   current,
		Previous: previous,
		Scope:    "rs:" + publicBase,
		Step:     rotationStep,
	})
}

func secret(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// balancer sends requests for the public URL to the instances in turn, as a
// load balancer in front of the fleet would.
type balancer struct {
	instances []*url.URL
	next      atomic.Uint64
	base      http.RoundTripper
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	u := b.instances[b.next.Add(1)%uint64(len(b.instances))]
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
	r.Host = ""
	return b.base.RoundTrip(r)
}

// nonceCounter sits under client.Transport and counts, per logical request
// (a *atomic.Int32 in the request's context), the use_dpop_nonce answers.
type nonceCounter struct{ base http.RoundTripper }

type counterKey struct{}

func (c nonceCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized &&
		challengeError(resp.Header.Get("WWW-Authenticate")) == dpop.CodeUseNonce {
		if n, ok := r.Context().Value(counterKey{}).(*atomic.Int32); ok {
			n.Add(1)
		}
	}
	return resp, err
}

// rotationRun is what the clients saw during one rotation.
type rotationRun struct {
	requests, failed, maxNonceErrors, nonceErrors int
}

// runRotation starts two instances sharing one Redis and the nonce secret
// s1, keeps clients calling them through a balancer while rotate runs, and
// returns what the clients saw.
func runRotation(t *testing.T, s1 []byte, rotate func(a, b *keyring)) rotationRun {
	srv := shared.Get(t)
	var rings [2]keyring
	var insts []*url.URL
	for i := range rings {
		rings[i].configure(t, s1)
		inst := newInstance(t, newStore(t, srv.Client(t), redisstore.Options{Timeout: patientTimeout}), &rings[i])
		u, err := url.Parse(inst.URL)
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, u)
	}
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(base.CloseIdleConnections)
	lb := &balancer{instances: insts, base: base}

	var mu sync.Mutex
	var run rotationRun
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		k := testkit.Key(t)
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &client.Transport{Key: k, Base: nonceCounter{lb}}}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n atomic.Int32
				ctx := context.WithValue(context.Background(), counterKey{}, &n)
				req, _ := http.NewRequestWithContext(ctx, "GET", publicURL, nil)
				req.Header.Set("Authorization", "DPoP "+tokenFor(k))
				resp, err := hc.Do(req)
				status := 0
				if err == nil {
					status = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				run.requests++
				if status != http.StatusOK {
					run.failed++
				}
				run.nonceErrors += int(n.Load())
				run.maxNonceErrors = max(run.maxNonceErrors, int(n.Load()))
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	func() {
		// Stop the clients even if rotate fails the test.
		defer func() { close(stop); wg.Wait() }()
		time.Sleep(200 * time.Millisecond)
		rotate(&rings[0], &rings[1])
		time.Sleep(300 * time.Millisecond)
	}()
	return run
}

// TestNonceRotation follows the documented rotation on two instances that
// share Redis while clients keep calling them through a balancer: no
// request fails and none meets more than one use_dpop_nonce.
func TestNonceRotation(t *testing.T) {
	s1, s2 := secret(t), secret(t)
	var final *keyring
	run := runRotation(t, s1, func(a, b *keyring) {
		time.Sleep(rotationStep)
		// 1. Add the new secret, accepted but not used, on each instance
		// in turn.
		a.configure(t, s1, s2)
		time.Sleep(100 * time.Millisecond)
		b.configure(t, s1, s2)
		time.Sleep(200 * time.Millisecond)
		// 2. Issue under the new secret, still accept the old one.
		a.configure(t, s2, s1)
		time.Sleep(100 * time.Millisecond)
		b.configure(t, s2, s1)
		// 3. Wait until nonces under the old secret have expired (2*Step),
		// then drop it.
		time.Sleep(2*rotationStep + 100*time.Millisecond)
		a.configure(t, s2)
		time.Sleep(100 * time.Millisecond)
		b.configure(t, s2)
		final = a
	})
	t.Logf("%d requests, %d failed, %d use_dpop_nonce answers in all, at most %d for one request",
		run.requests, run.failed, run.nonceErrors, run.maxNonceErrors)
	if run.requests < 100 {
		t.Fatalf("only %d requests during the rotation", run.requests)
	}
	if run.failed != 0 || run.maxNonceErrors > 1 {
		t.Fatalf("%d requests failed; at most %d use_dpop_nonce for one request; want 0 and <= 1", run.failed, run.maxNonceErrors)
	}

	// The rotation did happen: nonces now check under s2 alone, not s1.
	n, _ := final.Nonce(context.Background())
	onlyS2, _ := newNonceSource(s2)
	onlyS1, _ := newNonceSource(s1)
	if onlyS2.Check(context.Background(), n) != nil || onlyS1.Check(context.Background(), n) == nil {
		t.Fatal("after the rotation, nonces are not issued under the new secret")
	}
}

// TestNonceRotationAbrupt is the control: replacing the secret at once on
// one instance, without the steps, makes requests fail, so the counting in
// TestNonceRotation can see a broken rotation.
func TestNonceRotationAbrupt(t *testing.T) {
	run := runRotation(t, secret(t), func(a, b *keyring) {
		time.Sleep(rotationStep)
		a.configure(t, secret(t))
		time.Sleep(2 * rotationStep)
	})
	t.Logf("%d requests, %d failed, %d use_dpop_nonce answers in all, at most %d for one request",
		run.requests, run.failed, run.nonceErrors, run.maxNonceErrors)
	if run.failed == 0 && run.maxNonceErrors <= 1 {
		t.Fatal("an abrupt secret change went unnoticed")
	}
}
