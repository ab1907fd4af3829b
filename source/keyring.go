package source

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"maas-import-boot-images/simplestreams"
)

// ubuntuKeys is the public part of Ubuntu's ubuntu-cloudimage-keyring.gpg,
// armored (see keyrings/README.md): the keys images.maas.io signs with.
//
//go:embed keyrings/ubuntu-cloudimage-keyring.asc
var ubuntuKeys []byte

// UbuntuKeysName names the built-in keys in messages.
const UbuntuKeysName = "the built-in Ubuntu cloud image keys"

// ubuntuKeyringFile is the file that a source naming DefaultKeyring reads.
// When it does not exist, the built-in keys stand in for it. Tests point it
// at a missing file, so that they behave the same on machines that have
// DefaultKeyring.
var ubuntuKeyringFile = DefaultKeyring

// SetUbuntuKeyringFileForTest makes a source that names DefaultKeyring read
// path instead, and returns a function that undoes it. It is for tests (of
// this and other packages) that must behave the same whether or not this
// machine has DefaultKeyring; a test that calls it must not run in
// parallel with others.
func SetUbuntuKeyringFileForTest(path string) (restore func()) {
	old := ubuntuKeyringFile
	ubuntuKeyringFile = path
	return func() { ubuntuKeyringFile = old }
}

// UbuntuKeyring returns the built-in Ubuntu cloud image keys.
func UbuntuKeyring() (*simplestreams.Keyring, error) {
	return simplestreams.ParseKeyring(UbuntuKeysName, ubuntuKeys)
}

// LoadKeyring reads the keys that the source's signatures are checked
// with: its keyring_data, else its keyring file. When the keyring file is
// exactly DefaultKeyring and that file does not exist on this machine, the
// built-in Ubuntu cloud image keys are used instead, and an info line on
// log (nil: discard) says so; any other missing file is an error.
//
// from says where the keys came from, for humans: "from keyring_data",
// "from FILE", or that the built-in keys stand in for a missing
// DefaultKeyring. A source without a keyring, or a keyring file that
// cannot be read, is an error wrapping ErrConfig; keys that cannot be
// parsed are a *simplestreams.SignatureError.
func (s BootSource) LoadKeyring(log *slog.Logger) (kr *simplestreams.Keyring, from string, err error) {
	if len(s.KeyringData) > 0 {
		kr, err = simplestreams.ParseKeyring("keyring_data of "+redactURL(s.URL), s.KeyringData)
		return kr, "from keyring_data", err
	}
	if s.Keyring == "" {
		return nil, "", &Error{Msg: fmt.Sprintf("source %s is signed but has no keyring (give one with --keyring)", redactURL(s.URL)), Kind: ErrConfig}
	}
	standard := s.Keyring == DefaultKeyring
	file := s.Keyring
	if standard {
		file = ubuntuKeyringFile
	}
	b, err := os.ReadFile(file)
	if standard && errors.Is(err, fs.ErrNotExist) {
		from = UbuntuKeysName + ": " + DefaultKeyring + " is not on this machine"
		if log != nil {
			log.Info(DefaultKeyring+" is not on this machine: using "+UbuntuKeysName, "source", redactURL(s.URL))
		}
		kr, err = UbuntuKeyring()
		return kr, from, err
	}
	if err != nil {
		return nil, "", &Error{Msg: fmt.Sprintf("keyring %s of source %s", s.Keyring, redactURL(s.URL)), Kind: ErrConfig, Err: unwrapPathError(err),
			Hint: "install the keyring, or give one with --keyring"}
	}
	kr, err = simplestreams.ParseKeyring(s.Keyring, b)
	return kr, "from " + s.Keyring, err
}

// keysComment says which keys a source's signatures are checked with, for
// the comment above it in the sources command's YAML. Reading the keyring
// fails nothing here: the comment says what is wrong.
func keysComment(s BootSource, log *slog.Logger) string {
	if loc, err := simplestreams.Locate(s.URL); err == nil && !loc.Signed() {
		return "keys: none needed, the index " + loc.Index + " is not signed"
	}
	kr, from, err := s.LoadKeyring(log)
	if err != nil {
		return "keys: none usable: " + err.Error()
	}
	var keys []string
	for _, k := range kr.Keys() {
		keys = append(keys, strings.TrimSpace(k.KeyID+" "+k.UserID))
	}
	return "keys: " + strings.Join(keys, ", ") + " (" + from + ")"
}

// redactURL drops the user and password of a URL, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
