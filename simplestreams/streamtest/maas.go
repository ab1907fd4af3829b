package streamtest

import (
	"fmt"
	"strings"
)

// Options describe a MAAS-v3-shaped stream: for every release and arch, a GA
// kernel product (subarch ga-<version>, claiming generic), an HWE kernel
// product, optionally a lowlatency flavour of the GA kernel (its subarch
// ga-<version>-lowlatency carries the flavour, as on images.maas.io), and one
// squashfs with its manifest shared by all of them.
type Options struct {
	Releases     []string // default noble
	Arches       []string // default amd64
	Versions     []string // version names, oldest first; default 20250709
	KernelSize   int64    // default 64
	InitrdSize   int64    // default 128
	SquashfsSize int64    // default 256
	Lowlatency   bool
	Signed       bool
	Bootloaders  bool   // add Bootloaders(the newest version) to the stream
	Label        string // default stable
}

// ReleaseVersions maps the releases the package knows to their versions.
var ReleaseVersions = map[string]string{
	"bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04", "plucky": "25.04",
}

// MAAS returns the Spec of a MAAS-v3-shaped stream.
func MAAS(o Options) Spec {
	if len(o.Releases) == 0 {
		o.Releases = []string{"noble"}
	}
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64"}
	}
	if len(o.Versions) == 0 {
		o.Versions = []string{"20250709"}
	}
	if o.KernelSize == 0 {
		o.KernelSize = 64
	}
	if o.InitrdSize == 0 {
		o.InitrdSize = 128
	}
	if o.SquashfsSize == 0 {
		o.SquashfsSize = 256
	}
	if o.Label == "" {
		o.Label = "stable"
	}
	spec := Spec{Signed: o.Signed}
	if o.Bootloaders {
		spec.Bootloaders = Bootloaders(o.Versions[len(o.Versions)-1])
	}
	for _, rel := range o.Releases {
		ver, ok := ReleaseVersions[rel]
		if !ok {
			panic("streamtest: unknown release " + rel)
		}
		letter := rel[:1]
		for _, arch := range o.Arches {
			kernels := []struct{ subarch, kflavor, subarches string }{
				{"ga-" + ver, "generic", strings.Join([]string{"generic", "hwe-" + letter, "ga-" + ver}, ",")},
				{"hwe-" + ver, "generic", strings.Join([]string{"generic", "hwe-" + ver}, ",")},
			}
			if o.Lowlatency {
				// As on images.maas.io, the subarch carries the flavour.
				kernels = append(kernels, struct{ subarch, kflavor, subarches string }{"ga-" + ver + "-lowlatency", "lowlatency", "ga-" + ver + "-lowlatency"})
			}
			for _, k := range kernels {
				name := fmt.Sprintf("com.ubuntu.maas.%s:v3:boot:%s:%s:%s", o.Label, ver, arch, k.subarch)
				p := Product{Name: name, Attrs: map[string]any{
					"arch": arch, "kflavor": k.kflavor, "krel": rel, "label": o.Label, "os": "ubuntu",
					"release": rel, "subarch": k.subarch, "subarches": k.subarches, "version": ver,
				}}
				for _, v := range o.Versions {
					dir := fmt.Sprintf("%s/%s/%s", rel, arch, v)
					kdir := fmt.Sprintf("%s/%s/%s", dir, strings.TrimSuffix(k.subarch, "-"+k.kflavor), k.kflavor)
					p.Versions = append(p.Versions, Version{Name: v, Items: []Item{
						{Name: "boot-kernel", FType: "boot-kernel", Path: kdir + "/boot-kernel", Size: o.KernelSize},
						{Name: "boot-initrd", FType: "boot-initrd", Path: kdir + "/boot-initrd", Size: o.InitrdSize},
						{Name: "squashfs", FType: "squashfs", Path: dir + "/squashfs", Size: o.SquashfsSize},
						{Name: "manifest", FType: "manifest", Path: dir + "/squashfs.manifest", Size: 32},
					}})
				}
				spec.Products = append(spec.Products, p)
			}
		}
	}
	return spec
}
