package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"maas-import-boot-images/simplestreams"
)

// tree is the content of a snapshot besides maas.meta: hard links of cache
// files, and the one symlink a rack needs (SPEC §4.1).
type tree struct {
	links    []link
	symlinks []symlink
	// generated are cache files the importer writes itself rather than
	// downloads (MAAS's GRUB pre-loader), by cache name.
	generated map[string][]byte
	// warnings are about the stream, for the log: bootloader members that
	// two archives of one version both carry.
	warnings []string
}

// link is one file of a snapshot: its path relative to the snapshot and
// the cache file it is a link of.
type link struct {
	rel       string
	cacheName string
	size      int64
}

// symlink is a relative symlink of a snapshot.
type symlink struct{ rel, target string }

// The names a MAAS rack serves from the top of its TFTP root, and where
// each comes from (SPEC §4.1). They follow MAAS 3.4's boot methods
// (src/provisioningserver/boot/pxe.py, grub.py: bootloader_files and
// bootloader_arches of PXEBootMethod, UEFIAMD64BootMethod,
// UEFIARM64BootMethod, OpenFirmwarePPC64ELBootMethod), which MAAS's own
// import links to the top of each snapshot (boot/__init__.py,
// link_bootloader); rackd serves them from there and makes none itself.
var topLevel = []struct {
	dirs  []string // the first that the tree has wins
	names []string
}{
	{[]string{"bootloader/pxe/i386", "bootloader/pxe/amd64"},
		[]string{"lpxelinux.0", "pxelinux.0", "chain.c32", "ifcpu64.c32", "ldlinux.c32", "libcom32.c32", "libutil.c32"}},
	{[]string{"bootloader/uefi/amd64"}, []string{"bootx64.efi", "grubx64.efi"}},
	{[]string{"bootloader/uefi/arm64"}, []string{"bootaa64.efi", "grubaa64.efi"}},
	{[]string{"bootloader/open-firmware/ppc64el", "bootloader/open-firmware/ppc64"}, []string{"bootppc64.bin"}},
}

// syslinuxLink is pxelinux's module search path: it looks in / and then
// in /syslinux, so MAAS points syslinux at the PXE bootloader's directory
// to serve the modules it does not link (pxe.py,
// _link_simplestream_bootloaders).
const syslinuxLink = "syslinux"

// grubPreloader is MAAS 3.4's grub/grub.cfg (boot/grub.py, CONFIG_FILE),
// byte for byte: it loads the per-machine configuration that rackd
// generates, with no protocol prefix so that GRUB keeps the one it booted
// with.
const grubPreloader = `
# MAAS GRUB2 pre-loader configuration file

# Load based on MAC address first.
configfile /grub/grub.cfg-${net_default_mac}

# Failed to load based on MAC address. Load based on the CPU
# architecture.
configfile /grub/grub.cfg-default-${grub_cpu}
`

const grubConfig = "grub/grub.cfg"

// snapshotTree lists the files of the snapshot of these images and
// bootloaders (members maps an archive's sha256 to its member list): the
// images' files, the bootloaders' archives, member lists and members, and
// the top-level names of SPEC §4.1. An item whose base name repeats within
// one image is linked once, the first by item name; a bootloader member
// that two archives of one version carry is the later one's, in item-name
// order. A tree whose paths would clash (a file where another needs a
// directory) is ErrInvalid: the stream names impossible images.
func (s storage) snapshotTree(images, bls []simplestreams.BootImage, members map[string][]member) (*tree, error) {
	t := &tree{generated: map[string][]byte{}}
	at := map[string]int{} // rel → index in t.links
	add := func(l link) {
		if _, ok := at[l.rel]; !ok {
			at[l.rel] = len(t.links)
			t.links = append(t.links, l)
		}
	}
	for _, im := range images {
		for _, it := range im.Items {
			add(link{filepath.Join(imageDir(im), path.Base(it.Path)), it.SHA256, it.Size})
		}
	}
	uefi := false
	for _, b := range bls {
		archives, err := bootloaderArchives(b)
		if err != nil {
			return nil, err
		}
		uefi = uefi || b.Bootloader == "uefi" || b.Bootloader == "open-firmware"
		from := map[string]string{} // member rel → the archive item that gave it
		for _, it := range archives {
			add(link{filepath.Join(archivesDir, it.SHA256), it.SHA256, it.Size})
			if fi, err := os.Stat(s.cache().Path(manifestName(it.SHA256))); err == nil {
				add(link{filepath.Join(archivesDir, manifestName(it.SHA256)), manifestName(it.SHA256), fi.Size()})
			}
			for _, m := range members[it.SHA256] {
				l := link{filepath.Join(bootloaderDir(b), filepath.FromSlash(m.Name)), m.SHA256, m.Size}
				if prev, ok := from[l.rel]; ok {
					t.warnings = append(t.warnings, fmt.Sprintf("bootloader %s: %s is in archives %s and %s; the one in %s is used", b.ProductName, m.Name, prev, it.Name, it.Name))
					t.links[at[l.rel]] = l
				} else {
					add(l)
				}
				from[l.rel] = it.Name
			}
		}
	}
	t.addTopLevel(at)
	if uefi {
		sum := sha256.Sum256([]byte(grubPreloader))
		name := hex.EncodeToString(sum[:])
		t.generated[name] = []byte(grubPreloader)
		add(link{filepath.FromSlash(grubConfig), name, int64(len(grubPreloader))})
	}
	return t, t.checkClashes()
}

// bootloaderDir is a bootloader's directory relative to a snapshot.
func bootloaderDir(b simplestreams.BootImage) string {
	return filepath.Join("bootloader", b.Bootloader, b.Arch)
}

// addTopLevel links the names a rack serves at the top of the tree to the
// bootloader members they name, and points syslinux at the PXE directory.
func (t *tree) addTopLevel(at map[string]int) {
	for _, group := range topLevel {
		for _, dir := range group.dirs {
			member := func(name string) (link, bool) {
				i, ok := at[filepath.Join(filepath.FromSlash(dir), name)]
				if !ok {
					return link{}, false
				}
				return t.links[i], true
			}
			found := false
			for _, name := range group.names {
				l, ok := member(name)
				if name == "pxelinux.0" {
					// MAAS 2.5+ hands out lpxelinux.0 and makes
					// pxelinux.0 the same file, for DHCP servers
					// that name the old one (pxe.py, link_bootloader).
					if lp, ok2 := member("lpxelinux.0"); ok2 {
						l, ok = lp, true
					}
				}
				if ok {
					found = true
					at[name] = len(t.links)
					t.links = append(t.links, link{name, l.cacheName, l.size})
				}
			}
			if found {
				if isPXEDir(dir) {
					t.symlinks = append(t.symlinks, symlink{syslinuxLink, dir})
				}
				break
			}
		}
	}
}

// checkClashes refuses a tree in which one path is both a file and the
// parent directory of another (an image whose os is named like a
// top-level file, say), before anything is written.
func (t *tree) checkClashes() error {
	files := map[string]bool{}
	for _, l := range t.links {
		files[l.rel] = true
	}
	for _, sl := range t.symlinks {
		files[sl.rel] = true
	}
	for _, l := range t.links {
		for d := filepath.Dir(l.rel); d != "."; d = filepath.Dir(d) {
			if files[d] {
				return fmt.Errorf("%w: the boot tree would need %s both as a file and as the directory of %s", simplestreams.ErrInvalid, d, l.rel)
			}
		}
	}
	return nil
}

// isSyslinuxLink says whether a symlink found in a snapshot is the one
// snapshotTree makes.
func isSyslinuxLink(rel, target string) bool {
	return rel == syslinuxLink && isPXEDir(target)
}

// isPXEDir says whether dir is one of the PXE bootloader directories that
// the top-level names come from (topLevel's first group).
func isPXEDir(dir string) bool { return slices.Contains(topLevel[0].dirs, dir) }

// storeGenerated writes the generated files that the cache lacks.
func (s storage) storeGenerated(t *tree) error {
	c := s.cache()
	for name, b := range t.generated {
		if c.Has(name, int64(len(b))) {
			continue
		}
		if _, err := c.Put(bytes.NewReader(b), int64(len(b))); err != nil {
			return err
		}
	}
	return nil
}
