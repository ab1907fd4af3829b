package simplestreams_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	ss "maas-import-boot-images/simplestreams"
)

// bigProducts builds a products file of n MAAS-shaped products in memory.
func bigProducts(n int) []byte {
	products := make(map[string]any, n)
	for i := range n {
		arch := []string{"amd64", "arm64", "ppc64el", "s390x"}[i%4]
		release := fmt.Sprintf("rel%03d", i/40)
		sub := fmt.Sprintf("ga-%d.%02d", 10+i/40, i%40)
		versions := map[string]any{}
		for v := range 3 {
			items := map[string]any{}
			for _, it := range []string{"boot-kernel", "boot-initrd", "squashfs", "manifest"} {
				items[it] = map[string]any{"ftype": it, "path": fmt.Sprintf("%s/%s/2025%04d/%s/generic/%s", release, arch, v, sub, it),
					"sha256": fmt.Sprintf("%064x", i*10+v), "size": 123456789 + i, "kpackage": "linux-generic"}
			}
			versions[fmt.Sprintf("2025%04d", v)] = map[string]any{"items": items}
		}
		products[fmt.Sprintf("com.ubuntu.maas.stable:v3:boot:%s:%s:%s", release, arch, sub)] = map[string]any{
			"arch": arch, "kflavor": "generic", "krel": release, "label": "stable", "os": "ubuntu", "release": release,
			"subarch": sub, "subarches": "generic,hwe-a,hwe-b," + sub, "version": "10.04", "versions": versions,
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"content_id": "c", "format": "products:1.0", "products": products}, "", " ")
	return b
}

// BenchmarkParseSelect parses, flattens and selects a ~20 MB products file
// of 5,000 products.
func BenchmarkParseSelect(b *testing.B) {
	data := bigProducts(5000)
	b.Logf("products file: %.1f MB", float64(len(data))/1e6)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := ss.ParseProducts(bytes.Clone(data))
		if err != nil {
			b.Fatal(err)
		}
		ims, err := ss.Select([]ss.Stream{{Products: []*ss.Products{p}, Selections: []ss.Selection{{Arches: []string{"amd64"}}}}}, nil)
		if err != nil || len(ims) == 0 {
			b.Fatal(err)
		}
	}
}
