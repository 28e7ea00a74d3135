package mcpdpop

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/dpopkit/dpop"
	"github.com/dpopkit/dpop/resource"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// The iat window of the MCP DPoP profile: a proof is accepted from
// ProfileMaxAge+ProfileLeeway (five minutes) before now to ProfileLeeway
// after it. The profile asks for about ±5 minutes; the past side is exactly
// five minutes, the future side leaves out the half minute that the
// transit of a fresh proof accounts for. A proof 303 seconds off in either
// direction is refused.
const (
	ProfileMaxAge = 30 * time.Second
	ProfileLeeway = 270 * time.Second
)

// VerifierOptions returns the proof verifier options of the MCP DPoP
// profile (SEP-1932): the iat window above (RFC 9449 §11.1), the default
// asymmetric algorithms (never none or HMAC), and server nonces from
// nonces (RFC 9449 §9; the profile says an MCP server SHOULD use them).
// nonces nil means no nonces. Other fields keep the core's strict
// defaults; set Replay to a shared store for a fleet.
func VerifierOptions(nonces dpop.NonceSource) dpop.VerifierOptions {
	return dpop.VerifierOptions{
		MaxAge: ProfileMaxAge,
		Leeway: ProfileLeeway,
		Nonces: nonces,
	}
}

// ServerOptions configure [Protect].
type ServerOptions struct {
	// Resource is the canonical URL of the MCP endpoint, exactly as
	// clients address it, e.g. "https://mcp.example.com/mcp" (required).
	// It is the resource of the RFC 9728 metadata, the audience the
	// token validator must demand, and the base of every proof's htu.
	Resource string
	// AuthorizationServers are the issuers of the tokens this server
	// accepts, listed in the metadata (at least one).
	AuthorizationServers []string
	// Tokens validates the access tokens (required): typically a
	// [resource.JWTValidator] with Audience set to Resource, in a
	// [resource.TokenCache].
	Tokens resource.TokenValidator
	// Verifier checks the proofs. nil means a verifier with
	// [VerifierOptions] and nonces from an HMAC nonce source with a
	// random secret, scoped to Resource (set DisableNonces for none).
	// A fleet of servers shares a verifier configuration: the nonce
	// secret and the replay store.
	Verifier *dpop.Verifier
	// DisableNonces turns off the default verifier's nonces. Ignored when
	// Verifier is set.
	DisableNonces bool
	// AllowBearer also accepts tokens that are not DPoP-bound, under the
	// Bearer scheme. A DPoP-bound token under Bearer is always refused.
	AllowBearer bool
	// Scopes are the scopes every token must grant (403
	// insufficient_scope otherwise); they are also the metadata's
	// scopes_supported.
	Scopes []string
	// ResourceName is the metadata's human-readable resource_name.
	ResourceName string
	// Logger, when set, receives every refusal with its evidence (the
	// failed check, expected and got; never a whole token), as
	// resource.Options.Logger: the nonce challenges and the requests
	// without credentials at debug level.
	Logger *slog.Logger
}

// Protect returns a handler that serves the RFC 9728 metadata of the MCP
// endpoint at its well-known path and passes every other request to mcp,
// typically go-sdk's streamable HTTP handler, once the resource package's
// middleware has accepted it:
//
//   - a refused request is answered with the middleware's status and
//     WWW-Authenticate challenge (RFC 9449 §7.1, RFC 6750 §3), which
//     carries resource_metadata (RFC 9728 §5.1) so that clients find the
//     authorization server;
//   - an accepted request reaches mcp with the caller as go-sdk's
//     [auth.TokenInfo] (see [TokenInfo]), so tools read it from
//     CallToolRequest.Extra.TokenInfo and go-sdk binds each session to
//     the key that opened it.
//
// Mount it at the root of the server's origin (or at least at both the
// MCP path and the metadata path, [MetadataPath]).
func Protect(mcp http.Handler, opts ServerOptions) (http.Handler, error) {
	if mcp == nil {
		return nil, errors.New("mcpdpop: Protect needs the MCP handler")
	}
	if opts.Tokens == nil {
		return nil, errors.New("mcpdpop: ServerOptions.Tokens is required")
	}
	if len(opts.AuthorizationServers) == 0 {
		return nil, errors.New("mcpdpop: ServerOptions.AuthorizationServers needs at least one issuer")
	}
	mdPath, err := MetadataPath(opts.Resource)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(opts.Resource) // MetadataPath checked it
	origin := u.Scheme + "://" + u.Host
	v := opts.Verifier
	if v == nil {
		var ns dpop.NonceSource
		if !opts.DisableNonces {
			secret := make([]byte, 32)
			_, _ = rand.Read(secret)
			s, err := dpop.NewHMACNonceSource(dpop.HMACNonceOptions{Secret: secret, Scope: "rs:" + opts.Resource})
			if err != nil {
				return nil, err
			}
			ns = s
		}
		if v, err = dpop.NewVerifier(VerifierOptions(ns)); err != nil {
			return nil, err
		}
	}
	mw, err := resource.NewMiddleware(resource.Options{
		Verifier:         v,
		Tokens:           opts.Tokens,
		AllowBearer:      opts.AllowBearer,
		BaseURL:          origin,
		RequiredScopes:   opts.Scopes,
		NonceOnSuccess:   v.NonceSource() != nil,
		ResourceMetadata: origin + mdPath,
		Logger:           opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	md := mw.Metadata(opts.Resource, opts.AuthorizationServers...)
	md.ScopesSupported = slices.Clone(opts.Scopes)
	md.ResourceName = opts.ResourceName
	metadata := resource.MetadataHandler(md)

	// go-sdk hands a TokenInfo to its tools only through its own
	// middleware, which reads a Bearer header and asks a verifier func; the
	// func returns the TokenInfo already computed from the DPoP request.
	// The validator and the proof verifier above made every decision, so
	// go-sdk's own expiry check is relaxed by the largest leeway a
	// validator may apply.
	// The handler behind it sees the request's own Authorization field
	// again.
	restore := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := r.Context().Value(acceptedKey{}).(*accepted); ok {
			r = r.WithContext(r.Context())
			r.Header = a.header
		}
		mcp.ServeHTTP(w, r)
	})
	toSDK := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		a, ok := ctx.Value(acceptedKey{}).(*accepted)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return a.info, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true, ClockSkew: expirySkew})(restore)

	protected := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := resource.CallerFromContext(r.Context())
		_, token, _ := cutScheme(r.Header.Get("Authorization"))
		ctx := context.WithValue(r.Context(), acceptedKey{}, &accepted{info: TokenInfo(caller), header: r.Header})
		r2 := r.WithContext(ctx)
		r2.Header = r.Header.Clone()
		r2.Header.Set("Authorization", "Bearer "+token)
		toSDK.ServeHTTP(w, r2)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == mdPath {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			metadata.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	}), nil
}

// expirySkew is how far past its expiry go-sdk's middleware still lets a
// token through: the token validator has already applied its own leeway.
const expirySkew = 5 * time.Minute

// accepted is what Protect hands from its authentication step to the
// handler behind go-sdk's middleware: the caller as a TokenInfo and the
// request's own header.
type accepted struct {
	info   *auth.TokenInfo
	header http.Header
}

type acceptedKey struct{}

// MetadataPath returns the path of the RFC 9728 metadata of the MCP
// endpoint resource: "/.well-known/oauth-protected-resource" followed by
// the endpoint's path (RFC 9728 §3.1), where MCP clients look first.
// It is [resource.MetadataPath], which refuses anything but an absolute
// http or https URL without query or fragment.
func MetadataPath(resourceURL string) (string, error) {
	return resource.MetadataPath(resourceURL)
}

// extraCaller is the key of the [resource.Caller] in TokenInfo.Extra.
const extraCaller = "dpop.caller"

// TokenInfo returns the go-sdk view of a verified caller, as [Protect]
// hands it to go-sdk: the token's scopes and expiry, and a UserID of the
// subject and, for a DPoP request, the key thumbprint ("sub#jkt"), so that
// go-sdk refuses a session to any other key or user than the one that
// opened it. Extra holds the caller itself ([CallerFromTokenInfo]) and
// its "sub", "client_id", "jkt" and "scheme".
func TokenInfo(c *resource.Caller) *auth.TokenInfo {
	user := c.Subject
	if c.JKT != "" {
		user += "#" + c.JKT
	}
	return &auth.TokenInfo{
		Scopes:     slices.Clone(c.Scopes),
		Expiration: c.Expiry,
		UserID:     user,
		Extra: map[string]any{
			extraCaller: c,
			"sub":       c.Subject,
			"client_id": c.ClientID,
			"jkt":       c.JKT,
			"scheme":    string(c.Scheme),
		},
	}
}

// CallerFromTokenInfo returns the verified caller that [Protect] put in a
// go-sdk TokenInfo, e.g. a tool's req.Extra.TokenInfo.
func CallerFromTokenInfo(ti *auth.TokenInfo) (*resource.Caller, bool) {
	if ti == nil {
		return nil, false
	}
	c, ok := ti.Extra[extraCaller].(*resource.Caller)
	return c, ok && c != nil
}

// cutScheme splits an Authorization value into scheme and credentials.
func cutScheme(v string) (scheme, cred string, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			j := i
			for j < len(v) && v[j] == ' ' {
				j++
			}
			return v[:i], v[j:], true
		}
	}
	return v, "", false
}
