package syntax

import (
	"net/netip"
	"net/url"
)

// IsLoopbackHost reports whether host (as url.URL.Hostname returns it,
// without brackets or port) names the loopback interface: an IPv4 address
// in 127.0.0.0/8, the IPv6 address ::1, or "localhost" in any letter case
// (RFC 6761 §6.3). Other names that may resolve to loopback (such as
// "foo.localhost" or "localhost."), IPv4-mapped IPv6 addresses and zoned
// addresses are not: the rule must hold without asking a resolver.
func IsLoopbackHost(host string) bool {
	if EqualFoldASCII(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" || ip.Is4In6() {
		return false
	}
	return ip.IsLoopback()
}

// IsSecureURL reports whether u may carry credentials or DPoP proofs: its
// scheme is https, or http with a loopback host ([IsLoopbackHost]), as
// RFC 8252 §7.3 and §8.3 allow for native apps and tests. The scheme is
// compared without regard to case (RFC 3986 §3.1).
func IsSecureURL(u *url.URL) bool {
	if u == nil || u.Host == "" {
		return false
	}
	switch {
	case EqualFoldASCII(u.Scheme, "https"):
		return true
	case EqualFoldASCII(u.Scheme, "http"):
		return IsLoopbackHost(u.Hostname())
	}
	return false
}

// EqualFoldASCII reports whether a and b are equal ignoring the case of
// ASCII letters only (RFC 9110 §2.5's case-insensitive comparison of
// protocol elements). Unlike strings.EqualFold, no Unicode case folding
// applies: "ſ" (U+017F) does not equal "s", and the cost is linear.
func EqualFoldASCII[T ~string | ~[]byte](a, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}
