package source_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"maas-import-boot-images/fetch"
	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/source"
	"maas-import-boot-images/source/regiontest"
)

const (
	key     = "ck:tk:ts3cr3t"
	cluster = "6b2a1c4e-0000-4000-8000-000000000001"
)

var keyring = []byte("not really a keyring, but bytes")

// want is what every backend of the shared suite resolves.
func want() []ss.BootSource {
	return []ss.BootSource{{
		URL:         "http://images.example.com/ephemeral-v3/stable/",
		KeyringData: keyring,
		Selections: []ss.Selection{
			{OS: "ubuntu", Release: "noble", Arches: []string{"amd64", "arm64"}, Subarches: []string{"*"}, Labels: []string{"*"}},
			{OS: "", Release: "jammy", Arches: []string{"amd64"}},
		},
	}}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var kd = base64.StdEncoding.EncodeToString(keyring)

func regionSources() []regiontest.Source {
	return []regiontest.Source{{URL: "http://images.example.com/ephemeral-v3/stable/", KeyringData: kd,
		Selections: []map[string]any{
			{"os": "ubuntu", "release": "noble", "arches": []string{"amd64", "arm64"}, "subarches": []string{"*"}, "labels": []string{"*"}},
			{"release": "jammy", "arches": "amd64", "subarches": nil},
		}}}
}

// TestSharedSuite runs the same expectations against every backend.
func TestSharedSuite(t *testing.T) {
	backends := map[string]func(t *testing.T) source.Source{
		"file 1.6": func(t *testing.T) source.Source {
			return source.NewFile(writeFile(t, "sources.yaml", `
- url: http://images.example.com/ephemeral-v3/stable/
  keyring_data: `+kd+`
  selections:
    - os: ubuntu
      release: noble
      arches: [amd64, arm64]
      subarches: ["*"]
      labels: ["*"]
    - release: jammy
      arches: amd64
`), nil)
		},
		"file 1.6 json": func(t *testing.T) source.Source {
			return source.NewFile(writeFile(t, "sources.json", `[{"url": "http://images.example.com/ephemeral-v3/stable/", "keyring_data": "`+kd+`",
 "selections": [{"os": "ubuntu", "release": "noble", "arches": ["amd64", "arm64"], "subarches": ["*"], "labels": ["*"]},
  {"release": "jammy", "arches": "amd64", "labels": null}]}]`), nil)
		},
		"region per-cluster": func(t *testing.T) source.Source {
			r := regiontest.New(t, regiontest.Options{Cluster: cluster, Sources: regionSources(), Embed: true})
			s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), ClusterUUID: cluster})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"region 2.0": func(t *testing.T) source.Source {
			r := regiontest.New(t, regiontest.Options{Key: key, Sources: regionSources()})
			s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), APIKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, mk := range backends {
		t.Run(name, func(t *testing.T) {
			cfg, err := mk(t).Resolve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want(), cfg.Sources); d != "" {
				t.Errorf("sources (-want +got):\n%s", d)
			}
			if cfg.Origin == "" {
				t.Error("no origin")
			}
			// Round trip through the sources command's output.
			for _, format := range []string{"yaml", "json"} {
				out, err := source.Marshal(cfg, format, nil)
				if err != nil {
					t.Fatal(err)
				}
				back, err := source.NewFile(writeFile(t, "saved."+format, string(out)), nil).Resolve(context.Background())
				if err != nil {
					t.Fatalf("%s output does not read back: %v\n%s", format, err, out)
				}
				if d := cmp.Diff(normal(cfg.Sources), normal(back.Sources)); d != "" {
					t.Errorf("%s round trip (-want +got):\n%s", format, d)
				}
			}
		})
	}
	// The default backend, with its own expectations.
	cfg, err := source.NewDefault(nil, nil).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantDefault := []ss.BootSource{{URL: source.DefaultURL, Keyring: source.DefaultKeyring, Selections: []ss.Selection{
		{OS: "ubuntu", Release: "noble", Arches: []string{"amd64"}, Subarches: []string{"*"}, Labels: []string{"*"}}}}}
	if d := cmp.Diff(wantDefault, cfg.Sources); d != "" {
		t.Errorf("default (-want +got):\n%s", d)
	}
	cfg, _ = source.NewDefault([]string{"noble", "jammy"}, []string{"amd64", "arm64"}).Resolve(context.Background())
	if s := cfg.Sources[0].Selections; len(s) != 2 || s[1].Release != "jammy" || len(s[1].Arches) != 2 {
		t.Errorf("default with releases and arches: %+v", s)
	}
}

// normal makes "*" and nil the same, as they mean the same.
func normal(srcs []ss.BootSource) []ss.BootSource {
	out := append([]ss.BootSource(nil), srcs...)
	for i := range out {
		sels := append([]ss.Selection(nil), out[i].Selections...)
		for j := range sels {
			for _, l := range []*[]string{&sels[j].Arches, &sels[j].Subarches, &sels[j].Labels} {
				if *l == nil {
					*l = []string{"*"}
				}
			}
			if sels[j].OS == "" {
				sels[j].OS = "*"
			}
			if sels[j].Release == "" {
				sels[j].Release = "*"
			}
		}
		out[i].Selections = sels
	}
	return out
}

func TestLegacyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bootresources.yaml")
	os.WriteFile(p, []byte(`
boot:
  configure_me: yes
  storage: "/srv/boot/"
  sources:
    - path: "http://images.maas.io/ephemeral-v3/stable/"
      keyring: "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg"
      selections:
        - release: "noble"
          arches: ["amd64", "arm64"]
        - release: "jammy"
          arches: amd64
    - path: "mirror/"
      keyring: "mirror-keyring.gpg"
      selections:
        - release: "*"
`), 0o644)
	var logs strings.Builder
	cfg, err := source.NewFile(p, slogTo(&logs)).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []ss.BootSource{
		{URL: "http://images.maas.io/ephemeral-v3/stable/", Keyring: "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg",
			Selections: []ss.Selection{{Release: "noble", Arches: []string{"amd64", "arm64"}}, {Release: "jammy", Arches: []string{"amd64"}}}},
		{URL: filepath.Join(dir, "mirror") + "/", Keyring: filepath.Join(dir, "mirror-keyring.gpg"), Selections: []ss.Selection{{Release: "*"}}},
	}
	if d := cmp.Diff(want, cfg.Sources); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if cfg.Storage != "/srv/boot/" {
		t.Errorf("storage: got %q", cfg.Storage)
	}
	// Choose reads the file, so that a caller knows the storage to lock
	// before it resolves; a file without storage names the default.
	b, err := source.Choose(source.Choice{Config: p})
	if err != nil || b.Storage != "/srv/boot/" {
		t.Errorf("Choose: storage %q, %v; want /srv/boot/", b.Storage, err)
	}
	bare := filepath.Join(dir, "bare.yaml")
	os.WriteFile(bare, []byte("boot:\n  sources:\n    - path: http://x/\n      selections: [{release: noble}]\n"), 0o644)
	if b, err := source.Choose(source.Choice{Config: bare}); err != nil || b.Storage != source.DefaultStorage {
		t.Errorf("a 1.5 file naming no storage: %v, storage %q; want %s", err, b.Storage, source.DefaultStorage)
	}
	list := filepath.Join(dir, "list.yaml")
	os.WriteFile(list, []byte("- url: http://x/\n  selections: [{release: noble}]\n"), 0o644)
	if b, err := source.Choose(source.Choice{Config: list}); err != nil || b.Storage != "" {
		t.Errorf("a 1.6 list: %v, storage %q; want none", err, b.Storage)
	}
	if !strings.Contains(logs.String(), "configure_me") {
		t.Errorf("no warning for configure_me: yes; logs: %s", logs.String())
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          error
		line          string
	}{
		{"unknown key", "- url: http://x/\n  selection: []\n", source.ErrConfig, "line 2: source: unknown key \"selection\""},
		{"key of the other shape", "- path: http://x/\n", source.ErrConfig, "line 1: source: unknown key \"path\""},
		{"1.6 key in 1.5", "boot:\n  sources:\n    - url: http://x/\n", source.ErrConfig, "line 3"},
		{"os in 1.5 selection", "boot:\n  sources:\n    - path: http://x/\n      selections:\n        - os: ubuntu\n", source.ErrConfig, "line 5"},
		{"wrong type", "- url: http://x/\n  selections:\n    - arches: {a: b}\n", source.ErrConfig, "line 3: arches: want a list of strings"},
		{"duplicate key", "- url: http://x/\n  url: http://y/\n", source.ErrConfig, "line 2: source: duplicate key \"url\""},
		{"bad base64", "- url: http://x/\n  keyring_data: '!!notbase64'\n", source.ErrConfig, "line 2: keyring_data is not valid base64"},
		{"empty keyring_data", "- url: http://x/\n  keyring_data: ''\n", source.ErrConfig, "line 2: keyring_data is empty"},
		{"empty file", "", source.ErrConfig, "empty"},
		{"comments only", "# nothing\n", source.ErrConfig, "empty"},
		{"no url", "- keyring: k\n", source.ErrConfig, "line 1: source without url"},
		{"not yaml", "- url: [\n", source.ErrConfig, "line"},
		{"scalar root", "hello\n", source.ErrConfig, "line 1"},
		{"bad configure_me", "boot:\n  configure_me: maybe\n", source.ErrConfig, "line 2: configure_me"},
		{"two documents", "- url: http://x/\n  selections: [{release: noble}]\n---\n- url: http://y/\n", source.ErrConfig, "line 3: a second YAML document"},
		{"no sources", "[]\n", source.ErrNoSources, "lists no boot sources"},
		{"1.5 without sources", "boot:\n  storage: /x\n", source.ErrNoSources, "lists no boot sources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "sources.yaml", tt.content)
			_, err := source.NewFile(p, nil).Resolve(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tt.line) {
				t.Errorf("error %q: want it to start with the file and contain %q", err, tt.line)
			}
		})
	}
	_, err := source.NewFile(filepath.Join(t.TempDir(), "missing.yaml"), nil).Resolve(context.Background())
	if !errors.Is(err, source.ErrConfig) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestKeyringDataWins(t *testing.T) {
	var logs strings.Builder
	p := writeFile(t, "s.yaml", "- url: http://x/\n  keyring: k.gpg\n  keyring_data: "+kd+"\n  selections: [{release: noble}]\n")
	cfg, err := source.NewFile(p, slogTo(&logs)).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Sources[0]; s.Keyring != "" || string(s.KeyringData) != string(keyring) {
		t.Errorf("got %+v", s)
	}
	if !strings.Contains(logs.String(), "keyring_data wins") {
		t.Errorf("no warning: %s", logs.String())
	}
}

// TestRegionFailures checks each failure of SPEC §2.2: its sentinel, that
// the message names the region and the cluster, and that the key never
// shows.
func TestRegionFailures(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/MAAS"
	}()
	var attempts atomic.Int32
	tests := []struct {
		name    string
		opts    regiontest.Options
		url     string // overrides the region's URL
		cluster string
		apiKey  string
		want    error
		msg     string
	}{
		{"unknown cluster", regiontest.Options{Cluster: cluster, Sources: regionSources(), Embed: true}, "", "00000000-0000-0000-0000-000000000000", "", source.ErrRefused, "does not recognise cluster 00000000-0000-0000-0000-000000000000"},
		{"no key", regiontest.Options{Cluster: cluster, Key: key, Sources: regionSources(), Embed: true}, "", cluster, "", source.ErrRefused, "refused the credentials"},
		{"wrong key", regiontest.Options{Key: key, Sources: regionSources()}, "", "", "ck:tk:b4dk3y", source.ErrRefused, "refused the credentials"},
		{"500s", regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
			attempts.Add(1)
			w.WriteHeader(500)
			return true
		}}, "", cluster, "", source.ErrUnreachable, "is not reachable: HTTP 500 after 3 attempts"},
		{"garbage", regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Write([]byte("<html>MAAS</html>"))
			return true
		}}, "", cluster, "", source.ErrUnreachable, "not the expected JSON"},
		{"JSON sent as HTML", regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`[{"url": "http://evil.example.com/", "selections": [{"release": "*"}]}]`))
			return true
		}}, "", cluster, "", source.ErrUnreachable, `answered "text/html; charset=utf-8"`},
		{"huge body", regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("[" + strings.Repeat(" ", 9<<20) + "]"))
			return true
		}}, "", cluster, "", source.ErrUnreachable, "more than 8 MiB"},
		{"empty list", regiontest.Options{Cluster: cluster, Embed: true}, "", cluster, "", source.ErrNoSources, "has no boot sources for cluster " + cluster},
		{"closed port", regiontest.Options{}, closed, cluster, "", source.ErrUnreachable, "is not reachable"},
		{"keyring file missing", regiontest.Options{Cluster: cluster, Embed: true, Sources: []regiontest.Source{{URL: "http://x/", KeyringFilename: "/nonexistent/k.gpg",
			Selections: []map[string]any{{"release": "noble"}}}}}, "", cluster, "", source.ErrConfig, "names keyring /nonexistent/k.gpg"},
		{"redirect away", regiontest.Options{Key: key, Fault: func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, "http://evil.example.invalid/steal", http.StatusFound)
			return true
		}}, "", "", key, source.ErrUnreachable, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := regiontest.New(t, tt.opts)
			u := r.URL()
			if tt.url != "" {
				u = tt.url
			}
			s, err := source.NewRegion(source.RegionOptions{URL: u, ClusterUUID: tt.cluster, APIKey: tt.apiKey, Timeout: 4 * time.Second, Retries: 2})
			if err != nil {
				t.Fatal(err)
			}
			attempts.Store(0)
			_, err = s.Resolve(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), u) {
				t.Errorf("error %q: want it to contain %q and the URL %s", err, tt.msg, u)
			}
			if tt.cluster != "" && tt.name != "unknown cluster" && !strings.Contains(err.Error(), tt.cluster) {
				t.Errorf("error %q does not name the cluster", err)
			}
			for _, secret := range []string{"ts3cr3t", "b4dk3y"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(source.Hint(err), secret) {
					t.Errorf("error leaks the key: %q", err)
				}
			}
			if tt.name == "500s" && attempts.Load() != 3 {
				t.Errorf("got %d attempts, want 3 (bounded retries)", attempts.Load())
			}
			if tt.want == source.ErrRefused && source.Hint(err) == "" {
				t.Error("no hint")
			}
		})
	}
}

func TestRegionOAuth(t *testing.T) {
	r := regiontest.New(t, regiontest.Options{Key: key, Sources: regionSources()})
	s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := r.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/MAAS/api/2.0/boot-sources/1/selections/" {
		t.Fatalf("requests: %+v", reqs)
	}
	if !strings.Contains(reqs[0].Authorization, `oauth_signature="%26ts3cr3t"`) || !strings.HasPrefix(reqs[0].Authorization, `OAuth realm=""`) {
		t.Errorf("header %q", reqs[0].Authorization)
	}
	if reqs[0].OAuth["oauth_nonce"] == reqs[1].OAuth["oauth_nonce"] {
		t.Error("the nonce is reused")
	}
	for _, bad := range []string{"a:b", "a::c", "nocolons"} {
		if _, err := source.NewRegion(source.RegionOptions{URL: r.URL(), APIKey: bad}); !errors.Is(err, source.ErrUsage) || strings.Contains(err.Error(), bad) {
			t.Errorf("key %q: got %v", bad, err)
		}
	}
	if _, err := source.NewRegion(source.RegionOptions{URL: r.URL()}); !errors.Is(err, source.ErrUsage) {
		t.Errorf("2.0 API without a key: got %v", err)
	}
}

func TestChoose(t *testing.T) {
	dir := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	os.WriteFile(filepath.Join(dir, "bootresources.yaml"), []byte("- url: http://x/\n  selections: [{release: noble}]\n"), 0o644)
	region := regiontest.New(t, regiontest.Options{Cluster: cluster, Sources: regionSources(), Embed: true})
	tests := []struct {
		name   string
		c      source.Choice
		origin string
		err    error
	}{
		{"two backends", source.Choice{Config: "a", RegionURL: "http://r/MAAS"}, "", source.ErrUsage},
		{"config and default", source.Choice{Config: "a", Default: true}, "", source.ErrUsage},
		{"release with config", source.Choice{Config: "a", Releases: []string{"noble"}}, "", source.ErrUsage},
		{"cluster without region", source.Choice{Config: "a", ClusterUUID: cluster}, "", source.ErrUsage},
		{"flag beats env", source.Choice{Config: filepath.Join(dir, "bootresources.yaml"), Getenv: env(map[string]string{"MAAS_URL": "http://r/MAAS", "CLUSTER_UUID": cluster})}, "file ", nil},
		{"env names the region", source.Choice{Getenv: env(map[string]string{"MAAS_URL": "http://127.0.0.1:1/MAAS", "CLUSTER_UUID": cluster}), Timeout: time.Second, Retries: -1}, "", source.ErrUnreachable},
		{"MAAS_URL alone is not a fall-back", source.Choice{Getenv: env(map[string]string{"MAAS_URL": "http://r/MAAS", "MAAS_CONFIG_DIR": dir})}, "", source.ErrUsage},
		{"MAAS_URL with a key", source.Choice{APIKey: key, Getenv: env(map[string]string{"MAAS_URL": "http://127.0.0.1:1/MAAS"}), Timeout: time.Second, Retries: -1}, "", source.ErrUnreachable},
		{"cluster flag alone", source.Choice{ClusterUUID: cluster, Getenv: env(map[string]string{"MAAS_CONFIG_DIR": dir})}, "", source.ErrUsage},
		{"CLUSTER_UUID with --region-url", source.Choice{RegionURL: region.URL(), Getenv: env(map[string]string{"CLUSTER_UUID": cluster})}, "(cluster " + cluster + ")", nil},
		{"cluster flag with MAAS_URL", source.Choice{ClusterUUID: cluster, Getenv: env(map[string]string{"MAAS_URL": region.URL()})}, "(cluster " + cluster + ")", nil},
		{"config dir", source.Choice{Getenv: env(map[string]string{"MAAS_CONFIG_DIR": dir})}, "file " + filepath.Join(dir, "bootresources.yaml"), nil},
		{"nothing: default", source.Choice{Getenv: env(map[string]string{"MAAS_CONFIG_DIR": t.TempDir()})}, "the built-in default source", nil},
		{"default with releases", source.Choice{Default: true, Releases: []string{"jammy"}}, "the built-in default source", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := source.Choose(tt.c)
			if err == nil {
				var cfg *source.Config
				cfg, err = s.Resolve(context.Background())
				if err == nil && !strings.Contains(cfg.Origin, tt.origin) {
					t.Errorf("origin %q, want %q", cfg.Origin, tt.origin)
				}
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

// TestRegionSilent: a region that accepts connections and then says nothing,
// or drips its answer a byte at a time, is reported as unreachable once the
// budget of Timeout × (Retries+1) is spent — with the defaults, within 30 s.
func TestRegionSilent(t *testing.T) {
	silent := func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	drip := func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("["))
		for {
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(100 * time.Millisecond):
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	}
	tests := []struct {
		name    string
		fault   func(http.ResponseWriter, *http.Request) bool
		timeout time.Duration // 0: the default
		after   time.Duration // when it is reported
		msg     string
	}{
		{"silent, short timeout", silent, 500 * time.Millisecond, 1500 * time.Millisecond, "no complete answer within 1.5s (up to 3 attempts of at most 500ms)"},
		// A body that drips is not retried: the first attempt's timeout ends it.
		{"drip, short timeout", drip, 500 * time.Millisecond, 500 * time.Millisecond, "was not complete within 500ms"},
		{"silent, defaults", silent, 0, 30 * time.Second, "no complete answer within 30s (up to 3 attempts of at most 10s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := regiontest.New(t, regiontest.Options{Cluster: cluster, Fault: tt.fault})
			s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), ClusterUUID: cluster, Timeout: tt.timeout, Retries: fetch.DefaultRetries})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = s.Resolve(context.Background())
			took := time.Since(start)
			if !errors.Is(err, source.ErrUnreachable) {
				t.Fatalf("got %v, want ErrUnreachable", err)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), r.URL()) {
				t.Errorf("error %q: want %q and the URL", err, tt.msg)
			}
			if took < tt.after-100*time.Millisecond || took > tt.after+time.Second {
				t.Errorf("reported after %s, want about %s", took.Round(time.Millisecond), tt.after)
			}
			t.Logf("reported after %s: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestRegionCancelled: cancelling the run is not a dead region.
func TestRegionCancelled(t *testing.T) {
	r := regiontest.New(t, regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}})
	s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), ClusterUUID: cluster, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.Resolve(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, source.ErrUnreachable) {
		t.Fatalf("got %v, want the run's own context error", err)
	}
}

// TestRegionKeyringOverride: --keyring replaces the keyring of every region
// source, so one that names a keyring file missing here is not refused.
func TestRegionKeyringOverride(t *testing.T) {
	r := regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true, Sources: []regiontest.Source{{
		URL: "http://images.example.com/ephemeral-v3/stable/", KeyringFilename: "/nonexistent/ubuntu-cloudimage-keyring.gpg",
		Selections: []map[string]any{{"release": "noble"}}}}})
	s, err := source.Choose(source.Choice{RegionURL: r.URL(), ClusterUUID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(context.Background()); !errors.Is(err, source.ErrConfig) {
		t.Fatalf("without --keyring: got %v, want ErrConfig", err)
	}
	s, err = source.Choose(source.Choice{RegionURL: r.URL(), ClusterUUID: cluster, Keyring: "/etc/maas/mine.gpg"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Resolve(context.Background())
	if err != nil {
		t.Fatalf("with --keyring: %v", err)
	}
	if len(cfg.Sources) != 1 || cfg.Sources[0].Keyring != "/etc/maas/mine.gpg" || cfg.Sources[0].KeyringData != nil {
		t.Errorf("got %+v, want the --keyring file", cfg.Sources)
	}
}

// TestRegionContentTypes: a JSON answer counts with any JSON media type or
// none at all.
func TestRegionContentTypes(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/vnd.maas+json", ""} {
		t.Run(ct, func(t *testing.T) {
			r := regiontest.New(t, regiontest.Options{Cluster: cluster, Fault: func(w http.ResponseWriter, r *http.Request) bool {
				w.Header()["Content-Type"] = nil // no sniffing
				if ct != "" {
					w.Header().Set("Content-Type", ct)
				}
				w.Write([]byte(`[{"url": "http://images.example.com/streams/v1/index.json", "selections": [{"release": "noble"}]}]`))
				return true
			}})
			s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), ClusterUUID: cluster})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := s.Resolve(context.Background())
			if err != nil || len(cfg.Sources) != 1 {
				t.Fatalf("Content-Type %q: got %v, %v", ct, cfg, err)
			}
		})
	}
}

// TestRegionBudgetPerQuestion: the budget bounds each question, not the
// whole resolve: a region that answers each of several requests in time is
// not refused because they take longer together.
func TestRegionBudgetPerQuestion(t *testing.T) {
	srcs := append(regionSources(), regionSources()...)
	r := regiontest.New(t, regiontest.Options{Key: key, Sources: srcs, Fault: func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(400 * time.Millisecond)
		return false
	}})
	s, err := source.NewRegion(source.RegionOptions{URL: r.URL(), APIKey: key, Timeout: time.Second, Retries: 0})
	if err != nil {
		t.Fatal(err)
	}
	// Three requests (the list, then each source's selections) of 400 ms
	// each: 1.2 s in all, over the 1 s budget of one question.
	cfg, err := s.Resolve(context.Background())
	if err != nil {
		t.Fatalf("a slow but timely region: %v", err)
	}
	if len(cfg.Sources) != 2 || len(r.Requests()) != 3 {
		t.Errorf("got %d sources from %d requests, want 2 from 3", len(cfg.Sources), len(r.Requests()))
	}
}
