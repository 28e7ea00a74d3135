package redisstore_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpopkit/dpop/redisstore"
	"github.com/redis/go-redis/v9"
)

// lossyProxy forwards TCP between a Redis client and a server on loopback.
// When armed, it swallows the next chunk the server sends (the reply to a
// command the server has already executed) and closes that connection, as
// a network failure between the two would. While partitioned, it drops
// everything the server sends and keeps the connection open, as a network
// that loses packets does before TCP gives up.
type lossyProxy struct {
	ln          net.Listener
	target      string
	armed       atomic.Bool
	partitioned atomic.Bool
	dropped     atomic.Int32
	wg          sync.WaitGroup
	mu          sync.Mutex
	conns       []net.Conn
}

func startLossyProxy(t *testing.T, target string) *lossyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *lossyProxy) addr() string { return p.ln.Addr().String() }

func (p *lossyProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *lossyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			server.Close()
		}()
		go func() {
			defer p.wg.Done()
			defer client.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if p.armed.CompareAndSwap(true, false) {
						p.dropped.Add(1)
						server.Close()
						return
					}
					if p.partitioned.Load() {
						continue
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func (p *lossyProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSeenRetryAfterLostReply: the server records the key, the reply is
// lost on the way back, the Redis client sends the same command again on a
// new connection. The retry must find the check's own id and report the
// proof as new; a later, different check of the same key must still see a
// replay.
func TestSeenRetryAfterLostReply(t *testing.T) {
	srv := shared.Get(t)
	proxy := startLossyProxy(t, srv.Addr)
	c := redis.NewClient(&redis.Options{
		Addr:                  proxy.addr(),
		ContextTimeoutEnabled: true,
		MaxRetries:            2,
		MinRetryBackoff:       time.Millisecond,
		MaxRetryBackoff:       5 * time.Millisecond,
		PoolSize:              1,
	})
	t.Cleanup(func() { c.Close() })
	ctx := ctxT(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, c, redisstore.Options{Prefix: "retry:", Timeout: patientTimeout})
	k := randomKey(t)

	proxy.armed.Store(true)
	seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("Seen after a lost reply: %v", err)
	}
	if proxy.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d replies; want 1 (the test did not exercise a retry)", proxy.dropped.Load())
	}
	if seen {
		t.Fatal("Seen = true after a lost reply and a retry: an honest proof was refused as a replay")
	}
	// The key is recorded, and another check of it is a replay.
	if seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute)); err != nil || !seen {
		t.Fatalf("second check of the same key: Seen = %v, %v; want true", seen, err)
	}
	// Another store (another instance of a fleet) sees it too.
	other := newStore(t, c, redisstore.Options{Prefix: "retry:", Timeout: patientTimeout})
	if seen, err := other.Seen(ctx, k, time.Now().Add(time.Minute)); err != nil || !seen {
		t.Fatalf("another store: Seen = %v, %v; want true", seen, err)
	}
}

// fakeRedisError is an error reply as go-redis reports one.
type fakeRedisError string

func (e fakeRedisError) Error() string { return string(e) }
func (fakeRedisError) RedisError()     {}

// legacyServer is a hook that answers SET ... NX GET as Redis 6 does.
type legacyServer struct{ refused atomic.Int32 }

func (h *legacyServer) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *legacyServer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *legacyServer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if cmd.Name() == "set" && len(args) == 7 && args[6] == "get" {
			h.refused.Add(1)
			err := fakeRedisError("ERR syntax error")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// TestSeenLegacyServer: a server that refuses NX with GET gets SET NX,
// OnError hears it once, and replays are still caught.
func TestSeenLegacyServer(t *testing.T) {
	srv := shared.Get(t)
	c := srv.Client(t)
	h := &legacyServer{}
	c.AddHook(h)
	var notes []error
	var mu sync.Mutex
	s := newStore(t, c, redisstore.Options{Prefix: "legacy:", Timeout: patientTimeout, OnError: func(err error) {
		mu.Lock()
		notes = append(notes, err)
		mu.Unlock()
	}})
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		k := randomKey(t)
		if seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute)); seen || err != nil {
			t.Fatalf("first check: Seen = %v, %v", seen, err)
		}
		if seen, err := s.Seen(ctx, k, time.Now().Add(time.Minute)); !seen || err != nil {
			t.Fatalf("second check: Seen = %v, %v; want a replay", seen, err)
		}
	}
	if h.refused.Load() != 1 {
		t.Errorf("SET NX GET sent %d times; want once, then SET NX", h.refused.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 1 || !errors.Is(notes[0], redisstore.ErrLegacyServer) || !strings.Contains(notes[0].Error(), "7.0") {
		t.Errorf("OnError heard %v; want ErrLegacyServer once", notes)
	}
}
