package dpoptest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// MaxObservedBody caps the request and response bodies kept in an Exchange.
const MaxObservedBody = 64 << 10

// maxRequestBody caps the request bodies either server reads.
const maxRequestBody = 1 << 20

// Exchange is one HTTP request handled by a dpoptest server and its
// response.
type Exchange struct {
	Server         string // "as" or "rs"
	Method, URL    string // URL is absolute
	RequestHeader  http.Header
	RequestBody    []byte // capped at 64 KiB
	Status         int
	ResponseHeader http.Header
	ResponseBody   []byte // capped at 64 KiB
}

// bufferedWriter holds a whole response until the handler returns, so
// that Observe sees the exchange before the client does.
type bufferedWriter struct {
	header      http.Header
	sent        http.Header // header as of WriteHeader
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.wroteHeader {
		return
	}
	if status >= 100 && status < 200 {
		return // informational responses are not relayed
	}
	b.wroteHeader = true
	b.status = status
	b.sent = b.header.Clone()
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if !b.wroteHeader {
		b.WriteHeader(http.StatusOK)
	}
	return b.body.Write(p)
}

func capBody(b []byte) []byte {
	if len(b) > MaxObservedBody {
		b = b[:MaxObservedBody]
	}
	return bytes.Clone(b)
}

// wrap adds to a server's handler what both servers share: the request
// body limit, CORS for browser clients (exposing DPoP-Nonce, RFC 9449 §8)
// and the Observe hook.
func (s *Server) wrap(name, base string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		status := 0
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				status = http.StatusRequestEntityTooLarge
			} else {
				status = http.StatusBadRequest
			}
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))

		bw := &bufferedWriter{header: http.Header{}}
		if status != 0 {
			http.Error(bw, http.StatusText(status), status)
		} else if !cors(bw, r) {
			next.ServeHTTP(bw, r)
		}
		if !bw.wroteHeader {
			bw.WriteHeader(http.StatusOK)
		}

		if s.opts.Observe != nil {
			ex := Exchange{
				Server:         name,
				Method:         r.Method,
				URL:            base + r.URL.RequestURI(),
				RequestHeader:  r.Header.Clone(),
				RequestBody:    capBody(body),
				Status:         bw.status,
				ResponseHeader: bw.sent.Clone(),
				ResponseBody:   capBody(bw.body.Bytes()),
			}
			s.observeMu.Lock()
			s.opts.Observe(ex)
			s.observeMu.Unlock()
		}

		h := w.Header()
		for k, v := range bw.sent {
			h[k] = v
		}
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
	})
}

// cors adds the CORS response headers a browser client needs to read
// DPoP-Nonce and WWW-Authenticate, and answers preflight requests. It
// reports whether it answered the request.
func cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, DPoP, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
