package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch caps the commands of one pipeline.
const maxBatch = 256

// A coalescer sends the checks that arrive while a round trip is in flight
// together, as one pipeline, in the manner of a database's group commit:
// under load many checks share one write and one read on a connection, and
// Redis answers them in one pass; alone, a check goes out at once.
//
// A lone check costs no more than a plain round trip: it goes out from the
// caller's goroutine. A sender goroutine runs only while commands are
// queued behind a round trip in flight, and ends when the queue is empty.
// Each batch is bounded by the store's Timeout, so the goroutine never
// outlives the checks it serves by more than that.
type coalescer struct {
	mu      sync.Mutex
	queue   []*queued
	sending bool
}

type queued struct {
	ctx   context.Context // the caller's, for the values hooks may read
	cmd   redis.Cmder
	ready chan struct{} // closed when cmd has its reply
}

// process sends cmd and waits until it has its reply or ctx is done. A
// caller that finds the coalescer idle sends its command at once, in its
// own goroutine and under its own ctx; commands that arrive meanwhile are
// queued, and a sender goroutine takes them when that round trip is over.
// A queued caller that gives up leaves its command in the batch: the
// command may still reach Redis (as a request whose client went away may).
func (c *coalescer) process(ctx context.Context, client redis.UniversalClient, timeout time.Duration, cmd redis.Cmder) error {
	c.mu.Lock()
	if !c.sending {
		c.sending = true
		c.mu.Unlock()
		_ = client.Process(ctx, cmd)
		c.mu.Lock()
		if len(c.queue) > 0 {
			go c.send(client, timeout)
		} else {
			c.sending = false
		}
		c.mu.Unlock()
		return cmd.Err()
	}
	q := &queued{ctx: ctx, cmd: cmd, ready: make(chan struct{})}
	c.queue = append(c.queue, q)
	c.mu.Unlock()
	select {
	case <-q.ready:
		return cmd.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send sends batches until the queue is empty.
func (c *coalescer) send(client redis.UniversalClient, timeout time.Duration) {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxBatch)
		if n == 0 {
			c.sending = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		c.mu.Unlock()

		// The batch serves several callers: none of their cancellations
		// may cut it short, but the store's Timeout bounds it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), timeout)
		if len(batch) == 1 {
			_ = client.Process(ctx, batch[0].cmd)
		} else {
			pipe := client.Pipeline()
			for _, q := range batch {
				_ = pipe.Process(ctx, q.cmd)
			}
			_, _ = pipe.Exec(ctx)
		}
		cancel()
		for _, q := range batch {
			close(q.ready)
		}
	}
}
