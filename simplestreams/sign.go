package simplestreams

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Keyring is a set of OpenPGP public keys.
type Keyring struct {
	name    string
	entries openpgp.EntityList
}

// ParseKeyring reads a binary (gpg --export) or ASCII-armored keyring. name
// is used in errors. A GnuPG keybox, unreadable key material or a keyring
// with no keys is an error wrapping ErrSignature.
func ParseKeyring(name string, data []byte) (*Keyring, error) {
	fail := func(err error) (*Keyring, error) {
		return nil, &SignatureError{File: name, Err: err}
	}
	if len(data) >= 12 && string(data[8:12]) == "KBXf" {
		return fail(errors.New("this is a GnuPG keybox, not a keyring; export the keys with: gpg --export KEYID > keyring.gpg"))
	}
	el, err := readKeys(data)
	if err != nil {
		return fail(fmt.Errorf("reading keyring: %w", err))
	}
	if len(el) == 0 {
		return fail(errors.New("the keyring has no keys"))
	}
	return &Keyring{name: name, entries: el}, nil
}

// Key is one public key of a keyring, as a person would check it.
type Key struct {
	Fingerprint string // upper-case hex, no spaces
	KeyID       string // the long key id (16 hex digits), as signatures name it
	UserID      string // the primary user id, or "" when the key has none
}

// Keys lists the keyring's public keys in keyring order.
func (k *Keyring) Keys() []Key {
	if k == nil {
		return nil
	}
	out := make([]Key, 0, len(k.entries))
	for _, e := range k.entries {
		key := Key{Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), KeyID: e.PrimaryKey.KeyIdString()}
		if id := e.PrimaryIdentity(); id != nil {
			key.UserID = id.Name
		}
		out = append(out, key)
	}
	return out
}

// Verify checks a clear-signed message against the keyring and returns its
// body. name (a URL or path) is used in errors. Every failure is a
// *SignatureError: not a clear-signed message, an unknown, expired or
// revoked key, a body that does not match the signature, or a signature
// over a weak hash (MD5, RIPEMD-160, SHA-1).
func Verify(name string, data []byte, kr *Keyring) ([]byte, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, &SignatureError{File: name, Err: errors.New("not an OpenPGP clear-signed message")}
	}
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, &SignatureError{File: name, Err: fmt.Errorf("reading the signature: %w", err)}
	}
	keyID := issuer(sig)
	if kr == nil {
		return nil, &SignatureError{File: name, KeyID: keyID, Err: errors.New("no keyring to verify with")}
	}
	s, _, err := openpgp.VerifyDetachedSignature(kr.entries, bytes.NewReader(block.Bytes), bytes.NewReader(sig), nil)
	if err != nil {
		return nil, &SignatureError{File: name, KeyID: keyID, Err: describe(err, kr)}
	}
	// go-crypto's v1 API checks the key's hashes but not the message's;
	// apply its default message policy (no MD5, RIPEMD-160 or SHA-1), as
	// its v2 API and current OpenPGP implementations do.
	var policy *packet.Config
	if policy.RejectMessageHashAlgorithm(s.Hash) {
		return nil, &SignatureError{File: name, KeyID: keyID, Err: fmt.Errorf("the signature uses the weak hash %v", s.Hash)}
	}
	return block.Plaintext, nil
}

// describe turns go-crypto's errors into words an operator can act on.
func describe(err error, kr *Keyring) error {
	switch {
	case errors.Is(err, errUnknownIssuer):
		return fmt.Errorf("the signing key is not in the keyring %s", kr.name)
	}
	return err
}

var errUnknownIssuer = func() error {
	// openpgp/errors.ErrUnknownIssuer, through the package's own value.
	_, _, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{}, bytes.NewReader(nil), bytes.NewReader(nil), nil)
	return err
}()

// issuer returns the issuer key id of the first signature packet, or "".
func issuer(sig []byte) string {
	p, err := packet.Read(bytes.NewReader(sig))
	if err != nil {
		return ""
	}
	if s, ok := p.(*packet.Signature); ok && s.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return ""
}

// StripSignature returns the body of a clear-signed message without checking
// the signature (--insecure-skip-verify). A message that is not clear-signed
// is an error wrapping ErrInvalid.
func StripSignature(name string, data []byte) ([]byte, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: %s is not an OpenPGP clear-signed message", ErrInvalid, name)
	}
	return block.Plaintext, nil
}

// readKeys reads OpenPGP keys, armored or binary.
func readKeys(data []byte) (openpgp.EntityList, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}
