package dpop

import (
	"errors"
	"math"
	"time"
	"unsafe"
)

// claims holds the claims of a proof as views into the decoded payload.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       float64
}

func (c *claims) iatTime() time.Time {
	sec, frac := math.Modf(c.iat)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// maxIAT is the largest accepted iat: the end of year 9999.
const maxIAT = 253402300799

func (c *claims) read(data []byte) error {
	r := jsonReader{data: data}
	var have uint8
	const (
		hJTI = 1 << iota
		hHTM
		hHTU
		hIAT
	)
	bad := func(desc string) error { return reject(ErrInvalidClaims, desc) }
	view := func(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
	str := func(dst *string, what string) error {
		if r.peek() != '"' {
			return bad(what + " must be a string")
		}
		b, err := r.strBytes()
		if err != nil {
			return bad("malformed DPoP proof claims")
		}
		*dst = view(b)
		return nil
	}
	err := r.object(func(name []byte) error {
		switch string(name) {
		case "jti":
			have |= hJTI
			return str(&c.jti, "jti")
		case "htm":
			have |= hHTM
			return str(&c.htm, "htm")
		case "htu":
			have |= hHTU
			return str(&c.htu, "htu")
		case "ath":
			return str(&c.ath, "ath")
		case "nonce":
			return str(&c.nonce, "nonce")
		case "iat":
			have |= hIAT
			if p := r.peek(); p != '-' && (p < '0' || p > '9') {
				return bad("iat must be a number")
			}
			f, err := r.number()
			if err != nil {
				return bad("iat must be a number")
			}
			if f < 0 || f > maxIAT {
				return bad("iat is out of range")
			}
			c.iat = f
			return nil
		default:
			if err := r.skip(); err != nil {
				return bad("malformed DPoP proof claims")
			}
			return nil
		}
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return bad("malformed DPoP proof claims")
	}
	switch {
	case have&hJTI == 0:
		return reject(ErrMissingClaim, "jti claim is required")
	case have&hHTM == 0:
		return reject(ErrMissingClaim, "htm claim is required")
	case have&hHTU == 0:
		return reject(ErrMissingClaim, "htu claim is required")
	case have&hIAT == 0:
		return reject(ErrMissingClaim, "iat claim is required")
	}
	if c.jti == "" || len(c.jti) > MaxJTILength {
		return bad("jti must have 1 to 256 characters")
	}
	return nil
}
