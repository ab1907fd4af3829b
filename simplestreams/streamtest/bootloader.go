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

// Bootloader returns a MAAS-shaped bootloader product whose one version
// has an archive.tar.xz of the given members.
func Bootloader(osName, typ, arch, arches, version string, members []TarEntry) Product {
	return Product{
		Name: fmt.Sprintf("com.ubuntu.maas.stable:1:%s:%s:%s", osName, typ, arch),
		Attrs: map[string]any{"os": osName, "arch": arch, "arches": arches, "bootloader-type": typ,
			"label": "stable"},
		Versions: []Version{{Name: version, Items: []Item{{Name: "archive.tar.xz", FType: "archive.tar.xz",
			Path: fmt.Sprintf("bootloaders/%s/%s/%s/%s.tar.xz", typ, arch, version, osName), Content: TarXZ(members)}}}},
	}
}

// Bootloaders are the bootloader products of a small MAAS stream: pxelinux
// for pxe on i386 (serving i386 and amd64) and signed grub for uefi on
// amd64.
func Bootloaders(version string) []Product {
	return []Product{
		Bootloader("pxelinux", "pxe", "i386", "i386,amd64", version, []TarEntry{
			{Name: "pxelinux.0", Body: []byte("pxelinux " + version + "\n")},
			{Name: "ldlinux.c32", Body: []byte("ldlinux " + version + "\n")},
			{Name: "chain.c32", Body: []byte("chain\n")},
		}),
		Bootloader("grub-efi-signed", "uefi", "amd64", "amd64", version, []TarEntry{
			{Name: "grub", Typeflag: tar.TypeDir},
			{Name: "bootx64.efi", Body: []byte("shim " + version + "\n")},
			{Name: "grubx64.efi", Body: []byte("grub " + version + "\n")},
			{Name: "grub/x86_64-efi.txt", Body: []byte("modules\n")},
		}),
		Bootloader("grub-ieee1275", "open-firmware", "ppc64el", "ppc64el", version, []TarEntry{
			{Name: "bootppc64.bin", Body: []byte("grub ppc\n")},
		}),
	}
}
