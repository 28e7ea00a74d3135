// Package syntax holds the small HTTP and OAuth syntax rules that several
// packages of this module apply, so that each is stated once. It uses the
// standard library only.
//
// What lives here, and what lives elsewhere:
//
//   - Here, because they are HTTP's or OAuth's and not DPoP's: the
//     characters of a token, a token68 and an auth-param (RFC 9110 §5.6.2,
//     §11.2, §11.6.1), the characters of an OAuth error code and
//     error_description (RFC 6749 §5.2, RFC 6750 §3) and the one way values
//     outside them are cleaned, the rule that a URL a party sends secrets
//     to is https, or http only on a loopback host (RFC 8252 §7.3, §8.3),
//     ASCII case-insensitive comparison (RFC 9110 §2.5), and the value of a
//     base64url character and the rule that an unpadded base64url text is
//     the one encoding of its bytes (RFC 4648 §3.5, §5; RFC 7515 §2), used by
//     the core's thumbprint syntax and the resource server's JWT segments.
//   - In the core package dpop, because they are DPoP's: the JWK SHA-256
//     thumbprint syntax of jkt and dpop_jkt (dpop.IsThumbprint; RFC 9449
//     §6.1, §10, RFC 7638), the nonce syntax (dpop.IsValidNonce; RFC 9449
//     §8.1), and the exported dpop.IsToken and dpop.IsToken68, which
//     apply the rules of this package.
//   - In package client, because the key is golang.org/x/oauth2's: the
//     lookup of the *http.Client a context carries under oauth2.HTTPClient.
package syntax
