package importer

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestBuiltinUbuntuKeysRefuseOtherSigners: a source that names the standard
// Ubuntu keyring, on a machine without that file, is checked against the
// built-in Ubuntu keys: a stream signed by another key (the test key) is
// refused with a signature error, nothing is published, and the log says
// that the built-in keys were used. The same stream imports when the file
// is there and holds the signing key, so the refusal is the keys' doing.
func TestBuiltinUbuntuKeysRefuseOtherSigners(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	src := m.source()
	src.KeyringData, src.Keyring = nil, keyring.UbuntuFile

	t.Cleanup(keyring.SetUbuntuFileForTest(filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")))
	storage := t.TempDir()
	var logs syncBuffer
	opts := testOptions(storage)
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := run(t, []simplestreams.BootSource{src}, opts)
	var se *simplestreams.SignatureError
	if !errors.Is(err, simplestreams.ErrSignature) || !errors.As(err, &se) {
		t.Fatalf("got %v, want a signature error", err)
	}
	if se.KeyID != streamtest.Key().PrimaryKey.KeyIdString() || !strings.Contains(err.Error(), "not in the keyring the built-in Ubuntu cloud image keys") {
		t.Errorf("error %q: want it to name the signing key and the built-in keys", err)
	}
	if !strings.Contains(logs.String(), keyring.UbuntuFile+" is not on this machine: using the built-in Ubuntu cloud image keys") {
		t.Errorf("no info line about the built-in keys: %s", logs.String())
	}
	if _, err := os.Lstat(filepath.Join(storage, "current")); !os.IsNotExist(err) {
		t.Errorf("a refused run published a tree: %v", err)
	}

	present := filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")
	if err := os.WriteFile(present, streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		t.Fatal(err)
	}
	restore := keyring.SetUbuntuFileForTest(present)
	defer restore()
	if res := mustRun(t, []simplestreams.BootSource{src}, testOptions(storage)); res.Status != StatusImported {
		t.Errorf("with the file present: status %s", res.Status)
	}
}
