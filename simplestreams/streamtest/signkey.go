package streamtest

import (
	"bytes"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// ArmoredPrivateKey returns the key with its private part, ASCII-armored
// and without a passphrase: what a mirror's --sign-key reads.
func ArmoredPrivateKey(e *openpgp.Entity) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		panic(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		panic(err)
	}
	w.Close()
	return b.Bytes()
}
