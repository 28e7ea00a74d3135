package dpop

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpopkit/dpop/internal/testsupport"
)

// The worked examples of RFC 9449, as fixed vectors.
const (
	rfcJWK = `{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`
	rfcJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

	// Figure 2: token request proof, iat 1562262616.
	rfcTokenProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	rfcTokenIAT   = 1562262616
	// Figure 7: refresh request proof, same jti, iat 1562265296.
	rfcRefreshProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA"
	rfcRefreshIAT   = 1562265296
	// Figure 13: resource request proof with ath, iat 1562262618.
	rfcResourceProof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
	rfcResourceIAT   = 1562262618
	rfcAccessToken   = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	rfcATH           = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
)

func newTestVerifier(t testing.TB, at int64, opts VerifierOptions) (*Verifier, *testsupport.Clock) {
	t.Helper()
	c := testsupport.NewClock(time.Unix(at, 0))
	opts.Now = c.Now
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v, c
}

func TestRFCExampleThumbprintAndATH(t *testing.T) {
	jkt, err := Thumbprint([]byte(rfcJWK))
	if err != nil || jkt != rfcJKT {
		t.Fatalf("Thumbprint = %q, %v; want %q", jkt, err, rfcJKT)
	}
	if got := AccessTokenHash(rfcAccessToken); got != rfcATH {
		t.Fatalf("AccessTokenHash = %q, want %q", got, rfcATH)
	}
}

func TestRFCExampleProofs(t *testing.T) {
	ctx := context.Background()
	v, clk := newTestVerifier(t, rfcTokenIAT+1, VerifierOptions{})

	p, err := v.Verify(ctx, rfcTokenProof, Request{Method: "POST", URL: "https://server.example.com/token"})
	if err != nil {
		t.Fatalf("token proof: %v", err)
	}
	if p.JKT != rfcJKT || p.JTI != "-BwC3ESc6acc2lTc" || p.HTM != "POST" || p.HTU != "https://server.example.com/token" ||
		p.IssuedAt.Unix() != rfcTokenIAT || p.Algorithm != ES256 {
		t.Fatalf("token proof verified as %+v", p)
	}
	// The same proof again is a replay.
	if _, err := v.Verify(ctx, rfcTokenProof, Request{Method: "POST", URL: "https://server.example.com/token"}); !errors.Is(err, ErrReplay) {
		t.Fatalf("second use: %v, want ErrReplay", err)
	}

	// The refresh proof reuses the jti 2680 s later; by then the first
	// entry has expired from the store, so it is accepted.
	clk.Set(time.Unix(rfcRefreshIAT, 0))
	if _, err := v.Verify(ctx, rfcRefreshProof, Request{Method: "POST", URL: "https://server.example.com/token"}); err != nil {
		t.Fatalf("refresh proof: %v", err)
	}

	rv, _ := newTestVerifier(t, rfcResourceIAT, VerifierOptions{})
	p, err = rv.Verify(ctx, rfcResourceProof, Request{
		Method: "GET", URL: "https://resource.example.org/protectedresource",
		AccessToken: rfcAccessToken, BoundKey: rfcJKT,
	})
	if err != nil {
		t.Fatalf("resource proof: %v", err)
	}
	if p.ATH != rfcATH || p.JTI != "e1j3V_bKic8-LAEB" {
		t.Fatalf("resource proof verified as %+v", p)
	}
}

// The RFC's examples, each broken in one way, with the exact error.
func TestRFCExampleProofsRejected(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		proof string
		at    int64
		req   Request
		want  error
		code  string
	}{
		{"token proof at the resource", rfcTokenProof, rfcTokenIAT, Request{Method: "GET", URL: "https://resource.example.org/protectedresource", AccessToken: rfcAccessToken}, ErrHTMMismatch, CodeInvalidProof},
		{"token proof to another URL", rfcTokenProof, rfcTokenIAT, Request{Method: "POST", URL: "https://server.example.com/par"}, ErrHTUMismatch, CodeInvalidProof},
		{"token proof with an access token", rfcTokenProof, rfcTokenIAT, Request{Method: "POST", URL: "https://server.example.com/token", AccessToken: rfcAccessToken}, ErrMissingClaim, CodeInvalidProof},
		{"resource proof with another token", rfcResourceProof, rfcResourceIAT, Request{Method: "GET", URL: "https://resource.example.org/protectedresource", AccessToken: rfcAccessToken + "x"}, ErrATHMismatch, CodeInvalidProof},
		{"resource proof bound to another key", rfcResourceProof, rfcResourceIAT, Request{Method: "GET", URL: "https://resource.example.org/protectedresource", AccessToken: rfcAccessToken, BoundKey: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"}, ErrKeyMismatch, CodeInvalidToken},
		{"token proof too old", rfcTokenProof, rfcTokenIAT + int64((DefaultMaxAge+DefaultLeeway)/time.Second) + 1, Request{Method: "POST", URL: "https://server.example.com/token"}, ErrIATTooOld, CodeInvalidProof},
		{"token proof from the future", rfcTokenProof, rfcTokenIAT - int64(DefaultLeeway/time.Second) - 1, Request{Method: "POST", URL: "https://server.example.com/token"}, ErrIATInFuture, CodeInvalidProof},
		{"nonce expected", rfcTokenProof, rfcTokenIAT, Request{Method: "POST", URL: "https://server.example.com/token", Nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v"}, ErrNonceRequired, CodeUseNonce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := newTestVerifier(t, tc.at, VerifierOptions{})
			_, err := v.Verify(ctx, tc.proof, tc.req)
			if !errors.Is(err, tc.want) || ErrorCode(err) != tc.code {
				t.Fatalf("err = %v (code %q), want %v (code %q)", err, ErrorCode(err), tc.want, tc.code)
			}
		})
	}
	// At the edges of the window the proof is still accepted.
	for _, at := range []int64{rfcTokenIAT + int64((DefaultMaxAge+DefaultLeeway)/time.Second), rfcTokenIAT - int64(DefaultLeeway/time.Second)} {
		v, _ := newTestVerifier(t, at, VerifierOptions{})
		if _, err := v.Verify(ctx, rfcTokenProof, Request{Method: "POST", URL: "https://server.example.com/token"}); err != nil {
			t.Fatalf("at %d: %v", at, err)
		}
	}
}
