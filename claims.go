package dpop

import (
	"errors"
	"math"
	"strconv"
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
	bad := func(desc, expected, got string) error {
		return refuse(ErrInvalidClaims, desc, "claims", expected, got)
	}
	malformed := func() error {
		return bad("malformed DPoP proof claims", "a JSON object, each member once", "malformed JSON or a repeated member")
	}
	view := func(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
	str := func(dst *string, what string) error {
		if p := r.peek(); p != '"' {
			return bad(what+" must be a string", what+" as a string", jsonKind(p))
		}
		b, err := r.strBytes()
		if err != nil {
			return malformed()
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
				return bad("iat must be a number", "iat as a number", jsonKind(p))
			}
			f, err := r.number()
			if err != nil {
				return bad("iat must be a number", "iat as a number", "a malformed number")
			}
			if f < 0 || f > maxIAT {
				return bad("iat is out of range", "iat from 0 to "+strconv.Itoa(maxIAT), strconv.FormatFloat(f, 'g', 6, 64))
			}
			c.iat = f
			return nil
		default:
			if err := r.skip(); err != nil {
				return malformed()
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
		return malformed()
	}
	switch {
	case have&hJTI == 0:
		return refuse(ErrMissingClaim, "jti claim is required", "jti", "a jti claim", "absent")
	case have&hHTM == 0:
		return refuse(ErrMissingClaim, "htm claim is required", "htm", "an htm claim", "absent")
	case have&hHTU == 0:
		return refuse(ErrMissingClaim, "htu claim is required", "htu", "an htu claim", "absent")
	case have&hIAT == 0:
		return refuse(ErrMissingClaim, "iat claim is required", "iat", "an iat claim", "absent")
	}
	if c.jti == "" || len(c.jti) > MaxJTILength {
		return bad("jti must have 1 to 256 characters", "jti of 1 to 256 characters", strconv.Itoa(len(c.jti))+" characters")
	}
	return nil
}

// jsonKind names the kind of JSON value that starts with c, for evidence.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}
