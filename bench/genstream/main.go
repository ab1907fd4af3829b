// Command genstream writes the benchmark's MAAS-shaped stream: one image
// per release (a GA kernel, its initrd and a squashfs), signed with the test
// key, with a sources file and the list of payload files.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"maas-import-boot-images/simplestreams/streamtest"
)

func main() {
	out := flag.String("out", "", "directory to write the stream into")
	url := flag.String("url", "", "the URL the stream is served at, for sources.yaml")
	images := flag.Int("images", 4, "number of images (one release each)")
	kernel := flag.Int64("kernel", 8<<20, "kernel size")
	initrd := flag.Int64("initrd", 32<<20, "initrd size")
	squashfs := flag.Int64("squashfs", 200<<20, "squashfs size")
	bump := flag.String("bump", "", "give this release a second, newer version")
	wide := flag.Bool("wide", false, "every kernel of every release on amd64, arm64, ppc64el and s390x, with lowlatency: over 100 images (for the no-op check)")
	flag.Parse()
	var err error
	if *wide {
		err = runWide(*out, *url, *kernel, *initrd, *squashfs)
	} else {
		err = run(*out, *url, *images, *kernel, *initrd, *squashfs, *bump)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genstream:", err)
		os.Exit(1)
	}
}

// runWide writes a stream whose every image is selected: all the releases
// streamtest knows, four arches, GA, HWE and lowlatency kernels.
func runWide(out, url string, kernel, initrd, squashfs int64) error {
	if out == "" || url == "" {
		return fmt.Errorf("-out and -url are required")
	}
	spec := streamtest.MAAS(streamtest.Options{Releases: []string{"noble", "jammy", "focal", "bionic", "plucky"},
		Arches: []string{"amd64", "arm64", "ppc64el", "s390x"}, Lowlatency: true, Signed: true,
		KernelSize: kernel, InitrdSize: initrd, SquashfsSize: squashfs})
	if _, err := streamtest.Write(out, spec); err != nil {
		return err
	}
	return writeSources(out, url, "    - release: '*'\n")
}

func writeSources(out, url, selections string) error {
	keyring := filepath.Join(out, "keyring.gpg")
	if err := os.WriteFile(keyring, streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		return err
	}
	sources := fmt.Sprintf("- url: %s\n  keyring: %s\n  selections:\n%s", url, keyring, selections)
	return os.WriteFile(filepath.Join(out, "sources.yaml"), []byte(sources), 0o644)
}

func run(out, url string, images int, kernel, initrd, squashfs int64, bump string) error {
	if out == "" || url == "" {
		return fmt.Errorf("-out and -url are required")
	}
	releases := []string{"noble", "jammy", "focal", "bionic", "plucky"}
	if images > len(releases) {
		return fmt.Errorf("at most %d images", len(releases))
	}
	spec := streamtest.Spec{Signed: true}
	for _, rel := range releases[:images] {
		versions := []string{"20250101"}
		if rel == bump {
			versions = append(versions, "20250202")
		}
		s := streamtest.MAAS(streamtest.Options{Releases: []string{rel}, Versions: versions,
			KernelSize: kernel, InitrdSize: initrd, SquashfsSize: squashfs})
		for _, p := range s.Products {
			if strings.Contains(p.Name, ":ga-") { // one image per release: the GA kernel
				spec.Products = append(spec.Products, p)
			}
		}
	}
	tree, err := streamtest.Write(out, spec)
	if err != nil {
		return err
	}
	if err := writeSources(out, url, "    - release: '*'\n      subarches: [ga-24.04, ga-22.04, ga-20.04, ga-18.04, ga-25.04]\n"); err != nil {
		return err
	}
	var lines []string
	for _, f := range tree.Files {
		lines = append(lines, fmt.Sprintf("%s %d %s", f.Path, f.Size, f.SHA256))
	}
	sort.Strings(lines)
	return os.WriteFile(filepath.Join(out, "files.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}
