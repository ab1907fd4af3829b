package streamtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestKeyFiles checks that the generated keyring files belong to the keys
// (run go generate ./simplestreams/streamtest after changing a key).
func TestKeyFiles(t *testing.T) {
	if !bytes.Equal(streamtest.KeyringFile(), streamtest.Keyring(streamtest.Key())) {
		t.Error("testdata/keyring.gpg is not the public part of testdata/test-key.asc")
	}
	if !bytes.Equal(streamtest.OtherKeyringFile(), streamtest.Keyring(streamtest.OtherKey())) {
		t.Error("testdata/other-keyring.gpg is not the public part of testdata/other-key.asc")
	}
	body := []byte("{}\n")
	signed := streamtest.ClearSign(body)
	for name, data := range map[string][]byte{"keyring.gpg": streamtest.KeyringFile(), "keyring.asc": streamtest.ArmoredKeyringFile()} {
		kr, err := ss.ParseKeyring(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := ss.Verify("index.sjson", signed, kr); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
	if demo, err := os.ReadFile("../../testdata/demo/keyring.gpg"); err != nil || !bytes.Equal(demo, streamtest.KeyringFile()) {
		t.Errorf("testdata/demo/keyring.gpg is not the test keyring (%v)", err)
	}
}

// TestSignatureTimeIsFixed: signing twice gives the same bytes, so that
// regenerating the demo stream does not change it.
func TestSignatureTimeIsFixed(t *testing.T) {
	if a, b := streamtest.ClearSign([]byte("x\n")), streamtest.ClearSign([]byte("x\n")); !bytes.Equal(a, b) {
		t.Errorf("two signatures of the same body differ:\n%s\n%s", a, b)
	}
}

// TestGpgvAcceptsKeyringFile runs Debian's gpgv on the committed keyring
// and a signed stream from the builder.
func TestGpgvAcceptsKeyringFile(t *testing.T) {
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		t.Skip("gpgv is not installed (apt-get install gpgv); skipping")
	}
	dir := t.TempDir()
	tree, err := streamtest.Write(dir, streamtest.MAAS(streamtest.Options{Signed: true}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tree.Index, tree.Products} {
		out, err := exec.Command(gpgv, "--keyring", filepath.Join("testdata", "keyring.gpg"), filepath.Join(dir, f)).CombinedOutput()
		if err != nil {
			t.Errorf("gpgv %s: %v\n%s", f, err, out)
		}
		out, err = exec.Command(gpgv, "--keyring", filepath.Join("testdata", "other-keyring.gpg"), filepath.Join(dir, f)).CombinedOutput()
		if err == nil {
			t.Errorf("gpgv %s with the other keyring: accepted\n%s", f, out)
		}
	}
}

// TestWriteListsFiles: every file Write reports is on disk with its size and
// sha256, and the metadata files are listed too.
func TestWriteListsFiles(t *testing.T) {
	dir := t.TempDir()
	tree, err := streamtest.Write(dir, streamtest.MAAS(streamtest.Options{Signed: true, Releases: []string{"jammy", "noble"},
		Arches: []string{"amd64", "arm64"}, Lowlatency: true, KernelSize: 1000, InitrdSize: 70000, SquashfsSize: 1 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	// 2 releases × 2 arches × (3 kernels × 2 files + squashfs + manifest)
	if len(tree.Files) != 2*2*8 {
		t.Errorf("got %d payload files, want 32", len(tree.Files))
	}
	all := map[string]streamtest.File{}
	for p, f := range tree.Files {
		all[p] = f
	}
	for p, f := range tree.Metadata {
		all[p] = f
	}
	if _, ok := tree.Metadata[tree.Index]; !ok {
		t.Errorf("the index %s is not listed", tree.Index)
	}
	if _, ok := tree.Metadata[tree.Products]; !ok {
		t.Errorf("the products file %s is not listed", tree.Products)
	}
	for p, f := range all {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: on disk %d bytes %x, listed %d %s", p, len(b), sum, f.Size, f.SHA256)
		}
	}
	if _, err := streamtest.Write(t.TempDir(), streamtest.Spec{Products: []streamtest.Product{{Name: "p",
		Versions: []streamtest.Version{{Name: "1", Items: []streamtest.Item{{Name: "k", Path: "../escape", Size: 1}}}}}}}); err == nil {
		t.Error("Write accepted an item path that leaves the tree")
	}
}
