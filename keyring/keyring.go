// Package keyring reads the OpenPGP keys that a boot source's signed
// metadata is checked with, and holds Ubuntu's cloud image keys, built in.
package keyring

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"maas-import-boot-images/internal/redact"
	"maas-import-boot-images/simplestreams"
)

// UbuntuFile is the keyring MAAS names for images.maas.io, from Ubuntu's
// ubuntu-cloudimage-keyring package.
const UbuntuFile = "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg"

// UbuntuName names the built-in keys in messages.
const UbuntuName = "the built-in Ubuntu cloud image keys"

// ubuntuKeys is the public part of UbuntuFile, armored (see README.md): the
// keys images.maas.io signs with.
//
//go:embed ubuntu-cloudimage-keyring.asc
var ubuntuKeys []byte

// ubuntuFile is the file that a source naming UbuntuFile reads. When it
// does not exist, the built-in keys stand in for it. Tests point it at a
// missing file, so that they behave the same on machines that have
// UbuntuFile.
var ubuntuFile = UbuntuFile

// SetUbuntuFileForTest makes a source that names UbuntuFile read path
// instead, and returns a function that undoes it. It is for tests (of this
// and other packages) that must behave the same whether or not this machine
// has UbuntuFile; a test that calls it must not run in parallel with others.
func SetUbuntuFileForTest(path string) (restore func()) {
	old := ubuntuFile
	ubuntuFile = path
	return func() { ubuntuFile = old }
}

// ErrUnreadable: a source is signed but its keyring is missing or cannot be
// read (a configuration error, exit 2).
var ErrUnreadable = errors.New("keyring not usable")

// Error is a keyring that cannot be read. Its message names the keyring and
// the source.
type Error struct {
	Msg  string
	Hint string // a second line for the user
	Err  error  // the cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() []error { return []error{ErrUnreadable, e.Err} }

// Ubuntu returns the built-in Ubuntu cloud image keys.
func Ubuntu() (*simplestreams.Keyring, error) {
	return simplestreams.ParseKeyring(UbuntuName, ubuntuKeys)
}

// Usable says whether a source naming the keyring file path can be checked
// on this machine: the file exists, or it is UbuntuFile, for which the
// built-in keys stand in.
func Usable(path string) bool {
	if path == UbuntuFile {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Load reads the keys that the source's signatures are checked with: its
// keyring_data, else its keyring file. When the keyring file is exactly
// UbuntuFile and that file does not exist on this machine, the built-in
// Ubuntu cloud image keys are used instead, and an info line on log (nil:
// discard) says so; any other missing file is an error.
//
// from says where the keys came from, for humans: "from keyring_data",
// "from FILE", or that the built-in keys stand in for a missing UbuntuFile.
// A source without a keyring, or a keyring file that cannot be read, is an
// *Error wrapping ErrUnreadable; keys that cannot be parsed are a
// *simplestreams.SignatureError.
func Load(s simplestreams.BootSource, log *slog.Logger) (kr *simplestreams.Keyring, from string, err error) {
	if len(s.KeyringData) > 0 {
		kr, err = simplestreams.ParseKeyring("keyring_data of "+redact.URL(s.URL), s.KeyringData)
		return kr, "from keyring_data", err
	}
	if s.Keyring == "" {
		return nil, "", &Error{Msg: fmt.Sprintf("source %s is signed but has no keyring (give one with --keyring)", redact.URL(s.URL))}
	}
	standard := s.Keyring == UbuntuFile
	file := s.Keyring
	if standard {
		file = ubuntuFile
	}
	b, err := os.ReadFile(file)
	if standard && errors.Is(err, fs.ErrNotExist) {
		from = UbuntuName + ": " + UbuntuFile + " is not on this machine"
		if log != nil {
			log.Info(UbuntuFile+" is not on this machine: using "+UbuntuName, "source", redact.URL(s.URL))
		}
		kr, err = Ubuntu()
		return kr, from, err
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, "", &Error{Msg: fmt.Sprintf("keyring %s of source %s", s.Keyring, redact.URL(s.URL)), Err: err,
			Hint: "install the keyring, or give one with --keyring"}
	}
	kr, err = simplestreams.ParseKeyring(s.Keyring, b)
	return kr, "from " + s.Keyring, err
}

// Hint returns the hint of a keyring error, or "".
func Hint(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
