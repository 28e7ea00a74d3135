package dpop

import (
	"net/http"
	"strconv"
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
		return "", refuse(ErrMissingProof, "missing DPoP proof", "header", "one DPoP header field", "none")
	case count > 1:
		return "", refuse(ErrMultipleProofs, "more than one DPoP header", "header", "one DPoP header field", strconv.Itoa(count)+" fields")
	}
	// Refuse an oversized value before scanning it at all.
	if len(proof) > MaxProofSizeLimit {
		return "", refuse(ErrProofTooLarge, "DPoP proof too large", "size", "at most "+strconv.Itoa(MaxProofSizeLimit)+" bytes", strconv.Itoa(len(proof))+" bytes")
	}
	proof = strings.Trim(proof, " \t")
	if strings.IndexByte(proof, ',') >= 0 {
		return "", refuse(ErrMultipleProofs, "more than one DPoP proof in the DPoP header", "header", "one proof", strconv.Itoa(strings.Count(proof, ",")+1)+" comma-separated values")
	}
	if proof == "" {
		return "", refuse(ErrMalformed, "empty DPoP header", "header", "a compact JWS", "an empty value")
	}
	return proof, nil
}
