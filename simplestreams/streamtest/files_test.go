package streamtest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b", "a"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("abc"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := Names(t, dir); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names: %v", got)
	}
	// sha256("abc"), FIPS 180-2 appendix B.1.
	if got := SHA256File(t, filepath.Join(dir, "a")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("SHA256File: %s", got)
	}
}
