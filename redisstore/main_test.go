package redisstore_test

import (
	"os"
	"testing"

	"github.com/dpopkit/dpop/redisstore/internal/redistest"
)

// shared is one redis-server for the tests of this package that do not stop
// or pause it; each test uses keys of its own or flushes first.
var shared *redistest.Shared

func TestMain(m *testing.M) {
	shared = redistest.StartShared()
	code := m.Run()
	shared.Close()
	os.Exit(code)
}
