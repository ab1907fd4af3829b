package simplestreams

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ErrSigningKey: a private key that cannot sign (missing, encrypted,
// unreadable); a configuration error.
var ErrSigningKey = errors.New("unusable signing key")

// Signer clear-signs metadata with one OpenPGP private key.
type Signer struct {
	entity *openpgp.Entity
}

// ParseSigningKey reads an ASCII-armored (or binary) OpenPGP private key
// without a passphrase. name is used in errors, which wrap ErrSigningKey.
func ParseSigningKey(name string, data []byte) (*Signer, error) {
	fail := func(why string, err error) (*Signer, error) {
		if err != nil {
			why += ": " + err.Error()
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrSigningKey, name, why)
	}
	el, err := readKeys(data)
	switch {
	case err != nil:
		return fail("not an OpenPGP private key", err)
	case len(el) != 1:
		return fail(fmt.Sprintf("holds %d keys, want one", len(el)), nil)
	case el[0].PrivateKey == nil:
		return fail("a public key; give the private key (gpg --armor --export-secret-keys KEYID)", nil)
	case el[0].PrivateKey.Encrypted:
		return fail("the key is protected by a passphrase; export it without one for the mirror's use", nil)
	}
	return &Signer{entity: el[0]}, nil
}

// KeyID is the signing key's long key id, as signatures name it.
func (s *Signer) KeyID() string { return s.entity.PrimaryKey.KeyIdString() }

// Keyring returns the public part of the key as a binary keyring (what gpg
// --export writes), for the clusters that verify what it signs.
func (s *Signer) Keyring() ([]byte, error) {
	var b bytes.Buffer
	if err := s.entity.Serialize(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ClearSign returns body as an OpenPGP clear-signed message, signed over
// SHA-512 as Canonical's streams are.
func (s *Signer) ClearSign(body []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, s.entity.PrivateKey, &packet.Config{DefaultHash: crypto.SHA512})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
