package atproto

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/dpopkit/dpop/internal/syntax"
)

// MaxDIDDocumentSize caps a DID document (and a PLC directory answer).
// Real documents are around a kilobyte.
const MaxDIDDocumentSize = 64 << 10

// DIDDocument is the part of a DID document (W3C DID Core) the AT Protocol
// uses: the DID, its handles and its services.
type DIDDocument struct {
	ID          string    `json:"id"`
	AlsoKnownAs []string  `json:"alsoKnownAs,omitempty"`
	Service     []Service `json:"service,omitempty"`
}

// Service is one service entry of a DID document.
type Service struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// ServiceEndpoint is the endpoint when it is a string; maps and
	// lists, which DID Core allows, are left empty.
	ServiceEndpoint string `json:"-"`
}

// UnmarshalJSON reads a service entry, keeping serviceEndpoint only when
// it is a string.
func (s *Service) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID       string          `json:"id"`
		Type     json.RawMessage `json:"type"`
		Endpoint json.RawMessage `json:"serviceEndpoint"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.ID = raw.ID
	_ = json.Unmarshal(raw.Type, &s.Type) // a list of types is not ours
	_ = json.Unmarshal(raw.Endpoint, &s.ServiceEndpoint)
	return nil
}

// ParseDIDDocument reads a DID document and checks that it is the
// document of did: its id must be did exactly.
func ParseDIDDocument(data []byte, did string) (*DIDDocument, error) {
	if len(data) > MaxDIDDocumentSize {
		return nil, newErr(ErrDIDDocument, "parse DID document", fmt.Sprintf("at most %d bytes", MaxDIDDocumentSize), fmt.Sprintf("%d bytes", len(data)), nil)
	}
	var d DIDDocument
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, newErr(ErrDIDDocument, "parse DID document", "a JSON object", "malformed JSON", err)
	}
	if d.ID != did {
		return nil, newErr(ErrDIDDocument, "parse DID document", "id "+did, "id "+quoteShort(d.ID), nil)
	}
	return &d, nil
}

// PDS returns the URL of the account's PDS: the serviceEndpoint of the
// service whose id is "#atproto_pds" (or the DID followed by it) and whose
// type is AtprotoPersonalDataServer. The URL must be https (http only on
// a loopback host), with no path beyond "/", query, fragment or user
// information; it is returned without a trailing slash.
func (d *DIDDocument) PDS() (string, error) {
	for _, s := range d.Service {
		if s.ID != "#atproto_pds" && s.ID != d.ID+"#atproto_pds" {
			continue
		}
		if s.Type != "AtprotoPersonalDataServer" {
			return "", newErr(ErrNoPDS, "find PDS", "type AtprotoPersonalDataServer", "type "+quoteShort(s.Type), nil)
		}
		u, err := originURL(s.ServiceEndpoint)
		if err != nil {
			return "", newErr(ErrNoPDS, "find PDS", "an https origin as serviceEndpoint", quoteShort(s.ServiceEndpoint), err)
		}
		return u, nil
	}
	return "", newErr(ErrNoPDS, "find PDS", "a service #atproto_pds", fmt.Sprintf("%d other services", len(d.Service)), nil)
}

// Handle returns the first handle the document claims (an
// at://<handle> entry of alsoKnownAs), or "". A handle is the account's
// only when it also resolves to the DID ([Resolver.ResolveHandle]).
func (d *DIDDocument) Handle() string {
	for _, a := range d.AlsoKnownAs {
		if h, ok := strings.CutPrefix(a, "at://"); ok && ValidHandle(h) {
			return strings.ToLower(h)
		}
	}
	return ""
}

// originURL checks that s is an http(s) origin (an optional "/" path
// allowed) and returns it without the trailing slash.
func originURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return "", fmt.Errorf("not an origin")
	}
	if !syntax.IsSecureURL(u) {
		return "", fmt.Errorf("not https")
	}
	return u.Scheme + "://" + u.Host, nil
}

// ValidDID reports whether s is a DID of a method the AT Protocol uses,
// in its syntax: did:plc: followed by 24 base32 characters, or did:web:
// followed by a host name (with a %3A-encoded port only for localhost).
func ValidDID(s string) bool {
	if len(s) > 2048 {
		return false
	}
	if id, ok := strings.CutPrefix(s, "did:plc:"); ok {
		if len(id) != 24 {
			return false
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
				return false
			}
		}
		return true
	}
	if host, ok := strings.CutPrefix(s, "did:web:"); ok {
		_, err := webDIDHost(host)
		return err == nil
	}
	return false
}

// webDIDHost returns the host (with port) a did:web names.
func webDIDHost(id string) (string, error) {
	host, port, hasPort := strings.Cut(id, "%3A")
	if !ValidHandle(host) && host != "localhost" {
		return "", fmt.Errorf("not a host name")
	}
	if hasPort {
		if host != "localhost" || port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", fmt.Errorf("a port is allowed for localhost only")
		}
		return host + ":" + port, nil
	}
	return host, nil
}

// ValidHandle reports whether s has the syntax of an AT Protocol handle:
// a DNS name of at least two labels, each 1 to 63 of [A-Za-z0-9-] not
// starting or ending with '-', at most 253 characters, the last label not
// starting with a digit.
func ValidHandle(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return !(last[0] >= '0' && last[0] <= '9')
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…", s[:64])
	}
	return fmt.Sprintf("%q", s)
}
