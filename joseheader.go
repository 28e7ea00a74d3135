package dpop

import (
	"crypto/sha256"
	"unsafe"

	"github.com/dpopkit/dpop/internal/syntax"
)

// header is a validated JOSE header.
type header struct {
	alg  Algorithm
	info algInfo
	key  *publicKey
}

// header returns the validated header of the segment seg, from the cache
// when a proof with the same header verified before. A header parsed anew
// is not cached here: Verify caches it (with key) once the signature made
// with its key has verified, so that unsigned input never stays in memory.
func (v *Verifier) header(seg string, key *headerKey) (h *header, cached bool, err error) {
	if v.cache != nil {
		*key = sha256.Sum256(unsafe.Slice(unsafe.StringData(seg), len(seg)))
		// Only headers that passed every check of this verifier and
		// signed a proof are cached, so a hit needs no further check.
		if h := v.cache.get(key); h != nil {
			return h, true, nil
		}
	}
	h, err = v.parseHeader(seg)
	return h, false, err
}

func (v *Verifier) parseHeader(seg string) (*header, error) {
	raw, ok := decodeB64([]byte(seg))
	if !ok {
		return nil, refuse(ErrMalformed, "DPoP proof header is not base64url", "header", "unpadded base64url", "invalid base64url")
	}
	var (
		typ, alg []byte
		haveTyp  bool
		haveAlg  bool
		haveJWK  bool
		critErr  bool
		jwk      jwkFields
		jwkErr   error
		r        = jsonReader{data: raw}
	)
	err := r.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "typ":
			typ, err = r.strBytes()
			haveTyp = true
		case "alg":
			alg, err = r.strBytes()
			haveAlg = true
		case "jwk":
			if r.peek() != '{' {
				jwkErr = errJWKField
				return r.skip()
			}
			haveJWK = true
			err = readJWK(&r, &jwk)
		case "crit":
			// DPoP defines no extension, so any crit, even an empty
			// or malformed one, is refused (RFC 7515 §4.1.11).
			critErr = true
			err = r.skip()
		default:
			// kid, jku, x5u, x5c and others are never dereferenced: the
			// key is the jwk and nothing else.
			err = r.skip()
		}
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, refuse(ErrInvalidHeader, "malformed DPoP proof header", "header", "a JSON object with typ, alg and jwk, each once", "malformed JSON or a repeated or mistyped member")
	}
	if !haveTyp || !v.typOK(typ) {
		want := "dpop+jwt"
		if v.mediaTypeTyp {
			want = "dpop+jwt or application/dpop+jwt, in any case"
		}
		return nil, refuse(ErrInvalidTyp, "typ must be dpop+jwt", "typ", want, clipOrAbsent(string(typ), haveTyp))
	}
	if !haveAlg {
		return nil, refuse(ErrUnsupportedAlg, "alg is missing", "alg", v.algList, "absent")
	}
	a := Algorithm(alg)
	if !v.allowed[a] {
		return nil, refuse(ErrUnsupportedAlg, "alg is not allowed", "alg", v.algList, clip(string(alg)))
	}
	if critErr {
		return nil, refuse(ErrCrit, "crit is not supported", "header", "no crit member", "crit")
	}
	if !haveJWK || jwkErr != nil {
		got := "absent"
		if jwkErr != nil {
			got = "not an object"
		}
		return nil, refuse(ErrMissingJWK, "jwk header parameter is required", "jwk", "a public JWK object", got)
	}
	if jwk.priv {
		return nil, refuse(ErrPrivateKey, "jwk must not contain private key material", "jwk", "public key members only", "private or symmetric key members (not logged)")
	}
	info, _ := a.info()
	if string(jwk.kty) == "oct" {
		return nil, refuse(ErrInvalidJWK, "jwk is not an asymmetric public key", "jwk", "kty EC, OKP or RSA", "kty oct")
	}
	// alg and kty/crv must agree before the key is decoded, so an RSA
	// modulus is never parsed for an EC algorithm and so on.
	if string(jwk.kty) != info.kty || info.crv != "" && string(jwk.crv) != info.crv {
		return nil, refuse(ErrAlgKeyMismatch, "alg does not fit the jwk", "alg", "a "+describeKeyType(info.kty, info.crv)+" key for "+string(a), describeKeyType(clip(string(jwk.kty)), clip(string(jwk.crv))))
	}
	key, err := parsePublic(&jwk)
	if err != nil {
		return nil, refuse(ErrInvalidJWK, "jwk is not a valid public key", "jwk", "a valid "+describeKeyType(info.kty, info.crv)+" public key", err.Error())
	}
	return &header{alg: a, info: info, key: key}, nil
}

// describeKeyType names a JWK key type for evidence: "kty EC, crv P-256".
func describeKeyType(kty, crv string) string {
	if crv == "" {
		return "kty " + kty
	}
	return "kty " + kty + ", crv " + crv
}

func (v *Verifier) typOK(typ []byte) bool {
	if string(typ) == "dpop+jwt" {
		return true
	}
	if !v.mediaTypeTyp {
		return false
	}
	t := typ
	if len(t) > len("application/") && syntax.EqualFoldASCII(t[:len("application/")], []byte("application/")) {
		t = t[len("application/"):]
	}
	return syntax.EqualFoldASCII(t, []byte("dpop+jwt"))
}
