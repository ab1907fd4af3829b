package main

import (
	"os"
	"path/filepath"

	"maas-import-boot-images/simplestreams/streamtest"
)

// writeDemo writes the demo stream (two releases of amd64 and arm64, with
// a lowlatency kernel and images.maas.io's bootloaders, tiny payloads,
// signed with the test key), its keyring and a sources file that selects
// from it.
func writeDemo(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	spec := streamtest.MAAS(streamtest.Options{
		Releases:    []string{"jammy", "noble"},
		Arches:      []string{"amd64", "arm64"},
		Signed:      true,
		Bootloaders: true,
		Lowlatency:  true, // as on images.maas.io, the subarch carries the flavour
	})
	if _, err := streamtest.Write(dir, spec); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "keyring.gpg"), streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		return err
	}
	const sources = `# The demo boot sources: the stream in this directory, signed with the
# test key. Relative paths are relative to this file.
- url: ./
  keyring: keyring.gpg
  selections:
    - os: ubuntu
      release: noble
      arches: [amd64]
    - release: jammy
      arches: amd64
      subarches: [ga-22.04, generic]
`
	return os.WriteFile(filepath.Join(dir, "sources.yaml"), []byte(sources), 0o644)
}
