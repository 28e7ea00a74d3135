package client

// ExampleServer exposes the strict test server to the examples in package
// client_test.
type ExampleServer struct {
	URL string
	s   *strictServer
}

// StartExampleServer starts a strict loopback authorization server and
// resource server for an example.
func StartExampleServer() (*ExampleServer, func()) {
	s, stop := startExampleServer()
	return &ExampleServer{URL: s.URL(), s: s}, stop
}

// Approve plays the user approving the pushed request requestURI and
// returns the authorization code.
func (e *ExampleServer) Approve(requestURI string) string {
	code, err := e.s.issueCode(requestURI)
	if err != nil {
		panic(err)
	}
	return code
}

// RequireNonce makes the server demand a nonce from the first request.
func (e *ExampleServer) RequireNonce() {
	e.s.mu.Lock()
	e.s.requireNonce = true
	e.s.mu.Unlock()
}
