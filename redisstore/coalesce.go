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
// A sender goroutine runs only while commands are queued: the first caller
// to find the coalescer idle starts it, and it ends when the queue is
// empty. Each batch is bounded by the store's Timeout, so the goroutine
// never outlives the checks it serves by more than that.
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

// process queues cmd and waits until it has its reply or ctx is done.
// A caller that gives up leaves its command in the batch: the command may
// still reach Redis (as a request whose client went away may).
func (c *coalescer) process(ctx context.Context, client redis.UniversalClient, timeout time.Duration, cmd redis.Cmder) error {
	q := &queued{ctx: ctx, cmd: cmd, ready: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, q)
	if !c.sending {
		c.sending = true
		go c.send(client, timeout)
	}
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
