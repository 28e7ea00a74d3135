package resource

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxFormPeek is how much of an application/x-www-form-urlencoded request
// body the middleware examines for an access_token parameter (RFC 6750
// §2.2), in bytes. See [Middleware.Authenticate].
const MaxFormPeek = 8 << 10

// accessTokenParam is the parameter of the query and form-body methods
// (RFC 6750 §2.2, §2.3).
const accessTokenParam = "access_token"

// hasTokenParam reports whether the form-urlencoded text q names an
// access_token parameter, with or without a value, however its name is
// percent-encoded (access%5Ftoken, %61ccess_token). Pairs are split on '&'
// and, since some servers and frameworks split on it too, on ';'.
func hasTokenParam(q string) bool {
	if !strings.Contains(q, accessTokenParam) && !strings.Contains(q, "%") {
		return false
	}
	for q != "" {
		var pair string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		name, _, _ := strings.Cut(pair, "=")
		if strings.Contains(name, "%") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		if name == accessTokenParam {
			return true
		}
	}
	return false
}

// formBodyToken reports whether r has an application/x-www-form-urlencoded
// body naming access_token (RFC 6750 §2.2). A form the application has
// already parsed (r.PostForm) is looked up. Otherwise at most MaxFormPeek
// bytes of the body are read and put back in front of the rest, so the
// handler reads the whole body as sent; a parameter further on is not seen.
func formBodyToken(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	if r.PostForm != nil {
		return r.PostForm.Has(accessTokenParam)
	}
	buf := make([]byte, MaxFormPeek)
	n, err := io.ReadFull(r.Body, buf)
	buf = buf[:n]
	r.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), closer: r.Body}
	text := string(buf)
	if err == nil {
		// The body goes on, so the last pair may be cut: its name counts
		// only when the '=' after it was read.
		last := text[strings.LastIndexAny(text, "&;")+1:]
		if !strings.Contains(last, "=") {
			text = text[:len(text)-len(last)]
		}
	}
	return hasTokenParam(text)
}

// peekedBody is a request body whose first bytes were read and are served
// again.
type peekedBody struct {
	io.Reader
	closer io.Closer
}

func (b *peekedBody) Close() error { return b.closer.Close() }
