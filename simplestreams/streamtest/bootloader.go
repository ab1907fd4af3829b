package streamtest

import (
	"archive/tar"
	"bytes"
	"fmt"

	"github.com/ulikunitz/xz"
)

// TarEntry is one member of a test archive. Typeflag defaults to a
// regular file; Size, when set, overrides the header's size.
type TarEntry struct {
	Name     string
	Body     []byte
	Typeflag byte
	Linkname string
	Size     int64
}

// TarXZ returns an xz-compressed tar archive of the entries, hostile ones
// included: whatever the entries say is written as it is.
func TarXZ(entries []TarEntry) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Body)), Typeflag: e.Typeflag, Linkname: e.Linkname, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.Size != 0 {
			h.Size = e.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(fmt.Sprintf("streamtest: tar header %q: %v", e.Name, err))
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write(e.Body)
		}
	}
	_ = tw.Flush() // no Close: a lying Size must not make this panic
	var xb bytes.Buffer
	w, err := xz.NewWriter(&xb)
	if err != nil {
		panic(err)
	}
	if _, err := w.Write(tb.Bytes()); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return xb.Bytes()
}

// Archive is one archive.tar.xz item of a bootloader version: images.maas.io
// names the item after the source package it was built from.
type Archive struct {
	Name    string // the item name, e.g. "shim-signed"; the file is <Name>.tar.xz
	Members []TarEntry
}

// Bootloader returns a MAAS-shaped bootloader product whose one version
// has the given archive.tar.xz items.
func Bootloader(osName, typ, arch, arches, version string, archives ...Archive) Product {
	var items []Item
	for _, a := range archives {
		items = append(items, Item{Name: a.Name, FType: "archive.tar.xz",
			Path: fmt.Sprintf("bootloaders/%s/%s/%s/%s.tar.xz", typ, arch, version, a.Name), Content: TarXZ(a.Members)})
	}
	return Product{
		Name: fmt.Sprintf("com.ubuntu.maas.stable:1:%s:%s:%s", osName, typ, arch),
		Attrs: map[string]any{"os": osName, "arch": arch, "arches": arches, "bootloader-type": typ,
			"label": "stable"},
		Versions: []Version{{Name: version, Items: items}},
	}
}

// Bootloaders are the bootloader products of a MAAS stream, shaped like
// images.maas.io's: pxelinux for pxe on i386 (serving i386 and amd64) from
// two archives (pxelinux and syslinux-common, with a module, menu.c32, that
// only pxelinux's syslinux/ search path finds), signed grub and shim for
// uefi on amd64 and arm64 as two archives each (bootx64.efi and
// bootaa64.efi come from shim-signed), and grub for open-firmware on
// ppc64el. Every member's bytes name the version.
func Bootloaders(version string) []Product {
	body := func(what string) []byte { return []byte(what + " " + version + "\n") }
	return []Product{
		Bootloader("pxelinux", "pxe", "i386", "i386,amd64", version,
			Archive{"pxelinux", []TarEntry{
				{Name: "lpxelinux.0", Body: body("lpxelinux")},
				{Name: "pxelinux.0", Body: body("pxelinux")},
			}},
			Archive{"syslinux-common", []TarEntry{
				{Name: "chain.c32", Body: body("chain")},
				{Name: "ifcpu64.c32", Body: body("ifcpu64")},
				{Name: "ldlinux.c32", Body: body("ldlinux")},
				{Name: "libcom32.c32", Body: body("libcom32")},
				{Name: "libutil.c32", Body: body("libutil")},
				{Name: "menu.c32", Body: body("menu")},
			}}),
		Bootloader("grub-efi-signed", "uefi", "amd64", "amd64", version,
			Archive{"grub2-signed", []TarEntry{
				{Name: "grub", Typeflag: tar.TypeDir},
				{Name: "grubx64.efi", Body: body("grub amd64")},
				{Name: "grub/x86_64-efi.txt", Body: body("modules")},
			}},
			Archive{"shim-signed", []TarEntry{{Name: "bootx64.efi", Body: body("shim amd64")}}}),
		Bootloader("grub-efi-signed", "uefi", "arm64", "arm64", version,
			Archive{"grub2-signed", []TarEntry{{Name: "grubaa64.efi", Body: body("grub arm64")}}},
			Archive{"shim-signed", []TarEntry{{Name: "bootaa64.efi", Body: body("shim arm64")}}}),
		Bootloader("grub-ieee1275", "open-firmware", "ppc64el", "ppc64el", version,
			Archive{"grub2", []TarEntry{{Name: "bootppc64.bin", Body: body("grub ppc64el")}}}),
	}
}
