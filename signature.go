package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"strconv"
	"unsafe"
)

// JWS signatures (RFC 7515 §5.2, RFC 7518 §3, RFC 8037 §3.1): making them
// with a crypto.Signer, checking them, and converting ECDSA signatures
// between the fixed-length r||s of JWS and the ASN.1 DER of crypto/ecdsa.

// verifySignature checks the signature segment of a proof over its signing
// input with the key and algorithm of its validated header.
func verifySignature(h *header, signingInput, sigSeg string) error {
	var buf [MaxRSABits / 8]byte
	if len(sigSeg) > b64.EncodedLen(len(buf)) {
		return refuse(ErrInvalidSignature, "DPoP proof signature is invalid", "signature", expectedSignature(h), strconv.Itoa(len(sigSeg))+" base64url characters, too long")
	}
	n, err := b64.Decode(buf[:], unsafe.Slice(unsafe.StringData(sigSeg), len(sigSeg)))
	if err != nil {
		return refuse(ErrMalformed, "DPoP proof signature is not base64url", "signature", "unpadded base64url", "invalid base64url")
	}
	sig := buf[:n]
	msg := unsafe.Slice(unsafe.StringData(signingInput), len(signingInput))
	var ok bool
	switch h.info.family {
	case familyOKP:
		ok = len(sig) == h.info.signatureSize(0) && ed25519.Verify(h.key.ed, msg, sig)
	case familyEC:
		if len(sig) != h.info.signatureSize(0) {
			break
		}
		var der [8 + 2*(maxECSize+1)]byte
		var sum [maxHashSize]byte
		ok = ecdsa.VerifyASN1(h.key.ec, digest(h.info.hash, msg, sum[:0]), rawToDER(der[:0], sig, h.info.size))
	case familyRSA:
		if len(sig) != h.info.signatureSize(h.key.rsa.N.BitLen()) {
			break
		}
		var sum [maxHashSize]byte
		dg := digest(h.info.hash, msg, sum[:0])
		if h.info.pss {
			ok = rsa.VerifyPSS(h.key.rsa, h.info.hash, dg, sig, &rsa.PSSOptions{SaltLength: h.info.hash.Size()}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(h.key.rsa, h.info.hash, dg, sig) == nil
		}
	}
	if !ok {
		return refuse(ErrInvalidSignature, "DPoP proof signature is invalid", "signature", expectedSignature(h), "a signature of "+strconv.Itoa(len(sig))+" bytes that does not verify")
	}
	return nil
}

// expectedSignature describes the signature a header calls for, for
// evidence.
func expectedSignature(h *header) string {
	bits := 0
	if h.key.rsa != nil {
		bits = h.key.rsa.N.BitLen()
	}
	return "a " + strconv.Itoa(h.info.signatureSize(bits)) + "-byte " + string(h.alg) + " signature by key " + h.key.jkt
}

func digest(h crypto.Hash, msg, dst []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return append(dst, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return append(dst, s[:]...)
	default:
		s := sha512.Sum512(msg)
		return append(dst, s[:]...)
	}
}

// rawToDER encodes the r||s signature of RFC 7518 §3.4 as the ASN.1
// SEQUENCE of two INTEGERs that crypto/ecdsa verifies.
func rawToDER(dst, sig []byte, size int) []byte {
	r, s := derInt(sig[:size]), derInt(sig[size:])
	body := 2 + len(r) + (len(s) + 2)
	if s[0]&0x80 != 0 {
		body++
	}
	if r[0]&0x80 != 0 {
		body++
	}
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	for _, v := range [2][]byte{r, s} {
		l := len(v)
		if v[0]&0x80 != 0 {
			l++
		}
		dst = append(dst, 0x02, byte(l))
		if v[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst
}

// derInt strips leading zero octets, keeping one for zero.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

// sign signs the signing input and appends the JWS signature bytes to dst.
func (k *Key) sign(rnd io.Reader, dst, signingInput []byte) ([]byte, error) {
	if k.info.family == familyOKP {
		sig, err := k.signer.Sign(rnd, signingInput, crypto.Hash(0))
		if err != nil {
			return nil, err
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, errSignatureLength
		}
		return append(dst, sig...), nil
	}
	h := k.info.hash.New()
	h.Write(signingInput)
	var sum [maxHashSize]byte
	digest := h.Sum(sum[:0])
	var opts crypto.SignerOpts = k.info.hash
	if k.info.pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: k.info.hash}
	}
	sig, err := k.signer.Sign(rnd, digest, opts)
	if err != nil {
		return nil, err
	}
	if k.info.family == familyEC {
		return appendRawECDSA(dst, sig, k.info.size)
	}
	if len(sig) != k.signatureSize() {
		return nil, errSignatureLength
	}
	return append(dst, sig...), nil
}

var (
	errDERSignature    = errors.New("dpop: signer returned a malformed ECDSA signature")
	errSignatureLength = errors.New("dpop: signer returned a signature of the wrong length")
)

// appendRawECDSA converts an ASN.1 DER ECDSA signature to the fixed-length
// r||s form of RFC 7518 §3.4 and appends it to dst.
func appendRawECDSA(dst, der []byte, size int) ([]byte, error) {
	body, rest, ok := derTLV(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, errDERSignature
	}
	r, body, ok := derTLV(body, 0x02)
	if !ok {
		return nil, errDERSignature
	}
	s, body, ok := derTLV(body, 0x02)
	if !ok || len(body) != 0 {
		return nil, errDERSignature
	}
	for _, v := range [][]byte{r, s} {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, errDERSignature
		}
		for i := len(v); i < size; i++ {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst, nil
}

// derTLV reads one DER element with the given tag (short or one/two-octet
// long-form length) and returns its contents and what follows.
func derTLV(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, off := int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81 && len(b) >= 3:
		n, off = int(b[2]), 3
	case n == 0x82 && len(b) >= 4:
		n, off = int(b[2])<<8|int(b[3]), 4
	default:
		return nil, nil, false
	}
	if len(b)-off < n {
		return nil, nil, false
	}
	return b[off : off+n], b[off+n:], true
}

func (k *Key) signatureSize() int {
	bits := 0
	if k.pub.rsa != nil {
		bits = k.pub.rsa.N.BitLen()
	}
	return k.info.signatureSize(bits)
}
