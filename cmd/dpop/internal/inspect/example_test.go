package inspect_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dpopkit/dpop/cmd/dpop/internal/inspect"
)

// The example proof of RFC 9449 §4.1, checked against a request with
// another method.
func ExampleInspect() {
	proof := "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19" +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	r, err := inspect.Inspect(context.Background(), []byte(proof), inspect.Options{
		Now:    time.Unix(1562262618, 0),
		Method: "GET", URL: "https://server.example.com/token",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Kind, r.JKT)
	for _, c := range r.Checks {
		if !c.Passed {
			fmt.Printf("%s: expected %s, got %s\n", c.Name, c.Expected, c.Got)
		}
	}
	// Output:
	// dpop_proof 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
	// htm: expected GET, got POST
}
