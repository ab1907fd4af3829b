package keyring

import (
	"testing"

	"maas-import-boot-images/simplestreams"
)

// The fingerprints Ubuntu publishes for its cloud image signing keys. A
// fingerprint is a hash of the key, so these pin the built-in keys.
var ubuntuFingerprints = map[string]string{
	"D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81": "UEC Image Automatic Signing Key <cdimage@ubuntu.com>",
	"4A3CE3CD565D7EB5C810E2B97FF3F408476CF100": "Ubuntu Cloud Image Builder (Canonical Internal Cloud Image Builder) <ubuntu-cloudbuilder-noreply@canonical.com>",
}

// checkUbuntuKeys fails unless kr holds exactly the two Ubuntu keys.
func checkUbuntuKeys(t *testing.T, kr *simplestreams.Keyring) {
	t.Helper()
	keys := kr.Keys()
	if len(keys) != len(ubuntuFingerprints) {
		t.Fatalf("got %d keys, want exactly the %d Ubuntu keys: %+v", len(keys), len(ubuntuFingerprints), keys)
	}
	for _, k := range keys {
		uid, ok := ubuntuFingerprints[k.Fingerprint]
		if !ok {
			t.Errorf("key %s (%s) is not an Ubuntu cloud image key", k.Fingerprint, k.UserID)
			continue
		}
		if k.UserID != uid || k.KeyID != k.Fingerprint[24:] {
			t.Errorf("key %s: user id %q, key id %s; want %q, %s", k.Fingerprint, k.UserID, k.KeyID, uid, k.Fingerprint[24:])
		}
	}
}

// TestUbuntuKeysPinned: the embedded keyring holds exactly the two keys
// Ubuntu publishes, by fingerprint.
func TestUbuntuKeysPinned(t *testing.T) {
	kr, err := Ubuntu()
	if err != nil {
		t.Fatal(err)
	}
	checkUbuntuKeys(t, kr)
}
