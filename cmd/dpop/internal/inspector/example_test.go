package inspector_test

import (
	"bytes"
	"fmt"

	"github.com/dpopkit/dpop/cmd/dpop/internal/inspector"
	"github.com/dpopkit/dpop/dpoptest"
)

// A Recorder goes into dpoptest's options; its Handler serves the live
// page, and WriteHTML writes what it recorded as one file.
func ExampleRecorder() {
	rec := inspector.NewRecorder()
	srv := dpoptest.NewServer(dpoptest.Options{Observe: rec.Observe, Logger: rec.Logger()})
	defer srv.Close()
	// ... run a client against srv; serve rec.Handler(...) on loopback ...
	var page bytes.Buffer
	if err := inspector.WriteHTML(&page, "dpop", inspector.Servers{Issuer: srv.URL()}, rec.Entries(0)); err != nil {
		panic(err)
	}
	fmt.Println(len(rec.Entries(0)), bytes.Contains(page.Bytes(), []byte(`"mode":"static"`)))
	// Output: 0 true
}
