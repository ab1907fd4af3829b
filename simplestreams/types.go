// Package simplestreams reads and writes simplestreams metadata, verifies
// clear-signed files against a keyring and selects MAAS boot images; it does
// no I/O of its own: bytes in, values out.
package simplestreams

// Selection filters images. An empty OS or Release, or "*", matches any value.
// A nil list matches any value (as does a list containing "*"); an empty,
// non-nil list matches nothing.
type Selection struct {
	OS        string   `json:"os" yaml:"os"`
	Release   string   `json:"release" yaml:"release"`
	Arches    []string `json:"arches" yaml:"arches,flow"`
	Subarches []string `json:"subarches" yaml:"subarches,flow"`
	Labels    []string `json:"labels" yaml:"labels,flow"`
}

// Image names one boot image: the directory
// <os>/<arch>/<subarch>/<release>/<label> of the boot tree.
type Image struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Subarch string `json:"subarch"`
	Release string `json:"release"`
	Label   string `json:"label"`
}

// BootImage is one selected image: the newest complete version of a product,
// for one subarch.
type BootImage struct {
	Image
	ContentID   string
	ProductName string
	VersionName string
	// Subarches is the product's subarches attribute (or its subarch), as
	// maas.meta records it.
	Subarches string
	// Source is the index, in the list given to Select, of the source that
	// provided the image.
	Source int
	// Items are the version's files (see Version.Files), sorted by Name.
	Items []File
	// Bootloader is the bootloader-type (pxe, uefi, open-firmware …) of a
	// bootloader product, "" for a boot image. A bootloader is recorded as
	// OS = the product's os, Arch, Subarch "generic", Release = the
	// bootloader-type and Label, as MAAS's maas.meta does.
	Bootloader string
}
