package authserver

import (
	"errors"
	"fmt"
)

// Confirmation is the RFC 7800 cnf member of a DPoP-bound access token
// (RFC 9449 §6.1) or introspection response (§6.2): {"jkt": thumbprint}.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// NewConfirmation returns the cnf value for a binding thumbprint (usually
// [Binding.JKT]), or nil for "" (an unbound token has no cnf).
func NewConfirmation(jkt string) *Confirmation {
	if jkt == "" {
		return nil
	}
	return &Confirmation{JKT: jkt}
}

// Introspection holds the members RFC 9449 §6.2 adds to an RFC 7662
// introspection response for a DPoP-bound token; embed it in the response
// struct. Both are omitted for an unbound token.
type Introspection struct {
	Confirmation *Confirmation `json:"cnf,omitempty"`
	TokenType    string        `json:"token_type,omitempty"`
}

// IntrospectionFor returns the introspection members for a token bound to
// jkt: cnf.jkt and token_type DPoP. For "" it returns the zero value.
func IntrospectionFor(jkt string) Introspection {
	if jkt == "" {
		return Introspection{}
	}
	return Introspection{Confirmation: &Confirmation{JKT: jkt}, TokenType: TokenTypeDPoP}
}

// ErrConfirmation is returned by [SetConfirmation] and [SetIntrospection]
// when the claims already say something else.
var ErrConfirmation = errors.New("authserver: conflicting cnf claim")

// SetConfirmation binds the claims of a JWT access token (or an
// introspection response being built as a map) to jkt: it sets cnf.jkt
// (RFC 9449 §6.1). An existing cnf object keeps its other members. It
// refuses a jkt that is not a thumbprint, a cnf that is not an object, and
// a cnf that already holds another jkt. An empty jkt changes nothing.
func SetConfirmation(claims map[string]any, jkt string) error {
	if jkt == "" {
		return nil
	}
	if _, err := ParseDPoPJKT(jkt); err != nil {
		return fmt.Errorf("%w: jkt is not a thumbprint", ErrConfirmation)
	}
	switch cnf := claims["cnf"].(type) {
	case nil:
		if _, present := claims["cnf"]; present {
			return fmt.Errorf("%w: cnf is null", ErrConfirmation)
		}
		claims["cnf"] = map[string]any{"jkt": jkt}
	case map[string]any:
		if old, ok := cnf["jkt"]; ok && old != jkt {
			return fmt.Errorf("%w: cnf already holds another jkt", ErrConfirmation)
		}
		cnf["jkt"] = jkt
	default:
		return fmt.Errorf("%w: cnf is not an object", ErrConfirmation)
	}
	return nil
}

// SetIntrospection adds to an RFC 7662 introspection response being built
// as a map what RFC 9449 §6.2 asks for a token bound to jkt: cnf.jkt (as
// [SetConfirmation]) and token_type DPoP, replacing another token_type. An
// empty jkt changes nothing.
func SetIntrospection(resp map[string]any, jkt string) error {
	if jkt == "" {
		return nil
	}
	if err := SetConfirmation(resp, jkt); err != nil {
		return err
	}
	resp["token_type"] = TokenTypeDPoP
	return nil
}
