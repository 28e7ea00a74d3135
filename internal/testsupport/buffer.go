package testsupport

import (
	"bytes"
	"sync"
)

// maxBuffered bounds a LockedBuffer: a runaway log keeps its start only.
const maxBuffered = 1 << 20

// LockedBuffer collects output written from several goroutines, such as a
// child process's standard error or a server's log. It keeps the first MiB
// and discards the rest.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p while the buffer holds less than a MiB; it never fails.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > maxBuffered {
		return len(p), nil
	}
	return l.b.Write(p)
}

// String returns what was written.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
