package inspector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/cmd/dpop/internal/inspect"
	"github.com/dpopkit/dpop/dpoptest"
)

// MaxEntries is how many exchanges a Recorder keeps; older ones are
// dropped.
const MaxEntries = 1000

// Entry is one exchange as the page shows it.
type Entry struct {
	ID     int64  `json:"id"`
	Time   string `json:"time"` // RFC 3339 with milliseconds
	Server string `json:"server"`
	// From is who sent the request: "client", or "rs" for the resource
	// server's own calls to the authorization server (its keys,
	// introspection).
	From   string `json:"from"`
	Method string `json:"method"`
	Path   string `json:"path"`
	URL    string `json:"url"`
	Client string `json:"client,omitempty"`
	Status int    `json:"status"`
	// Verdict is "ok" (2xx or 3xx), "nonce" (use_dpop_nonce: retry with
	// the nonce given), "refused" (another 4xx) or "error" (5xx).
	Verdict     string `json:"verdict"`
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	// Scheme is the Authorization scheme of the request.
	Scheme string `json:"scheme,omitempty"`
	// Proof is the decoded DPoP header; Token the decoded access token
	// (the Authorization credentials, or the token endpoint's answer).
	Proof *inspect.Report `json:"proof,omitempty"`
	Token *inspect.Report `json:"token,omitempty"`
	// NonceSent is the proof's nonce, NonceGiven the DPoP-Nonce of the
	// response.
	NonceSent  string `json:"nonce_sent,omitempty"`
	NonceGiven string `json:"nonce_given,omitempty"`
	// Failure is the evidence of a refusal.
	Failure *Failure `json:"failure,omitempty"`
	// Params are the request's form or query parameters, secrets
	// shortened.
	Params []Param `json:"params,omitempty"`
}

// Param is one request parameter.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Failure is why a request was refused: the check that failed and the
// values it compared.
type Failure struct {
	Check       string `json:"check,omitempty"`
	Expected    string `json:"expected,omitempty"`
	Got         string `json:"got,omitempty"`
	Description string `json:"description,omitempty"`
	// Source is "server" (the evidence the server logged) or "re-check"
	// (the inspector's own checks of the proof against the request).
	Source string `json:"source"`
}

// Recorder records exchanges. Its Observe and Logger go into
// dpoptest.Options; its Handler serves the page.
type Recorder struct {
	now func() time.Time

	mu      sync.Mutex
	next    int64
	entries []*Entry
	pending []refusal // evidence logged, not yet matched to an exchange
}

// refusal is the evidence of one refusal record of the servers' logs.
type refusal struct {
	path string
	f    Failure
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{now: time.Now, next: 1}
}

// Entries returns the entries with an ID above after, oldest first.
func (r *Recorder) Entries(after int64) []*Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []*Entry{}
	for _, e := range r.entries {
		if e.ID > after {
			out = append(out, e)
		}
	}
	return out
}

// Logger returns a logger for dpoptest.Options.Logger that keeps the
// evidence of each refusal for the exchange it belongs to.
func (r *Recorder) Logger() *slog.Logger { return slog.New(&evidenceHandler{r: r}) }

// Observe records one exchange; it is dpoptest.Options.Observe.
func (r *Recorder) Observe(x dpoptest.Exchange) { r.Record(x) }

// Record records one exchange and returns its entry, which the caller
// must not modify.
func (r *Recorder) Record(x dpoptest.Exchange) *Entry {
	now := r.now()
	e := &Entry{
		Time:   now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Server: x.Server, Method: x.Method, URL: x.URL, Status: x.Status,
		NonceGiven: x.ResponseHeader.Get("DPoP-Nonce"),
	}
	u, err := url.Parse(x.URL)
	if err == nil {
		e.Path = u.EscapedPath()
	}
	e.From = "client"
	if x.Server == "as" && (e.Path == "/jwks" || e.Path == "/introspect") {
		e.From = "rs"
	}
	e.Error, e.Description = responseError(x)
	switch {
	case x.Status >= 500:
		e.Verdict = "error"
	case e.Error == dpop.CodeUseNonce:
		e.Verdict = "nonce"
	case x.Status >= 400:
		e.Verdict = "refused"
	default:
		e.Verdict = "ok"
	}
	ctx := context.Background()
	opts := inspect.Options{Now: now}
	proof := x.RequestHeader.Get("DPoP")
	if proof != "" {
		if rep, err := inspect.Inspect(ctx, []byte(proof), opts); err == nil {
			e.Proof = rep
			e.NonceSent = claim(rep.Claims, "nonce")
		}
	}
	var accessToken string
	if scheme, cred, ok := strings.Cut(x.RequestHeader.Get("Authorization"), " "); ok {
		e.Scheme = scheme
		if strings.EqualFold(scheme, "Basic") {
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				id, _, _ := strings.Cut(string(b), ":")
				e.Client, _ = url.QueryUnescape(id)
			}
		} else {
			accessToken = strings.TrimSpace(cred)
		}
	}
	form := requestParams(x)
	for _, p := range form {
		if p.Name == "client_id" && e.Client == "" {
			e.Client = p.Value
		}
	}
	e.Params = shorten(form)
	if accessToken == "" && x.Server == "as" && e.Verdict == "ok" {
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(x.ResponseBody, &tr) == nil {
			accessToken = tr.AccessToken
		}
	}
	if accessToken != "" {
		if rep, err := inspect.Inspect(ctx, []byte(accessToken), opts); err == nil {
			e.Token = rep
			if e.Client == "" {
				e.Client = claim(rep.Claims, "client_id")
			}
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Verdict == "refused" || e.Verdict == "nonce" || e.Verdict == "error" {
		e.Failure = r.takeRefusal(e.Path)
		if e.Failure == nil && proof != "" && x.Server == "rs" {
			e.Failure = recheck(ctx, proof, x.Method, x.URL, accessToken, now)
		}
		if e.Failure == nil {
			e.Failure = &Failure{Description: e.Description, Source: "response"}
			// The stateless checks passed: the server's state decided.
			switch d := strings.ToLower(e.Description); {
			case strings.Contains(d, "already used"):
				e.Failure.Check, e.Failure.Expected, e.Failure.Got = "replay", "a jti not seen before", "a jti already used"
			case e.Error == dpop.CodeUseNonce:
				e.Failure.Check, e.Failure.Expected, e.Failure.Got = "nonce", "the server's current nonce", orNone(e.NonceSent)
			}
		}
	}
	e.ID = r.next
	r.next++
	r.entries = append(r.entries, e)
	if len(r.entries) > MaxEntries {
		r.entries = r.entries[len(r.entries)-MaxEntries:]
	}
	return e
}

// takeRefusal returns the evidence logged for path, removing it. Records
// are logged by the handler before Observe sees its exchange.
func (r *Recorder) takeRefusal(path string) *Failure {
	for i := len(r.pending) - 1; i >= 0; i-- {
		if p := r.pending[i].path; p == path || "/"+p == path || p == "nonce" {
			f := r.pending[i].f
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			return &f
		}
	}
	return nil
}

// recheck runs the inspector's own checks of a proof against the request,
// for a refusal of which the server logged no evidence, and returns the
// first check that failed.
func recheck(ctx context.Context, proof, method, rawURL, token string, now time.Time) *Failure {
	rep, err := inspect.Inspect(ctx, []byte(proof), inspect.Options{Now: now, Method: method, URL: rawURL, AccessToken: token})
	if err != nil {
		return nil
	}
	for _, c := range rep.Checks {
		if !c.Passed {
			return &Failure{Check: c.Name, Expected: c.Expected, Got: c.Got, Description: c.Note, Source: "re-check"}
		}
	}
	return nil
}

func claim(fs []inspect.Field, name string) string {
	for _, f := range fs {
		if f.Name == name {
			var s string
			_ = json.Unmarshal(f.Value, &s)
			return s
		}
	}
	return ""
}

// responseError returns the OAuth error of a response: from the
// WWW-Authenticate challenge, a JSON body, or the Location of a redirect.
func responseError(x dpoptest.Exchange) (code, desc string) {
	for _, c := range client.ChallengesFromHeader(x.ResponseHeader) {
		if e := c.Param("error"); e != "" {
			return e, c.Param("error_description")
		}
	}
	var j struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(x.ResponseBody, &j) == nil && j.Error != "" {
		return j.Error, j.Description
	}
	if loc := x.ResponseHeader.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			return u.Query().Get("error"), u.Query().Get("error_description")
		}
	}
	return "", ""
}

// requestParams returns the form body's or the query's parameters.
func requestParams(x dpoptest.Exchange) []Param {
	raw := ""
	if strings.HasPrefix(x.RequestHeader.Get("Content-Type"), "application/x-www-form-urlencoded") {
		raw = string(x.RequestBody)
	} else if u, err := url.Parse(x.URL); err == nil {
		raw = u.RawQuery
	}
	var out []Param
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if name == "" || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Param{Name: name, Value: value})
	}
	return out
}

// secretParams are shown shortened.
var secretParams = map[string]bool{
	"client_secret": true, "code": true, "code_verifier": true, "refresh_token": true,
	"client_assertion": true, "token": true, "state": true,
}

func shorten(ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		switch {
		case p.Name == "client_secret":
			p.Value = "***"
		case secretParams[p.Name] && len(p.Value) > 8:
			p.Value = p.Value[:8] + "…"
		case len(p.Value) > 120:
			p.Value = p.Value[:120] + "…"
		}
		out[i] = p
	}
	return out
}

// evidenceHandler is the slog.Handler of Recorder.Logger.
type evidenceHandler struct {
	r     *Recorder
	attrs []slog.Attr
}

func (h *evidenceHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *evidenceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &evidenceHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *evidenceHandler) WithGroup(string) slog.Handler { return h }

func (h *evidenceHandler) Handle(_ context.Context, rec slog.Record) error {
	var ref refusal
	found := false
	visit := func(a slog.Attr) bool {
		switch a.Key {
		case "endpoint", "path":
			ref.path = a.Value.String()
		case "error":
			v := a.Value.Resolve()
			if v.Kind() != slog.KindGroup {
				ref.f.Description = v.String()
				found = true
				break
			}
			for _, g := range v.Group() {
				s := g.Value.Resolve().String()
				switch g.Key {
				case "check":
					ref.f.Check = s
				case "expected":
					ref.f.Expected = s
				case "got":
					ref.f.Got = s
				case "description":
					ref.f.Description = s
				}
			}
			found = true
		}
		return true
	}
	for _, a := range h.attrs {
		visit(a)
	}
	rec.Attrs(visit)
	if !found {
		return nil
	}
	ref.f.Source = "server"
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.pending = append(h.r.pending, ref)
	if len(h.r.pending) > 64 {
		h.r.pending = h.r.pending[len(h.r.pending)-64:]
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
