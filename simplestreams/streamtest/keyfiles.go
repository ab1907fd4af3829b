package streamtest

import (
	"bytes"
	_ "embed"
)

// The public keyrings as files, written by testdata/gen from the keys, for
// tests that need a keyring on disk (gpgv, sources files).
var (
	//go:embed testdata/keyring.gpg
	keyringGPG []byte
	//go:embed testdata/keyring.asc
	keyringASC []byte
	//go:embed testdata/other-keyring.gpg
	otherKeyringGPG []byte
)

// KeyringFile returns the contents of testdata/keyring.gpg: the test key's
// public keyring as gpg --export writes it. It equals Keyring(Key()).
func KeyringFile() []byte { return bytes.Clone(keyringGPG) }

// ArmoredKeyringFile returns the contents of testdata/keyring.asc: the test
// key's public keyring as gpg --export --armor writes it.
func ArmoredKeyringFile() []byte { return bytes.Clone(keyringASC) }

// OtherKeyringFile returns the contents of testdata/other-keyring.gpg, the
// public keyring of OtherKey.
func OtherKeyringFile() []byte { return bytes.Clone(otherKeyringGPG) }
