package atproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dpopkit/dpop/client"
	"github.com/dpopkit/dpop/internal/syntax"
	"golang.org/x/oauth2"
)

// DefaultPLCURL is the PLC directory the AT Protocol network uses.
const DefaultPLCURL = "https://plc.directory"

// DefaultFetchTimeout bounds each fetch of the resolver.
const DefaultFetchTimeout = 10 * time.Second

// Size caps of the documents the resolver reads.
const (
	maxHandleDIDSize = 2 << 10  // /.well-known/atproto-did: one DID
	maxMetadataSize  = 64 << 10 // RFC 8414 and RFC 9728 documents
)

// Resolver resolves AT Protocol identities and their servers. The zero
// value uses the system's DNS, an HTTP client of its own (no redirects,
// DefaultFetchTimeout per fetch) and the public PLC directory. Its fields
// must not change once it is in use; it is safe for concurrent use.
type Resolver struct {
	// LookupTXT looks up TXT records; nil means
	// net.DefaultResolver.LookupTXT.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// HTTPClient fetches /.well-known/atproto-did, DID documents and the
	// servers' metadata. nil means a client over http.DefaultTransport.
	// Whatever client is given, redirects are refused: an identity
	// answer must come from the host it names.
	HTTPClient *http.Client
	// PLCURL is the PLC directory that resolves did:plc; empty means
	// DefaultPLCURL. An http URL is allowed on a loopback host (tests).
	PLCURL string
	// Timeout bounds each fetch; zero means DefaultFetchTimeout.
	Timeout time.Duration
}

// Identity is a resolved account.
type Identity struct {
	DID string
	// Handle is the handle the login started from, or the document's
	// first handle; "" when there is none. It is verified only when the
	// login started from it.
	Handle   string
	PDS      string
	Document *DIDDocument
}

func (r *Resolver) timeout() time.Duration {
	if r != nil && r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultFetchTimeout
}

// errNoResourceMetadata marks a server without usable RFC 9728 metadata:
// a login started from its URL then tries it as an authorization server.
var errNoResourceMetadata = errors.New("no protected resource metadata")

// errRedirect is returned by the resolver's CheckRedirect.
var errRedirect = errors.New("redirect refused")

func (r *Resolver) httpClient() *http.Client {
	var hc http.Client
	if r != nil && r.HTTPClient != nil {
		hc = *r.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	return &hc
}

// fetch GETs u and returns its body, refusing any status but 200, any
// redirect, and a body larger than limit.
func (r *Resolver) fetch(ctx context.Context, op, u, accept string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, newErr(ErrFetch, op, "a fetchable URL", quoteShort(u), err)
	}
	req.Header.Set("Accept", accept)
	resp, err := r.httpClient().Do(req)
	if err != nil {
		if errors.Is(err, errRedirect) {
			return nil, newErr(ErrFetch, op, "HTTP 200 from "+u, "a redirect", nil)
		}
		return nil, newErr(ErrFetch, op, "an answer from "+u, "none", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, newErr(ErrFetch, op, "HTTP 200 from "+u, fmt.Sprintf("HTTP %d", resp.StatusCode), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, newErr(ErrFetch, op, "a whole body from "+u, "a broken one", err)
	}
	if int64(len(body)) > limit {
		return nil, newErr(ErrFetch, op, fmt.Sprintf("at most %d bytes from %s", limit, u), "more", nil)
	}
	return body, nil
}

// ResolveHandle returns the DID a handle names. Both the DNS TXT record
// _atproto.<handle> ("did=<did>") and https://<handle>/.well-known/atproto-did
// are asked; when both answer they must agree, and either answering alone
// is enough. A handle is compared without regard to case.
func (r *Resolver) ResolveHandle(ctx context.Context, handle string) (string, error) {
	handle = strings.ToLower(strings.TrimPrefix(handle, "@"))
	if !ValidHandle(handle) {
		return "", newErr(ErrInvalidHandle, "resolve handle", "a DNS name such as alice.bsky.social", quoteShort(handle), nil)
	}
	type answer struct {
		did string
		err error
	}
	dnsC, httpC := make(chan answer, 1), make(chan answer, 1)
	go func() { d, err := r.handleFromDNS(ctx, handle); dnsC <- answer{d, err} }()
	go func() { d, err := r.handleFromHTTPS(ctx, handle); httpC <- answer{d, err} }()
	dns, web := <-dnsC, <-httpC
	switch {
	case dns.did != "" && web.did != "" && dns.did != web.did:
		return "", newErr(ErrHandleConflict, "resolve handle", "DNS and HTTPS to agree", "DNS "+dns.did+", HTTPS "+web.did, nil)
	case errors.Is(dns.err, ErrHandleConflict):
		return "", dns.err
	case dns.did != "":
		return dns.did, nil
	case web.did != "":
		return web.did, nil
	}
	return "", newErr(ErrHandleNotFound, "resolve handle", "a DID from DNS or HTTPS for "+handle, "none", errors.Join(dns.err, web.err))
}

func (r *Resolver) handleFromDNS(ctx context.Context, handle string) (string, error) {
	lookup := net.DefaultResolver.LookupTXT
	if r != nil && r.LookupTXT != nil {
		lookup = r.LookupTXT
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	records, err := lookup(ctx, "_atproto."+handle)
	if err != nil {
		return "", fmt.Errorf("DNS: %w", err)
	}
	var dids []string
	for _, rec := range records {
		if d, ok := strings.CutPrefix(rec, "did="); ok {
			dids = append(dids, strings.TrimSpace(d))
		}
	}
	switch {
	case len(dids) > 1:
		return "", newErr(ErrHandleConflict, "resolve handle", "one did= TXT record", fmt.Sprintf("%d", len(dids)), nil)
	case len(dids) == 0:
		return "", errors.New("DNS: no did= TXT record")
	case !ValidDID(dids[0]):
		return "", fmt.Errorf("DNS: %w", newErr(ErrInvalidDID, "resolve handle", "a did:plc or did:web", quoteShort(dids[0]), nil))
	}
	return dids[0], nil
}

func (r *Resolver) handleFromHTTPS(ctx context.Context, handle string) (string, error) {
	body, err := r.fetch(ctx, "resolve handle", "https://"+handle+"/.well-known/atproto-did", "text/plain", maxHandleDIDSize)
	if err != nil {
		return "", fmt.Errorf("HTTPS: %w", err)
	}
	did := strings.TrimSpace(string(body))
	if !ValidDID(did) {
		return "", fmt.Errorf("HTTPS: %w", newErr(ErrInvalidDID, "resolve handle", "a did:plc or did:web", quoteShort(did), nil))
	}
	return did, nil
}

// ResolveDID fetches and checks the DID document of did: did:plc from the
// PLC directory (GET <PLCURL>/<did>), did:web from
// https://<host>/.well-known/did.json (http for localhost).
func (r *Resolver) ResolveDID(ctx context.Context, did string) (*DIDDocument, error) {
	if !ValidDID(did) {
		return nil, newErr(ErrInvalidDID, "resolve DID", "a did:plc or did:web", quoteShort(did), nil)
	}
	var u string
	if strings.HasPrefix(did, "did:plc:") {
		plc := DefaultPLCURL
		if r != nil && r.PLCURL != "" {
			plc = strings.TrimSuffix(r.PLCURL, "/")
		}
		u = plc + "/" + did
	} else {
		host, _ := webDIDHost(strings.TrimPrefix(did, "did:web:"))
		scheme := "https"
		if syntax.IsLoopbackHost(strings.Split(host, ":")[0]) {
			scheme = "http"
		}
		u = scheme + "://" + host + "/.well-known/did.json"
	}
	body, err := r.fetch(ctx, "resolve DID", u, "application/did+ld+json, application/json", MaxDIDDocumentSize)
	if err != nil {
		return nil, err
	}
	return ParseDIDDocument(body, did)
}

// Resolve resolves a handle or a DID to the account's identity and PDS.
// Starting from a handle, the DID document must claim the handle back
// (alsoKnownAs at://<handle>); otherwise Identity.Handle is left empty.
func (r *Resolver) Resolve(ctx context.Context, handleOrDID string) (*Identity, error) {
	id := &Identity{}
	if strings.HasPrefix(handleOrDID, "did:") {
		id.DID = handleOrDID
	} else {
		did, err := r.ResolveHandle(ctx, handleOrDID)
		if err != nil {
			return nil, err
		}
		id.DID = did
	}
	doc, err := r.ResolveDID(ctx, id.DID)
	if err != nil {
		return nil, err
	}
	id.Document = doc
	if id.PDS, err = doc.PDS(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(handleOrDID, "did:") {
		h := strings.ToLower(strings.TrimPrefix(handleOrDID, "@"))
		if slices.ContainsFunc(doc.AlsoKnownAs, func(a string) bool { return strings.EqualFold(a, "at://"+h) }) {
			id.Handle = h
		}
	} else {
		id.Handle = doc.Handle()
	}
	return id, nil
}

// AuthorizationServer finds the authorization server of a PDS: the one
// authorization server its RFC 9728 metadata names (whose resource must be
// the PDS URL), then that server's RFC 8414 metadata (whose issuer must be
// the one named). When the metadata lists protected_resources, the PDS
// must be among them. The metadata is not checked against the profile:
// see [CheckProfile].
func (r *Resolver) AuthorizationServer(ctx context.Context, pds string) (*client.Metadata, error) {
	pds, err := originURL(pds)
	if err != nil {
		return nil, newErr(ErrProfile, "discover", "a PDS origin URL", quoteShort(pds), err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*r.timeout())
	defer cancel()
	cctx := context.WithValue(ctx, oauth2.HTTPClient, r.metadataClient())
	rm, err := client.DiscoverResource(cctx, pds)
	if err != nil {
		return nil, newErr(ErrProfile, "discover", "RFC 9728 metadata of "+pds, "an unusable answer", errors.Join(errNoResourceMetadata, err))
	}
	if len(rm.AuthorizationServers) != 1 {
		return nil, newErr(ErrProfile, "discover", "exactly one authorization server in "+pds+"'s metadata", fmt.Sprintf("%d", len(rm.AuthorizationServers)), nil)
	}
	meta, err := r.Metadata(ctx, rm.AuthorizationServers[0])
	if err != nil {
		return nil, err
	}
	if len(meta.ProtectedResources) > 0 && !slices.Contains(meta.ProtectedResources, pds) {
		return nil, newErr(ErrPDSNotListed, "discover", pds+" in protected_resources of "+meta.Issuer, fmt.Sprintf("%q", meta.ProtectedResources), nil)
	}
	return meta, nil
}

// Metadata fetches the RFC 8414 metadata of an authorization server,
// checking its issuer.
func (r *Resolver) Metadata(ctx context.Context, issuer string) (*client.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	meta, err := client.Discover(context.WithValue(ctx, oauth2.HTTPClient, r.metadataClient()), issuer)
	if err != nil {
		return nil, newErr(ErrProfile, "discover", "RFC 8414 metadata of "+issuer, "an unusable answer", err)
	}
	return meta, nil
}

// metadataClient is the resolver's client with a body cap for metadata.
func (r *Resolver) metadataClient() *http.Client {
	hc := r.httpClient()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = capTransport{base: base, limit: maxMetadataSize}
	return hc
}

// capTransport makes a body over limit fail to read.
type capTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.limit}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

var errTooLarge = errors.New("document larger than its size cap")

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if b.left == 0 {
		var one [1]byte
		if m, _ := io.ReadFull(b.rc, one[:]); m > 0 {
			b.left = -1
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// parseServerURL checks a server URL a login may start from.
func parseServerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("not an absolute URL")
	}
	return originURL(s)
}
