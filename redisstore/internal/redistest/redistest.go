// Package redistest starts throwaway redis-server processes on loopback for
// the tests of redisstore and its example.
//
// A server listens on 127.0.0.1 only, on a free port, persists nothing
// (no RDB, no AOF), keeps its working files in a temporary directory, and
// is stopped by its process id. Without a redis-server binary in PATH the
// tests that need one are skipped, unless DPOP_REQUIRE_DEPS=1, which makes
// them fail (the rule of internal/testsupport).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// startTimeout bounds the wait for a new server to answer PING.
const startTimeout = 10 * time.Second

// Binary returns the path of redis-server, or "" when it is not in PATH.
func Binary() string {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return p
}

// missing skips or fails t for want of a redis-server binary.
func missing(t testing.TB) {
	t.Helper()
	testsupport.Missing(t, "redis-server not found in PATH", "Debian: apt-get install redis-server")
}

// Server is one redis-server process.
type Server struct {
	// Addr is "127.0.0.1:port"; it stays the same across Restart.
	Addr string

	bin    string
	dir    string
	args   func(port, dir string) []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
	out    *testsupport.LockedBuffer
}

// Start starts a server for t, stopped in t.Cleanup. Without a binary it
// skips t, or fails it when testsupport.Required.
func Start(t testing.TB) *Server {
	t.Helper()
	return startFor(t, t.TempDir(), plainArgs)
}

// startFor starts a process with args in dir for t, stopped in t.Cleanup;
// without a binary it skips t, or fails it when testsupport.Required.
func startFor(t testing.TB, dir string, args func(port, dir string) []string) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		missing(t)
	}
	s, err := start(bin, dir, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// waitUntil asks done every 20 ms until it reports true, for at most
// startTimeout, and then fails t saying what it waited for and what done
// last answered.
func waitUntil(t testing.TB, what string, done func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		ok, last := done(ctx)
		if ok {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: not within %v (last answer: %s)", what, startTimeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// plainArgs are the arguments of a server that persists nothing.
func plainArgs(port, dir string) []string {
	return []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes",
		// A replica's first sync starts at once, not after 5 s.
		"--repl-diskless-sync-delay", "0"}
}

// StartCluster starts a one-node Redis Cluster that owns every hash slot,
// stopped in t.Cleanup, and waits until the cluster is ready.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	s := startFor(t, t.TempDir(), func(port, dir string) []string {
		return append(plainArgs(port, dir), "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+port+".conf")
	})
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	waitUntil(t, "cluster on "+s.Addr+" ready", func(ctx context.Context) (bool, string) {
		info, err := c.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok"), fmt.Sprintf("%v %q", err, info)
	})
	return s
}

// StartReplica starts a server that replicates the primary at addr (a
// server, or a proxy in front of one), stopped in t.Cleanup, and waits
// until its link to the primary is up.
func StartReplica(t testing.TB, addr string) *Server {
	t.Helper()
	host, pport, _ := net.SplitHostPort(addr)
	s := startFor(t, t.TempDir(), func(port, dir string) []string {
		return append(plainArgs(port, dir), "--replicaof", host, pport)
	})
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	waitUntil(t, "replica on "+s.Addr+" linked to "+addr, func(ctx context.Context) (bool, string) {
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up"), fmt.Sprint(err)
	})
	return s
}

// WaitReplicas waits until the server, a primary, counts n replicas whose
// initial sync is done (state=online): only those answer WAIT.
func (s *Server) WaitReplicas(t testing.TB, n int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	waitUntil(t, fmt.Sprintf("primary on %s with %d online replicas", s.Addr, n), func(ctx context.Context) (bool, string) {
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Count(info, ",state=online,") == n, fmt.Sprintf("%v %q", err, info)
	})
}

// StartSentinel starts a Sentinel that monitors master under name,
// stopped in t.Cleanup, and waits until it knows the master.
func StartSentinel(t testing.TB, master *Server, name string) *Server {
	t.Helper()
	return StartSentinelConfig(t, master, name, "")
}

// StartSentinelConfig is StartSentinel with extra lines for the Sentinel's
// configuration file, such as
// "sentinel down-after-milliseconds NAME 300".
func StartSentinelConfig(t testing.TB, master *Server, name, extra string) *Server {
	t.Helper()
	dir := t.TempDir()
	host, mport, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(dir, "sentinel.conf")
	// Sentinel rewrites its configuration file, so it must be writable.
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\n%s\n", name, host, mport, extra)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startFor(t, dir, func(port, dir string) []string {
		return []string{conf, "--sentinel", "--port", port, "--bind", "127.0.0.1", "--dir", dir}
	})
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	waitUntil(t, "sentinel on "+s.Addr+" knows "+name, func(ctx context.Context) (bool, string) {
		addr, err := c.GetMasterAddrByName(ctx, name).Result()
		return err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == master.Addr, fmt.Sprint(addr, err)
	})
	return s
}

// Shared is a server for a whole test binary, made in TestMain.
type Shared struct {
	srv *Server
	err error
	dir string
}

// StartShared starts a server for the tests of a package. Call it from
// TestMain and call Close after m.Run. When there is no binary, it records
// that, and Get skips or fails each test that asks for the server.
func StartShared() *Shared {
	bin := Binary()
	if bin == "" {
		return &Shared{}
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return &Shared{err: err}
	}
	s, err := start(bin, dir, plainArgs)
	return &Shared{srv: s, err: err, dir: dir}
}

// Get returns the shared server, or skips or fails t when there is none.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	if sh.err != nil {
		t.Fatalf("shared redis-server: %v", sh.err)
	}
	if sh.srv == nil {
		missing(t)
	}
	return sh.srv
}

// Close stops the shared server and removes its directory.
func (sh *Shared) Close() {
	if sh.srv != nil {
		sh.srv.Stop()
	}
	if sh.dir != "" {
		_ = os.RemoveAll(sh.dir)
	}
}

func start(bin, dir string, args func(port, dir string) []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, args: args}
	if err := s.launch(); err != nil {
		return nil, err
	}
	return s, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before redis-server binds it; launch then fails and says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the process on s.Addr and waits until it answers PING.
func (s *Server) launch() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, s.args(port, s.dir)...)
	cmd.Dir = s.dir
	out := &testsupport.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("redis-server on %s exited (%v): %s", s.Addr, werr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer within %v: %v", s.Addr, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The goroutine above owns Wait; Stop waits for it through exited.
	s.mu.Lock()
	s.cmd, s.exited, s.out = cmd, exited, out
	s.mu.Unlock()
	return nil
}

// Output returns what the running (or last) process has printed: its log.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Stop kills the process by its id and waits for it to exit. It does nothing
// when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same address, empty. It is meant
// to follow Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	// The port was just released; retry briefly in case it lingers.
	for range 20 {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(err)
}

// Pid returns the process id of the running server, or 0.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Client returns a client of the server, closed in t.Cleanup, configured as
// redisstore requires (ContextTimeoutEnabled) and without retries so that a
// test sees every failure.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Options returns client options for the server.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Addr:                  s.Addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		MaxRetries:            -1,
		// A pool large enough for the concurrent tests.
		PoolSize: 64,
	}
}

// FlushAll empties the server.
func (s *Server) FlushAll(t testing.TB) {
	t.Helper()
	c := redis.NewClient(s.Options())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

var errNotRunning = errors.New("redis-server is not running")

// Signal sends sig to the running server (for tests that pause it).
func (s *Server) Signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errNotRunning
	}
	return s.cmd.Process.Signal(sig)
}
