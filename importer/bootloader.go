package importer

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ulikunitz/xz"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams"
)

// Caps on what a bootloader archive may unpack to: real ones are a few MiB.
// Variables only so that tests can lower them.
var (
	maxMember      int64 = 64 << 20
	maxArchiveSize int64 = 512 << 20
	maxMembers           = 4096
)

// member is one file of a bootloader archive, stored in the cache by
// content.
type member struct {
	Name   string `json:"name"` // slash-separated, relative to bootloader/<type>/<arch>/
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// archivesDir keeps, inside each snapshot, links of the bootloader
// archives and their member lists, so that cleanup keeps them and the next
// run need not download or extract them again.
const archivesDir = ".bootloader-archives"

func manifestName(archiveSHA string) string { return archiveSHA + ".members" }

// bootloaderArchives returns every archive.tar.xz item of a bootloader, in
// item-name order: images.maas.io ships the UEFI bootloaders as two
// archives in one version (grub2-signed and shim-signed), and MAAS unpacks
// every one (src/provisioningserver/import_images/download_resources.py,
// insert_item, MAAS 3.4).
func bootloaderArchives(b simplestreams.BootImage) ([]simplestreams.File, error) {
	var out []simplestreams.File
	for _, it := range b.Items { // sorted by name
		if it.FType == "archive.tar.xz" || strings.HasSuffix(it.Path, ".tar.xz") {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: bootloader %s has no archive.tar.xz item", simplestreams.ErrInvalid, b.ProductName)
	}
	return out, nil
}

// manifest reads the member list of an extracted archive, and reports
// whether every member is in the cache with its size.
func (s storage) manifest(archiveSHA string) ([]member, bool) {
	b, err := os.ReadFile(s.cache().Path(manifestName(archiveSHA)))
	if err != nil {
		return nil, false
	}
	var ms []member
	if json.Unmarshal(b, &ms) != nil {
		return nil, false
	}
	c := s.cache()
	for _, m := range ms {
		if simplestreams.CheckPath(m.Name) != nil || len(m.SHA256) != 64 || !c.Has(m.SHA256, m.Size) {
			return nil, false
		}
	}
	return ms, true
}

// bootloaderMembers returns the members of every archive of every
// bootloader, by the archive's sha256, extracting an archive into the
// cache unless an earlier run did. Without extract, it reports false as
// soon as one archive has not been extracted.
func (s storage) bootloaderMembers(ctx context.Context, bls []simplestreams.BootImage, extract bool) (map[string][]member, bool, error) {
	out := map[string][]member{}
	for _, b := range bls {
		archives, err := bootloaderArchives(b)
		if err != nil {
			return nil, false, err
		}
		for _, it := range archives {
			if _, done := out[it.SHA256]; done {
				continue
			}
			ms, ok := s.manifest(it.SHA256)
			if !ok {
				if !extract {
					return nil, false, nil
				}
				if err := ctx.Err(); err != nil {
					return nil, false, err
				}
				if ms, err = s.extract(it); err != nil {
					return nil, false, fmt.Errorf("bootloader %s: %w", b.ProductName, err)
				}
			}
			out[it.SHA256] = ms
		}
	}
	return out, true, nil
}

// extract unpacks a verified archive from the cache: each regular member
// is stored once by content in the cache, and the member list is written
// beside the archive. The archive is hostile input: only regular files and
// directories, names confined to the tree, sizes capped, no links.
func (s storage) extract(it simplestreams.File) ([]member, error) {
	archive := s.cache().Path(it.SHA256)
	f, err := os.Open(archive)
	if err != nil {
		return nil, disk.Wrap("opening", archive, err)
	}
	defer f.Close()
	xr, err := xz.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not an xz archive: %v", simplestreams.ErrInvalid, it.Path, err)
	}
	tr := tar.NewReader(xr)
	var (
		members []member
		total   int64
		seen    = map[string]bool{}
	)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: archive %s: %s", simplestreams.ErrInvalid, it.Path, fmt.Sprintf(format, a...))
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("%v", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		if err := simplestreams.CheckPath(name); err != nil {
			return nil, fmt.Errorf("archive %s: member: %w", it.Path, err)
		}
		if strings.Count(name, "/") > 1 {
			// MAAS's bootloader archives are at most one directory
			// deep (x.efi, grub/x.mod), and so is what a rack serves
			// (SPEC §4.1).
			return nil, bad("member %s is more than one directory deep: refused", name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, bad("member %s is not a regular file or a directory (type %q): refused", name, h.Typeflag)
		}
		if seen[name] {
			return nil, bad("member %s appears twice", name)
		}
		seen[name] = true
		if h.Size < 0 || h.Size > maxMember {
			return nil, bad("member %s is larger than %d MiB", name, maxMember>>20)
		}
		if total += h.Size; total > maxArchiveSize || len(members) >= maxMembers {
			return nil, bad("unpacks to more than %d MiB or %d files", maxArchiveSize>>20, maxMembers)
		}
		sha, err := s.cache().Put(io.LimitReader(tr, h.Size), h.Size)
		if err != nil {
			if errors.Is(err, ErrStorage) {
				return nil, err
			}
			return nil, bad("member %s: %v", name, err)
		}
		members = append(members, member{Name: name, SHA256: sha, Size: h.Size})
	}
	b, _ := json.Marshal(members)
	if err := disk.WriteFile(s.cache().Path(manifestName(it.SHA256)), b, fault.WriteMeta); err != nil {
		return nil, err
	}
	return members, nil
}
