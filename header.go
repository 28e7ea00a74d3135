package dpop

import (
	"net/http"
	"strings"

	"github.com/dpopkit/dpop/internal/syntax"
)

// ProofFromHeader returns the DPoP proof of a request's header fields. It
// counts every field line whose name is DPoP in any letter case (Go
// canonicalises the name to "Dpop"; a map filled by hand may use another
// spelling), and refuses more than one, or one value holding several
// comma-separated values (RFC 9449 §4.3 check 1). Surrounding spaces and
// tabs are trimmed. A value longer than [MaxProofSizeLimit] is refused
// without being read.
func ProofFromHeader(h http.Header) (string, error) {
	var proof string
	count := 0
	for name, values := range h {
		if len(name) != 4 || !syntax.EqualFoldASCII(name, "DPoP") {
			continue
		}
		for _, v := range values {
			count++
			proof = v
		}
	}
	switch {
	case count == 0:
		return "", reject(ErrMissingProof, "missing DPoP proof")
	case count > 1:
		return "", reject(ErrMultipleProofs, "more than one DPoP header")
	}
	// Refuse an oversized value before scanning it at all.
	if len(proof) > MaxProofSizeLimit {
		return "", reject(ErrProofTooLarge, "DPoP proof too large")
	}
	proof = strings.Trim(proof, " \t")
	if strings.IndexByte(proof, ',') >= 0 {
		return "", reject(ErrMultipleProofs, "more than one DPoP proof in the DPoP header")
	}
	if proof == "" {
		return "", reject(ErrMalformed, "empty DPoP header")
	}
	return proof, nil
}
