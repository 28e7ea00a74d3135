//go:build unix

package redisstore_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/redisstore"
	"github.com/dpopkit/dpop/redisstore/internal/redistest"
)

// TestStalledServer pauses redis-server (SIGSTOP): connections stay open
// but nothing answers. Seen must give up at the store's Timeout, or at the
// caller's deadline when that is sooner, and work again once the server
// resumes.
func TestStalledServer(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := newStore(t, srv.Client(t), redisstore.Options{Timeout: 150 * time.Millisecond})
	// Open a connection while the server still answers.
	if _, err := s.Seen(context.Background(), randomKey(t), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = srv.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the kill of Start's cleanup

	// Generous: the race detector and parallel tests slow everything down,
	// and the point is the contrast with go-redis's ReadTimeout (seconds).
	const slack = 300 * time.Millisecond
	for _, tc := range []struct {
		name     string
		deadline time.Duration // of the caller's context; 0 for none
		bound    time.Duration
	}{
		{"store timeout", 0, 150 * time.Millisecond},
		{"caller deadline", 40 * time.Millisecond, 40 * time.Millisecond},
	} {
		ctx := context.Background()
		if tc.deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, tc.deadline)
			defer cancel()
		}
		start := time.Now()
		seen, err := s.Seen(ctx, randomKey(t), time.Now().Add(time.Minute))
		took := time.Since(start)
		if seen || !errors.Is(err, dpop.ErrStoreUnavailable) {
			t.Errorf("%s: Seen = %v, %v; want ErrStoreUnavailable", tc.name, seen, err)
		}
		if took > tc.bound+slack {
			t.Errorf("%s: Seen took %v; want at most %v (+%v)", tc.name, took, tc.bound, slack)
		}
		t.Logf("%s: refused after %v", tc.name, took)
	}

	resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		seen, err := s.Seen(context.Background(), randomKey(t), time.Now().Add(time.Minute))
		if err == nil && !seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGCONT: Seen = %v, %v", seen, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
