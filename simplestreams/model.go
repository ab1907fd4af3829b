package simplestreams

import (
	"encoding/json"
	"slices"
	"strconv"
)

// The model mirrors the two JSON files field for field, as
// canonical/lxd's shared/simplestreams does: the attributes MAAS reads are
// typed fields and every other one is kept in Extra, so that a file read
// with ParseProducts or ParseIndex can be written back out with MarshalJSON
// and nothing lost. Products, versions and items are maps keyed by name,
// as in the JSON: the keys are unique by construction, a mirror drops what
// it does not hold with delete, and nothing depends on map order because
// Select settles every tie by name and MarshalJSON writes keys sorted.
// Select, Files and MarshalJSON only read a model, so one model may be
// used by any number of goroutines that do not change it.

// Products is a products:1.0 file: the top level's attributes, which every
// product inherits, and the products by name. Extra holds the top level's
// other members, and content_id, format, datatype or updated when the file
// gives "" or another type than a string (see Attrs): a number is read as
// its text, an object or a list (only datatype and updated may be one)
// leaves the field "".
type Products struct {
	ContentID string // "content_id"
	Format    string // "format": products:1.0
	Datatype  string // "datatype": image-ids in MAAS streams
	Updated   string // "updated"
	Attrs
	// Products are the products by name; nil when the file has no
	// "products" (MarshalJSON then writes none).
	Products map[string]Product
}

// Product is one product: its attributes and its versions by name. The
// newest version has the greatest name in byte order.
type Product struct {
	Attrs
	Versions map[string]Version // nil when the product has no "versions"
}

// Version is one version of a product: its attributes and its items by name.
type Version struct {
	Attrs
	Items map[string]Item // nil when the version has no "items"
}

// Item is one item of a version; one with a path is a file to download.
type Item struct {
	Attrs
}

// Attrs are the attributes that one level of a products file (the top
// level, a product, a version or an item) sets itself. Simplestreams lets
// any level set any attribute and the deeper level wins (see Inherit); real
// MAAS streams set os, arch, release, subarch, subarches, kflavor and label
// on products and ftype, path, size and sha256 on items.
//
// A zero field ("" or 0) is written out only from Extra, which holds every
// attribute that has no field and every value a field cannot hold as the
// file wrote it: "" or 0, null, a number given for a string (the field then
// holds its text, as MAAS reads it), a size that is not an integer (Size is
// then -1). Extra's values are JSON text, compact and with <, > and &
// escaped as encoding/json writes them, so that they read back the same
// after json.Marshal. MarshalJSON writes Extra's value over a field's of the
// same name.
//
// A level that sets an attribute to "" or 0 still sets it: it hides the
// parent's value. Only ParseProducts records that; a field set in code
// counts as set when it is not zero.
type Attrs struct {
	OS             string // "os"; an image's os is ubuntu when no level sets one
	Arch           string // "arch"
	Arches         string // "arches": the image arches a bootloader serves, comma-separated
	Subarch        string // "subarch"
	Subarches      string // "subarches": every subarch the kernel serves, comma-separated
	Release        string // "release", e.g. noble
	Version        string // "version": the release's number, e.g. 24.04
	Label          string // "label", e.g. stable
	KFlavor        string // "kflavor": the kernel flavour, e.g. generic
	BootloaderType string // "bootloader-type": pxe, uefi, open-firmware
	FType          string // "ftype", e.g. boot-kernel
	Path           string // "path", relative to the stream's root
	Size           int64  // "size" in bytes; -1 for a value that is not an integer
	SHA256         string // "sha256"
	SHA512         string // "sha512"

	// Extra holds, as JSON text, the attributes that have no field and
	// the values a field cannot hold as the file wrote them (see above).
	Extra map[string]json.RawMessage

	set attrSet // the fields the file sets, to a zero value too
}

// attrSet has bit 1<<i set for fields[i].
type attrSet uint16

// The fields of Attrs, as indexes into fields.
const (
	fOS = iota
	fArch
	fArches
	fSubarch
	fSubarches
	fRelease
	fVersion
	fLabel
	fKFlavor
	fBootloaderType
	fFType
	fPath
	fSize
	fSHA256
	fSHA512
	nFields
)

// field describes one attribute that Attrs has a field for.
type field struct {
	name string
	// identity: says which image (or bootloader) a version is; the items
	// of one version must agree on it, since one version is one image.
	identity bool
	// dirName: becomes a directory name, so is checked like a path.
	dirName bool
	// loose: a value that is not a JSON scalar is kept in Extra and
	// ignored, where for the others it refuses the file.
	loose bool
}

var fields = [nFields]field{
	fOS:             {name: "os", identity: true, dirName: true},
	fArch:           {name: "arch", identity: true, dirName: true},
	fArches:         {name: "arches", identity: true, loose: true},
	fSubarch:        {name: "subarch", identity: true, dirName: true},
	fSubarches:      {name: "subarches", identity: true},
	fRelease:        {name: "release", identity: true, dirName: true},
	fVersion:        {name: "version", identity: true},
	fLabel:          {name: "label", identity: true, dirName: true},
	fKFlavor:        {name: "kflavor", identity: true, dirName: true},
	fBootloaderType: {name: "bootloader-type", identity: true, dirName: true},
	fFType:          {name: "ftype"},
	fPath:           {name: "path"},
	fSize:           {name: "size"},
	fSHA256:         {name: "sha256"},
	fSHA512:         {name: "sha512"},
}

// fieldIndex returns the index in fields of the attribute named key, or -1;
// a switch, since it runs for every member of a products file.
func fieldIndex(key string) int {
	switch key {
	case "os":
		return fOS
	case "arch":
		return fArch
	case "arches":
		return fArches
	case "subarch":
		return fSubarch
	case "subarches":
		return fSubarches
	case "release":
		return fRelease
	case "version":
		return fVersion
	case "label":
		return fLabel
	case "kflavor":
		return fKFlavor
	case "bootloader-type":
		return fBootloaderType
	case "ftype":
		return fFType
	case "path":
		return fPath
	case "size":
		return fSize
	case "sha256":
		return fSHA256
	case "sha512":
		return fSHA512
	}
	return -1
}

// has reports whether a sets field i: the file set it, or it is not zero.
func (a *Attrs) has(i int) bool {
	if a.set&(1<<i) != 0 {
		return true
	}
	if i == fSize {
		return a.Size != 0
	}
	return *a.str(i) != ""
}

// get returns the value of string field i.
func (a *Attrs) get(i int) string { return *a.str(i) }

// str returns string field i (a method, not a function in fields, so that
// the compiler sees that a does not escape).
func (a *Attrs) str(i int) *string {
	switch i {
	case fOS:
		return &a.OS
	case fArch:
		return &a.Arch
	case fArches:
		return &a.Arches
	case fSubarch:
		return &a.Subarch
	case fSubarches:
		return &a.Subarches
	case fRelease:
		return &a.Release
	case fVersion:
		return &a.Version
	case fLabel:
		return &a.Label
	case fKFlavor:
		return &a.KFlavor
	case fBootloaderType:
		return &a.BootloaderType
	case fFType:
		return &a.FType
	case fPath:
		return &a.Path
	case fSHA256:
		return &a.SHA256
	case fSHA512:
		return &a.SHA512
	}
	panic("simplestreams: no string field " + strconv.Itoa(i))
}

// Inherit returns the attributes in force at a's level when parent are
// those in force at its parent's: every field a sets (see Attrs), else
// parent's. Chained it gives simplestreams inheritance, top → product →
// version → item, deeper wins:
//
//	item.Inherit(version.Inherit(product.Inherit(top.Attrs)))
//
// Extra is not inherited: the result's Extra is a's own map, not a copy.
func (a Attrs) Inherit(parent Attrs) Attrs {
	out := parent
	out.Extra = a.Extra
	out.set = parent.set | a.set
	for i := range fields {
		switch {
		case !a.has(i):
		case i == fSize:
			out.Size = a.Size
		default:
			*out.str(i) = a.get(i)
		}
	}
	return out
}

// sortedKeys appends the keys of m to dst in byte order; a dst with room
// on the caller's stack saves an allocation in the hot paths.
func sortedKeys[V any](dst []string, m map[string]V) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// Index is an index:1.0 file.
type Index struct {
	Format  string                // "format": index:1.0
	Updated string                // "updated"
	Index   map[string]IndexEntry // "index": the entries by content id
	// Extra holds every other member as JSON text, and a string member
	// that is "" or null; see Attrs.
	Extra map[string]json.RawMessage
}

// IndexEntry is one content id of an index.
type IndexEntry struct {
	Path     string   // "path" of the products file, relative to the stream's root
	Format   string   // "format": products:1.0 for the entries MAAS reads
	Datatype string   // "datatype": image-ids in MAAS streams (not filtered on)
	Updated  string   // "updated"
	Products []string // "products": the names of the products in the file
	// Extra holds every other member as JSON text, and a string member
	// that is "" or null, or a products list with null in it; see Attrs.
	Extra map[string]json.RawMessage
}

// ContentIDs returns the ids of the entries in products:1.0 format, sorted.
func (ix *Index) ContentIDs() []string {
	var ids []string
	for id, e := range ix.Index {
		if e.Format == "products:1.0" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// File is one file of a version to download: an item with a path, with its
// attributes inherited from the version, product and top level.
type File struct {
	Name   string // the item's key within the version, e.g. "boot-kernel"
	FType  string // its ftype attribute, e.g. "boot-kernel"
	Path   string // relative to the stream root; checked by CheckPath
	Size   int64
	SHA256 string // 64 lower-case hex digits
	SHA512 string // optional; 128 hex digits when present
}
