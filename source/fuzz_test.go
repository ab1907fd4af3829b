package source

import (
	"context"
	"encoding/json"
	"maas-import-boot-images/simplestreams"
	"net/url"
	"testing"
)

func FuzzFile(f *testing.F) {
	f.Add([]byte("boot:\n  configure_me: no\n  sources:\n    - path: m/\n      keyring: k\n      selections:\n        - release: noble\n          arches: amd64\n"))
	f.Add([]byte("- url: http://x/\n  keyring_data: aGVsbG8=\n  selections: [{os: ubuntu, release: '*', arches: [a, b], labels: ~}]\n"))
	f.Add([]byte("- &a {url: x}\n- *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseFile("/etc/maas/sources.yaml", data, nil)
		if err == nil && len(cfg.Sources) == 0 {
			t.Fatal("no error and no sources")
		}
		for _, s := range cfgSources(cfg) {
			if s.URL == "" {
				t.Fatal("a source without url")
			}
		}
	})
}

func cfgSources(c *Config) []simplestreams.BootSource {
	if c == nil {
		return nil
	}
	return c.Sources
}

func FuzzRegionAnswer(f *testing.F) {
	f.Add([]byte(`[{"url": "http://images.maas.io/ephemeral-v3/stable/", "keyring_filename": "", "keyring_data": "aGVsbG8=", "selections": [{"os": "ubuntu", "release": "noble", "arches": ["amd64"], "subarches": ["*"], "labels": ["*"]}]}]`))
	f.Add([]byte(`[{"url": "x", "selections": [{"arches": "amd64", "labels": null}]}]`))
	base, _ := url.Parse("http://region:5240/MAAS/")
	r := &regionSource{base: base, opts: RegionOptions{URL: base.String(), ClusterUUID: "c"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var answer []regionSourceJSON
		if json.Unmarshal(data, &answer) != nil {
			return
		}
		for i, a := range answer {
			if a.Selections == nil {
				continue // would be fetched from the region
			}
			s, err := r.convert(context.Background(), i, a)
			if err == nil && s.URL == "" {
				t.Fatal("a source without url")
			}
		}
	})
}
