package importer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"

	"maas-import-boot-images/simplestreams"
)

// metaEntry is what maas.meta records of one image.
type metaEntry struct {
	ContentID   string `json:"content_id"`
	Path        string `json:"path"`
	ProductName string `json:"product_name"`
	Subarches   string `json:"subarches"`
	VersionName string `json:"version_name"`
}

// encodeMeta writes maas.meta for the images exactly as MAAS does, i.e. as
// Python's json.dumps(meta, sort_keys=True): ", " and ": " separators,
// keys in code point order, non-ASCII escaped as \uXXXX, no newline.
func encodeMeta(images []simplestreams.BootImage) []byte {
	tree := map[string]any{}
	for _, im := range images {
		path := ""
		if len(im.Items) > 0 {
			path = im.Items[0].Path
		}
		node := tree
		for _, k := range []string{im.OS, im.Arch, im.Subarch, im.Release} {
			next, ok := node[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[k] = next
			}
			node = next
		}
		node[im.Label] = map[string]any{
			"content_id": im.ContentID, "path": path, "product_name": im.ProductName,
			"subarches": im.Subarches, "version_name": im.VersionName,
		}
	}
	var b strings.Builder
	writePy(&b, tree)
	return []byte(b.String())
}

func writePy(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		writePyString(b, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order of UTF-8 is code point order
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, k)
			b.WriteString(": ")
			writePy(b, v[k])
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("maas.meta: unexpected %T", v))
	}
}

func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e: // Python escapes all but printable ASCII
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
