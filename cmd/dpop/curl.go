package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"golang.org/x/oauth2"
)

var curlUsage = usage{
	name:     "curl",
	synopsis: "dpop curl [-session FILE] [-X METHOD] [-H 'Name: value']... [-d DATA] [-v] [-i] [-f] [-ca-file FILE] URL",
	about: `Call a resource with the DPoP-bound token of a session saved by "dpop token":
the request carries "Authorization: DPoP <token>" and a new proof signed with
the session's key, with ath (RFC 9449 §7). When the resource demands a nonce
(401 use_dpop_nonce), the request is sent once more with it. An expired
token is refreshed first with the same key, and the session file is updated
with the new token and the latest nonces.

The response body goes to standard output, as with curl. -i writes the status
line and the response header fields before it; -v shows each exchange on
standard error, with the proof decoded and the response header fields.

-d sends DATA as the body (POST unless -X says otherwise, Content-Type
application/x-www-form-urlencoded unless -H sets one); -d @FILE sends the
file, -d @- standard input.

A status outside 2xx is reported on standard error with the error and
error_description of the server's challenge (or JSON body), and the exit
status is 1; with -f the body is not written and the exit status is 22, as
with curl -f. A token refused as invalid_token means the session is no
longer valid: the message says how to get a new one. The exit status is 1
when the request cannot be sent.`,
	examples: `  dpop token http://127.0.0.1:8080 -client-id public-client -no-browser -session s.json
  dpop curl -session s.json http://127.0.0.1:41235/resource
  DPOP_SESSION=s.json dpop curl -v -X POST -H 'Content-Type: application/json' \
      -d '{"hello":"world"}' http://127.0.0.1:41235/resource
  dpop curl -session s.json -f -i https://api.example.com/me`,
}

// headerList is a repeatable -H flag.
type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(s string) error {
	name, _, ok := strings.Cut(s, ":")
	if !ok || !dpop.IsToken(strings.TrimSpace(name)) {
		return fmt.Errorf("want 'Name: value', got %s", quote(s))
	}
	*h = append(*h, s)
	return nil
}

// recordingSource remembers the last token its source returned.
type recordingSource struct {
	src  oauth2.TokenSource
	mu   sync.Mutex
	last *oauth2.Token
}

func (r *recordingSource) Token() (*oauth2.Token, error) {
	tok, err := r.src.Token()
	if err == nil {
		r.mu.Lock()
		r.last = tok
		r.mu.Unlock()
	}
	return tok, err
}

func runCurl(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	u := &curlUsage
	fs := newFlagSet(u.name, stderr)
	sessionFile := fs.String("session", os.Getenv("DPOP_SESSION"), "session `file` written by dpop token (default $DPOP_SESSION)")
	method := fs.String("X", "", "request `method` (default GET, or POST with -d)")
	var headers headerList
	fs.Var(&headers, "H", "request header `'Name: value'`, repeatable")
	data := fs.String("d", "", "request body `DATA`; @FILE reads a file, @- standard input")
	verbose := fs.Bool("v", false, "show the exchanges on standard error")
	include := fs.Bool("i", false, "write the status line and response header fields to standard output")
	failOnError := fs.Bool("f", false, "fail silently on a status outside 2xx: no body, exit status 22 (as curl -f)")
	caFile := fs.String("ca-file", "", "PEM `file` of the CA certificates to trust (a private CA), besides the system's")
	timeout := fs.Duration("timeout", time.Minute, "time limit for the whole call")
	positional, code, ok := parseArgs(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	dataSet := false
	fs.Visit(func(f *flag.Flag) { dataSet = dataSet || f.Name == "d" })
	switch {
	case len(positional) == 0:
		return usageError(stderr, u, "the URL is required")
	case len(positional) > 1:
		return usageError(stderr, u, "unexpected argument %s", quote(positional[1]))
	case *sessionFile == "":
		return usageError(stderr, u, "-session is required (or set DPOP_SESSION)")
	case *method != "" && !dpop.IsToken(*method):
		return usageError(stderr, u, "-X is not an HTTP method token")
	case *timeout <= 0:
		return usageError(stderr, u, "-timeout must be positive")
	}
	target := positional[0]
	if tu, err := url.Parse(target); err != nil || (tu.Scheme != "https" && tu.Scheme != "http") || tu.Host == "" {
		return usageError(stderr, u, "the URL %s is not an absolute http or https URL", quote(target))
	}
	if *method == "" {
		*method = http.MethodGet
		if dataSet {
			*method = http.MethodPost
		}
	}
	var body []byte
	if dataSet {
		if name, ok := strings.CutPrefix(*data, "@"); ok {
			var err error
			if name == "-" {
				body, err = io.ReadAll(stdin)
			} else {
				body, err = os.ReadFile(name)
			}
			if err != nil {
				return failf(stderr, u.name, "reading the body: %v", err)
			}
		} else {
			body = []byte(*data)
		}
	}

	transport, err := baseTransport(*caFile)
	if err != nil {
		return failf(stderr, u.name, "-ca-file: %v", err)
	}
	s, sc, err := loadSession(*sessionFile, stderr, u.name)
	if err != nil {
		return failf(stderr, u.name, "reading the session: %v", err)
	}
	ctx, cancel := commandContext(ctx, *timeout)
	defer cancel()

	log := io.Discard
	if *verbose {
		log = &syncWriter{w: stderr}
	}
	nonces := &client.MemoryNonceCache{}
	nonces.Load(s.Nonces)
	logRT := &logTransport{base: transport, observe: func(x *exchange) { printExchange(log, "", x) }}
	var base http.RoundTripper = logRT
	if sc != nil && len(sc.ClientKey) > 0 {
		endpoints := []string{sc.TokenEndpoint, sc.PAREndpoint}
		if base, err = newClientAuth(logRT, sc.ClientID, sc.TokenEndpoint, endpoints, sc.ClientKey); err != nil {
			return failf(stderr, u.name, "session %s: %v", *sessionFile, err)
		}
	}
	if sc != nil && sc.Resource != "" {
		base = &resourceTransport{base: base, resource: sc.Resource, tokenEndpoint: sc.TokenEndpoint}
	}
	tr := &client.Transport{Key: s.Key, Base: base, Nonces: nonces}
	pctx := client.NewContext(ctx, tr)

	var src oauth2.TokenSource = oauth2.StaticTokenSource(s.Token)
	if sc != nil && sc.TokenEndpoint != "" && s.Token.RefreshToken != "" {
		cfg := &oauth2.Config{ClientID: sc.ClientID, ClientSecret: sc.ClientSecret, Endpoint: oauth2.Endpoint{TokenURL: sc.TokenEndpoint}}
		if sc.ClientSecret == "" {
			cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams // a public client
		}
		src = cfg.TokenSource(pctx, s.Token)
		if !s.Token.Valid() {
			fmt.Fprintf(log, "* the access token has expired; refreshing it at %s with the session's key\n", sc.TokenEndpoint)
		}
	} else if !s.Token.Valid() {
		fmt.Fprintln(stderr, "dpop curl: warning: the access token has expired and the session cannot refresh it")
	}
	rec := &recordingSource{src: src}
	binding := client.RequireDPoP
	if strings.EqualFold(s.Token.TokenType, "Bearer") {
		binding = client.AllowBearer
	}
	hc := oauth2.NewClient(pctx, client.TokenSource(rec, binding))

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, *method, target, rd)
	if err != nil {
		return failf(stderr, u.name, "%v", err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	saveBack := func() int {
		tok := s.Token
		rec.mu.Lock()
		if rec.last != nil {
			tok = rec.last
		}
		rec.mu.Unlock()
		snap := nonces.Snapshot()
		if tok.AccessToken == s.Token.AccessToken && maps.Equal(snap, s.Nonces) {
			return exitOK
		}
		if tok.RefreshToken == "" {
			tok.RefreshToken = s.Token.RefreshToken
		}
		ns := &client.Session{Token: tok, Key: s.Key, KeyRef: s.KeyRef, Nonces: snap}
		if err := saveSession(*sessionFile, ns, sc); err != nil {
			return failf(stderr, u.name, "updating the session: %s", err)
		}
		if tok.AccessToken != s.Token.AccessToken {
			fmt.Fprintf(log, "* session %s updated with the refreshed token\n", *sessionFile)
		}
		return exitOK
	}
	if err != nil {
		saveBack()
		return failf(stderr, u.name, "%s", tokenErrText(err))
	}
	defer resp.Body.Close()
	if *verbose {
		var b strings.Builder
		for _, name := range slices.Sorted(maps.Keys(resp.Header)) {
			for _, v := range resp.Header[name] {
				fmt.Fprintf(&b, "< %s: %s\n", name, v)
			}
		}
		fmt.Fprint(log, b.String())
	}
	if *include {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s\r\n", resp.Proto, resp.Status)
		_ = resp.Header.Write(&b)
		b.WriteString("\r\n")
		if _, err := stdout.Write(b.Bytes()); err != nil {
			return failf(stderr, u.name, "writing the response: %v", err)
		}
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	var respBody []byte
	if !ok2xx {
		// Kept for the error of a JSON body.
		respBody, _ = io.ReadAll(io.LimitReader(resp.Body, maxLogBody))
	}
	if ok2xx || !*failOnError {
		if err := copyBody(stdout, io.MultiReader(bytes.NewReader(respBody), resp.Body), resp.Header); err != nil {
			return failf(stderr, u.name, "reading the response: %v", err)
		}
	}
	if code := saveBack(); code != exitOK {
		return code
	}
	if ok2xx {
		return exitOK
	}
	reportStatus(stderr, resp, respBody, *sessionFile, sc)
	if *failOnError {
		return exitHTTP
	}
	return exitFail
}

// exitHTTP is the exit status of curl -f for a status outside 2xx.
const exitHTTP = 22

// copyBody writes a response body to w, ending a text body with a newline
// so that the shell prompt starts on a line of its own.
func copyBody(w io.Writer, body io.Reader, h http.Header) error {
	var last [1]byte
	tw := &lastByteWriter{w: w, last: last[:]}
	n, err := io.Copy(tw, body)
	if err != nil {
		return err
	}
	mt := mediaType(h)
	text := strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == ""
	if n > 0 && text && last[0] != '\n' {
		_, err = io.WriteString(w, "\n")
	}
	return err
}

// lastByteWriter remembers the last byte written through it.
type lastByteWriter struct {
	w    io.Writer
	last []byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.last[0] = p[n-1]
	}
	return n, err
}

// reportStatus explains a response outside 2xx on stderr: the status, the
// OAuth error of the challenge or of the JSON body, and what to do when
// the session's token is no longer accepted.
func reportStatus(stderr io.Writer, resp *http.Response, body []byte, sessionFile string, sc *sessionClient) {
	code, desc := "", ""
	for _, c := range client.ChallengesFromHeader(resp.Header) {
		if e := c.Param("error"); e != "" {
			code, desc = e, c.Param("error_description")
			break
		}
	}
	if code == "" {
		var j struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &j) == nil {
			code, desc = j.Error, j.Description
		}
	}
	msg := "dpop curl: the server answered " + resp.Status
	if code != "" {
		msg += ": " + code
		if desc != "" {
			msg += ": " + desc
		}
	}
	fmt.Fprintln(stderr, msg)
	if code == dpop.CodeInvalidToken {
		how := "dpop token ISSUER -client-id ID -session " + sessionFile
		if sc != nil && sc.Issuer != "" {
			how = fmt.Sprintf("dpop token %s -client-id %s -session %s", sc.Issuer, sc.ClientID, sessionFile)
		}
		fmt.Fprintf(stderr, "dpop curl: the session %s is no longer valid (its token was refused); get a new one:\n  %s\n", sessionFile, how)
	}
}
