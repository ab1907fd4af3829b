package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
	"maas-import-boot-images/source"
	"maas-import-boot-images/source/regiontest"
)

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line in-process.
func runCLI(t *testing.T, ctx context.Context, envv map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return envv[k] }
	code := run(ctx, append([]string{"maas-import-boot-images"}, args...), env{stdout: &stdout, stderr: &stderr, getenv: getenv})
	return result{code, stdout.String(), stderr.String()}
}

func cliOK(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, context.Background(), nil, args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// demoServer serves the demo stream over HTTP, through hooks when given.
func demoServer(t *testing.T, hooks ...streamtest.Hook) *streamtest.Server {
	return streamtest.NewServer(t, "testdata/demo", hooks...)
}

// demoSources writes a sources file for the demo stream served by srv,
// with the demo keyring and one selection (a YAML flow mapping).
func demoSources(t *testing.T, srv *streamtest.Server, selection string) string {
	t.Helper()
	return sourcesFile(t, fmt.Sprintf("- url: %s/\n  keyring: %s\n  selections: [%s]\n", srv.URL, keyringFile(t), selection))
}

func sourcesFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sources.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyringFile(t *testing.T) string {
	p, err := filepath.Abs("testdata/demo/keyring.gpg")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportListVerifyCleanup(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "boot")
	r := cliOK(t, "import", "--no-bootloaders", "--config", "testdata/demo/sources.yaml", "--storage", filepath.Join(t.TempDir(), "boot"))
	if !strings.HasPrefix(r.stdout, "imported snapshot-") || !strings.Contains(r.stdout, ": 7 images, 12 of 12 files downloaded") {
		t.Errorf("import --no-bootloaders printed %q", r.stdout)
	}
	r = cliOK(t, "import", "--config", "testdata/demo/sources.yaml", "--storage", storage, "--output", "json")
	var res importer.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", r.stdout)
	}
	// 7 boot images (one lowlatency) and 2 bootloaders; 12 image files
	// and 4 archives
	if res.Status != "imported" || len(res.Images) != 9 || res.Files.Downloaded != 16 {
		t.Fatalf("got %+v", res)
	}
	for _, key := range []string{`"duration_seconds":`, `"bytes":{"total":`, `"reused":0`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("JSON lacks %s: %s", key, r.stdout)
		}
	}
	// Flags before the command, text output: unchanged.
	r = cliOK(t, "--storage", storage, "--config", "testdata/demo/sources.yaml", "import")
	if !strings.HasPrefix(r.stdout, "unchanged: "+res.Snapshot+" is current, 7 images and 2 bootloaders, 16 files") {
		t.Errorf("second import printed %q", r.stdout)
	}
	r = cliOK(t, "list", "--storage", storage)
	var snapName, lastImport string
	if _, err := fmt.Sscanf(strings.ReplaceAll(r.stdout, ")", " )"), "current: %s (last import %s )", &snapName, &lastImport); err != nil || snapName != res.Snapshot {
		t.Errorf("list header: %v in %q", err, r.stdout)
	} else if at, err := time.Parse(time.RFC3339, lastImport); err != nil || time.Since(at) > time.Minute || time.Since(at) < -time.Second {
		t.Errorf("last import %q (%v): want the time of the import just run", lastImport, err)
	}
	hasRow := func(out string, fields ...string) bool {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > len(fields) && strings.Join(f[:len(fields)], " ") == strings.Join(fields, " ") {
				return true
			}
		}
		return false
	}
	if !hasRow(r.stdout, "ubuntu", "amd64", "generic", "noble", "stable", "20250709") ||
		!hasRow(r.stdout, "pxelinux", "i386", "generic", "pxe", "stable", "20250709") || !strings.Contains(r.stdout, res.Snapshot) {
		t.Errorf("list printed:\n%s", r.stdout)
	}
	r = cliOK(t, "list", "--storage", storage, "-o", "json")
	var l importer.Listing
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || len(l.Images) != 9 {
		t.Errorf("list json: %v %s", err, r.stdout)
	}
	if r := cliOK(t, "list", "--storage", storage, "--quiet"); r.stdout != "" || r.stderr != "" {
		t.Errorf("list --quiet printed %q %q", r.stdout, r.stderr)
	}
	cliOK(t, "verify", "--storage", storage)
	r = cliOK(t, "cleanup", "--storage", storage, "--dry-run")
	if !strings.Contains(r.stdout, "would remove 0 snapshots and 0 cache files") {
		t.Errorf("cleanup --dry-run printed %q", r.stdout)
	}
	// Quiet prints nothing at all on success.
	r = cliOK(t, "--quiet", "--storage", storage, "--config", "testdata/demo/sources.yaml")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("--quiet printed %q %q", r.stdout, r.stderr)
	}
	r = cliOK(t, "version")
	if !strings.HasPrefix(r.stdout, "maas-import-boot-images ") {
		t.Errorf("version printed %q", r.stdout)
	}
}

func TestDryRun(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "boot")
	r := cliOK(t, "import", "--dry-run", "--config", "testdata/demo/sources.yaml", "--storage", storage)
	if !strings.Contains(r.stdout, "dry run: 7 images and 2 bootloaders selected") || !strings.Contains(r.stdout, "would download 16 of 16 files") {
		t.Errorf("dry run printed %q", r.stdout)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Error("dry run wrote the storage")
	}
}

// TestSourcesRoundTrip: a 1.5 file printed by sources and fed back.
func TestSourcesRoundTrip(t *testing.T) {
	srv := demoServer(t)
	legacy := sourcesFile(t, fmt.Sprintf(`boot:
  configure_me: False
  storage: %q
  sources:
    - path: %q
      keyring: %q
      selections:
        - release: noble
          arches: amd64
`, t.TempDir(), srv.URL+"/", keyringFile(t)))
	r := cliOK(t, "sources", "--config", legacy)
	saved := sourcesFile(t, r.stdout)
	back := cliOK(t, "sources", "--config", saved)
	// The same sources, but for the comment naming the file.
	trim := func(s string) string { return s[strings.Index(s, "\n")+1:] }
	if trim(back.stdout) != trim(r.stdout) {
		t.Errorf("round trip differs:\n%s\n---\n%s", r.stdout, back.stdout)
	}
	storage := t.TempDir()
	r = cliOK(t, "import", "--config", saved, "--storage", storage, "-o", "json")
	if !strings.Contains(r.stdout, `"status":"imported"`) {
		t.Errorf("import from the saved sources: %s", r.stdout)
	}
	r = cliOK(t, "sources", "--config", saved, "-o", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
		t.Errorf("sources -o json: %v %s", err, r.stdout)
	}
}

// TestExitCodes reaches every exit code of the table through the CLI.
func TestExitCodes(t *testing.T) {
	srv := demoServer(t)
	cluster := "6b2a1c4e-0000-4000-8000-000000000001"
	empty := t.TempDir()
	good := demoSources(t, srv, "{release: noble}")
	other := filepath.Join(t.TempDir(), "other.gpg")
	os.WriteFile(other, streamtest.Keyring(streamtest.OtherKey()), 0o644)
	aFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(aFile, nil, 0o644)

	locked := t.TempDir()
	lf, err := os.OpenFile(filepath.Join(locked, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	unknownCluster := regiontest.New(t, regiontest.Options{Cluster: "someone-else"})
	keyed := regiontest.New(t, regiontest.Options{Cluster: cluster, Key: "ck:tk:" + "s3cr3tv4lue", Embed: true})
	failing := regiontest.New(t, regiontest.Options{Fault: func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}})
	garbage := regiontest.New(t, regiontest.Options{Fault: func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>Welcome to MAAS</html>"))
		return true
	}})
	emptyRegion := regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true})
	// A mirror that sends a few bytes of some files and then nothing, and
	// the same bytes again to a Range request: no progress to resume.
	stall := streamtest.Chain(streamtest.IgnoreRange, streamtest.Stall(10))
	stallsOnIndex := demoSources(t, demoServer(t, streamtest.Suffix("index.sjson", stall)), "{release: noble}")
	stallsOnFiles := demoSources(t, demoServer(t, streamtest.Payloads(stall)), "{release: noble}")
	const secret = "s3cr3tv4lue"

	tests := []struct {
		name string
		args []string
		code int
		msg  string
		hint string
	}{
		{"unknown flag", []string{"import", "--bogus"}, 2, "bogus", "--help"},
		{"bad flag value", []string{"--jobs", "x", "import"}, 2, "invalid value \"x\" for flag -jobs", ""},
		{"no segments", []string{"--config", good, "--segments", "0", "--storage", empty}, 2, "--segments must be at least 1", "--help"},
		{"two backends", []string{"--config", good, "--default", "--storage", empty}, 2, "--config and --default", ""},
		{"release with config", []string{"--config", good, "--release", "noble", "--storage", empty}, 2, "--release", ""},
		{"bad output", []string{"import", "--output", "xml"}, 2, "--output must be text or json", ""},
		{"missing config", []string{"--config", "/nonexistent/sources.yaml", "--storage", empty}, 2, "/nonexistent/sources.yaml", ""},
		{"invalid config", []string{"--config", sourcesFile(t, "- url: x\n  bogus: 1\n"), "--storage", empty}, 2, "line 2", ""},
		{"missing keyring", []string{"--config", good, "--keyring", "/nonexistent/k.gpg", "--storage", empty}, 2, "/nonexistent/k.gpg", ""},
		{"bad api key", []string{"--region-url", "http://127.0.0.1:1/MAAS", "--api-key", "only:two", "--storage", empty}, 2, "consumer:token:secret", ""},
		{"region down", []string{"--region-url", "http://127.0.0.1:1/MAAS", "--cluster-uuid", cluster, "--retries", "0", "--storage", empty}, 3, "(cluster " + cluster + ") is not reachable", "region controller is running"},
		{"stream missing", []string{"--config", sourcesFile(t, "- url: "+srv.URL+"/nowhere/\n  keyring: "+keyringFile(t)+"\n  selections: [{release: noble}]\n"), "--storage", empty}, 3, "HTTP 404", ""},
		{"region 500s", []string{"--region-url", failing.URL(), "--cluster-uuid", cluster, "--retries", "1", "--storage", empty}, 3, "HTTP 500 after 2 attempts", "region controller is running"},
		{"region garbage", []string{"--region-url", garbage.URL(), "--cluster-uuid", cluster, "--storage", empty}, 3, "not the expected JSON", "--region-url"},
		{"region needs a key", []string{"--region-url", keyed.URL(), "--cluster-uuid", cluster, "--storage", empty}, 4, "refused the credentials (HTTP 401)", "API key"},
		{"region refuses the key", []string{"--region-url", keyed.URL(), "--cluster-uuid", cluster, "--api-key", "ck:tk:wrongs3cr3tv4lue", "--storage", empty}, 4, "refused the credentials", "API key"},
		{"unknown cluster", []string{"--region-url", unknownCluster.URL(), "--cluster-uuid", cluster, "--api-key", "ck:tk:" + secret, "--storage", empty}, 4, "does not recognise cluster " + cluster, "--cluster-uuid"},
		{"no sources", []string{"--region-url", emptyRegion.URL(), "--cluster-uuid", cluster, "--storage", empty}, 5, "has no boot sources for cluster " + cluster, ""},
		{"mirror stalls on metadata", []string{"--config", stallsOnIndex, "--timeout", "300ms", "--retries", "0", "--storage", empty}, 3, "index.sjson: no data for 300ms: the transfer stalled", ""},
		{"mirror stalls on files", []string{"--config", stallsOnFiles, "--timeout", "300ms", "--retries", "0", "--storage", empty}, 3, "no data for 300ms: the transfer stalled", ""},
		{"nothing selected", []string{"--config", demoSources(t, srv, "{release: focal}"), "--storage", empty}, 5, "no image matches the selections; the streams offer ubuntu/amd64 jammy, noble (stable); ubuntu/arm64 jammy, noble (stable)", ""},
		{"wrong key", []string{"--config", good, "--keyring", other, "--storage", empty}, 6, "index.sjson", "keyring"},
		{"locked", []string{"--config", good, "--storage", locked}, 7, "held by another run", "--wait"},
		{"storage is a file", []string{"--config", good, "--storage", aFile}, 8, aFile, ""},
		{"list without current", []string{"list", "--storage", empty}, 8, "no current boot tree", ""},
		{"verify without current or cache", []string{"verify", "--storage", empty}, 6, "no current tree", ""},
		{"verify without a storage", []string{"verify", "--storage", filepath.Join(empty, "nowhere")}, 8, filepath.Join(empty, "nowhere"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": empty}, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			errLine := lines[len(lines)-1]
			if strings.HasPrefix(last, "hint: ") {
				errLine = lines[len(lines)-2]
				if tt.hint != "" && !strings.Contains(last, tt.hint) {
					t.Errorf("hint %q does not mention %q", last, tt.hint)
				}
			} else if tt.hint != "" {
				t.Errorf("no hint in %q", r.stderr)
			}
			if !strings.HasPrefix(errLine, "error: ") || !strings.Contains(errLine, tt.msg) {
				t.Errorf("error line %q: want it to contain %q", errLine, tt.msg)
			}
			// A region's failure names the region and the cluster.
			if i := slices.Index(tt.args, "--region-url"); i >= 0 && tt.code != 2 {
				if !strings.Contains(errLine, tt.args[i+1]) {
					t.Errorf("error line %q does not name the region %s", errLine, tt.args[i+1])
				}
				if slices.Contains(tt.args, "--cluster-uuid") && !strings.Contains(errLine, cluster) {
					t.Errorf("error line %q does not name the cluster", errLine)
				}
			}
			if strings.Contains(r.stderr+r.stdout, secret) {
				t.Errorf("the API key leaked: %s", r.stderr)
			}
			// --output json: the failure object, and nothing else, on stdout.
			if tt.name == "bad output" {
				return
			}
			r = runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": empty}, append(tt.args, "-o", "json")...)
			var failed struct {
				Status   string `json:"status"`
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &failed); err != nil || failed.Status != "failed" || failed.ExitCode != tt.code || failed.Error == "" {
				t.Errorf("--output json printed %q (%v)", r.stdout, err)
			}
		})
	}
}

func TestInterrupted(t *testing.T) {
	region := regiontest.New(t, regiontest.Options{Fault: func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r := runCLI(t, ctx, nil, "--region-url", region.URL(), "--cluster-uuid", "c", "--storage", t.TempDir())
	if r.code != 130 || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("exit %d, want 130; stderr %s", r.code, r.stderr)
	}
}

// TestExitCodeTable covers the mapping itself, including exit 1.
func TestExitCodeTable(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{errors.New("something unexpected"), 1},
		{fmt.Errorf("x: %w", source.ErrConfig), 2},
		{&importer.FetchError{URL: "u", Status: 404}, 3},
		{fmt.Errorf("x: %w", simplestreams.ErrUnsafePath), 3},
		{fmt.Errorf("x: %w", source.ErrRefused), 4},
		{simplestreams.ErrNothingSelected, 5},
		{&importer.ChecksumError{URL: "u", What: "sha256"}, 6},
		{&simplestreams.SignatureError{File: "f", Err: errors.New("bad")}, 6},
		{&importer.StorageLockError{Path: "p"}, 7},
		{&importer.SpaceError{Need: 2, Free: 1}, 8},
		{fmt.Errorf("x: %w", context.Canceled), 130},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.code {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

func TestHelp(t *testing.T) {
	r := cliOK(t, "--help")
	for _, want := range []string{"MAAS_BOOT_RESOURCES_STORAGE", "MAAS_API_KEY", "MAAS_URL", "CLUSTER_UUID", "sources", "verify", "--dry-run", "--config-file", "--sources-file"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	r = cliOK(t, "verify", "--help")
	if !strings.Contains(r.stdout, "--repair") {
		t.Errorf("verify --help lacks --repair:\n%s", r.stdout)
	}
	for cmd, wants := range map[string][]string{
		"--help":   {"status", "rollback", "--metrics-file FILE", "$MAAS_BOOT_IMAGES_METRICS_FILE", "--limit-rate RATE", "500K, 50M, 1G", "powers of 1024", "$MAAS_BOOT_IMAGES_LIMIT_RATE"},
		"import":   {"--metrics-file FILE", "--limit-rate RATE", "500K, 50M, 1G"},
		"status":   {"--check", "--config", "--storage"},
		"rollback": {"--to SNAPSHOT", "--wait", "--storage"},
	} {
		args := []string{cmd, "--help"}
		if cmd == "--help" {
			args = args[:1]
		}
		r := cliOK(t, args...)
		for _, want := range wants {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help lacks %s", cmd, want)
			}
		}
	}
	// Every flag that takes a value names it (FILE, N, DURATION …), never
	// urfave's bare "value".
	bare := regexp.MustCompile(`--[a-z-]+ value\b`)
	for _, cmd := range []string{"import", "sources", "list", "verify", "cleanup", "rollback", "status", "version"} {
		r := cliOK(t, cmd, "--help")
		if m := bare.FindAllString(r.stdout, -1); m != nil {
			t.Errorf("%s --help: %v", cmd, m)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestRegionKeyNeverShown: the API key reaches the region, and nothing else —
// not the debug log in either format, not --output json, not `sources`, not
// the retry messages, not the error of a failed run.
func TestRegionKeyNeverShown(t *testing.T) {
	const secret = "Xk3yS3cr3tN0tT0B3S33n"
	apiKey := "c0nsumer:t0ken:" + secret
	srv := demoServer(t)
	kr, err := os.ReadFile(keyringFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var first atomic.Bool
	region := regiontest.New(t, regiontest.Options{Key: apiKey, Sources: []regiontest.Source{{
		URL: srv.URL + "/", KeyringData: base64.StdEncoding.EncodeToString(kr),
		Selections: []map[string]any{{"os": "ubuntu", "release": "noble", "arches": []string{"amd64"}, "subarches": []string{"*"}, "labels": []string{"*"}}},
	}}, Fault: func(w http.ResponseWriter, r *http.Request) bool {
		// The first request fails once, so that a retry is logged.
		if first.CompareAndSwap(false, true) {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	}})
	storage := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runs := []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"import, key by flag, text debug log", nil, []string{"import", "--region-url", region.URL(), "--api-key", apiKey, "--storage", storage, "--log-level", "debug"}, 0},
		{"import, key from the environment, JSON log and output", map[string]string{"MAAS_API_KEY": apiKey}, []string{"import", "--region-url", region.URL(), "--storage", storage, "--log-level", "debug", "--log-format", "json", "-o", "json"}, 0},
		{"sources", map[string]string{"MAAS_API_KEY": apiKey}, []string{"sources", "--region-url", region.URL(), "--log-level", "debug"}, 0},
		{"sources as JSON", map[string]string{"MAAS_API_KEY": apiKey}, []string{"sources", "--region-url", region.URL(), "-o", "json"}, 0},
		{"help", map[string]string{"MAAS_API_KEY": apiKey}, []string{"import", "--help"}, 0},
		{"top-level help", map[string]string{"MAAS_API_KEY": apiKey}, []string{"--help"}, 0},
		{"key file and key flag", nil, []string{"import", "--region-url", region.URL(), "--api-key", apiKey, "--api-key-file", keyFile, "--storage", storage}, 2},
		{"key file", nil, []string{"sources", "--region-url", region.URL(), "--api-key-file", keyFile, "--log-level", "debug"}, 0},
		{"wrong key", nil, []string{"import", "--region-url", region.URL(), "--api-key", "c0nsumer:t0ken:" + secret + "x", "--storage", storage, "--log-level", "debug", "-o", "json"}, 4},
	}
	for _, tt := range runs {
		t.Run(tt.name, func(t *testing.T) {
			// In the process environment too: that is where urfave/cli
			// would find a value to show as a flag's default in --help.
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, context.Background(), tt.env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the API key's secret was shown:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
			}
			if tt.name == "import, key by flag, text debug log" && (!strings.Contains(r.stderr, "retrying the region") || !strings.Contains(r.stderr, "asking the region")) {
				t.Errorf("the request and its retry were not logged, so the test did not look at them: %s", r.stderr)
			}
		})
	}
	var signed int
	for _, req := range region.Requests() {
		if req.OAuth["oauth_signature"] == "&"+secret {
			signed++
		}
	}
	if signed < 4 {
		t.Errorf("%d requests carried the key, want at least 4: the test did not exercise the region", signed)
	}
	if _, err := os.Stat(filepath.Join(storage, "current", "maas.meta")); err != nil {
		t.Errorf("the import from the region produced no tree: %v", err)
	}
}

// TestLockBeforeRegion: the storage lock comes before any network access,
// so a run that cannot (yet) have the lock never asks the region.
func TestLockBeforeRegion(t *testing.T) {
	cluster := "6b2a1c4e-0000-4000-8000-000000000001"
	srv := demoServer(t)
	kr, err := os.ReadFile(keyringFile(t))
	if err != nil {
		t.Fatal(err)
	}
	region := regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true, Sources: []regiontest.Source{{
		URL: srv.URL + "/", KeyringData: base64.StdEncoding.EncodeToString(kr),
		Selections: []map[string]any{{"release": "noble"}}}}})
	storage := t.TempDir()
	unlock, err := importer.Lock(context.Background(), storage, false)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"import", "--region-url", region.URL(), "--cluster-uuid", cluster, "--storage", storage}
	if r := runCLI(t, context.Background(), nil, args...); r.code != 7 {
		t.Fatalf("exit %d, want 7: %s", r.code, r.stderr)
	}
	if n := len(region.Requests()); n != 0 {
		t.Fatalf("a run that could not have the lock asked the region %d times", n)
	}
	// --wait: the region is asked once the lock is free, not before.
	done := make(chan result, 1)
	go func() { done <- runCLI(t, context.Background(), nil, append(args, "--wait")...) }()
	time.Sleep(700 * time.Millisecond)
	if n := len(region.Requests()); n != 0 {
		t.Errorf("a run waiting for the lock asked the region %d times", n)
	}
	unlock()
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d after the lock was released: %s", r.code, r.stderr)
	}
	if n := len(region.Requests()); n != 1 {
		t.Errorf("the region was asked %d times, want 1", n)
	}
}

// TestWhichBackend: with no backend flag, stderr says which backend was
// used and why.
func TestWhichBackend(t *testing.T) {
	empty := t.TempDir()
	r := runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": empty}, "sources")
	if r.code != 0 || !strings.Contains(r.stderr, "the built-in default") || !strings.Contains(r.stderr, filepath.Join(empty, "bootresources.yaml")) ||
		!strings.Contains(r.stdout, "http://images.maas.io/ephemeral-v3/stable/") {
		t.Errorf("no backend, no file: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "bootresources.yaml")
	os.WriteFile(file, []byte("- url: http://mirror.example.com/maas/\n  keyring: /k.gpg\n  selections: [{release: noble}]\n"), 0o644)
	r = runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": dir}, "sources")
	if r.code != 0 || !strings.Contains(r.stderr, "boot sources from a file (no source flag given)") || !strings.Contains(r.stderr, file) ||
		!strings.Contains(r.stdout, "mirror.example.com") {
		t.Errorf("no backend, a file: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestLegacyStorage: the storage a MAAS 1.5 file names is the default
// storage; --storage beats it.
func TestLegacyStorage(t *testing.T) {
	t.Setenv(envStorage, "")
	os.Unsetenv(envStorage)
	srv := demoServer(t)
	dir := t.TempDir()
	named := filepath.Join(dir, "from-the-file")
	file := sourcesFile(t, fmt.Sprintf("boot:\n  storage: %s\n  sources:\n    - path: %s/\n      keyring: %s\n      selections:\n        - release: noble\n",
		named, srv.URL, keyringFile(t)))
	// Dry runs, which write nothing: were the rule broken, a real import
	// would write to the system's default storage.
	storageOf := func(args ...string) string {
		r := cliOK(t, append([]string{"import", "--dry-run", "-o", "json", "--config", file}, args...)...)
		var res importer.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%q: %v", r.stdout, err)
		}
		return res.Storage
	}
	if got := storageOf(); got != named {
		t.Errorf("storage %q, want the file's %q", got, named)
	}
	flag := filepath.Join(dir, "from-the-flag")
	if got := storageOf("--storage", flag); got != flag {
		t.Errorf("storage %q, want --storage %q", got, flag)
	}
}

// TestLogFormatJSON: --log-format json makes every stderr line a JSON
// object with a level and a message.
func TestLogFormatJSON(t *testing.T) {
	srv := demoServer(t)
	file := demoSources(t, srv, "{release: noble}")
	r := cliOK(t, "import", "--config", file, "--storage", t.TempDir(), "--log-format", "json", "--log-level", "debug", "-o", "json")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d log lines: %q", len(lines), r.stderr)
	}
	var gets int
	for _, line := range lines {
		var rec struct{ Level, Msg, URL string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("not a JSON log record: %q (%v)", line, err)
		}
		if rec.Msg == "GET" && rec.URL != "" {
			gets++
		}
	}
	// --log-level debug shows every request: 2 metadata files, then the
	// 4 noble amd64 and arm64 files and 2 bootloader archives.
	if gets < 8 {
		t.Errorf("debug logged %d requests, want at least 8:\n%s", gets, r.stderr)
	}
}

// TestProgress: bars on stderr when it is a terminal (auto) or when asked
// (always), never under --quiet, --progress never or auto without a
// terminal. The mirror is slowed down so that the bars are drawn at all.
func TestProgress(t *testing.T) {
	srv := demoServer(t, streamtest.Payloads(streamtest.Delay(400*time.Millisecond)))
	file := demoSources(t, srv, "{release: noble, arches: [amd64]}")
	tests := []struct {
		name  string
		tty   bool
		args  []string
		drawn bool
	}{
		{"auto on a terminal", true, nil, true},
		{"auto without a terminal", false, nil, false},
		{"always without a terminal", false, []string{"--progress", "always"}, true},
		{"never on a terminal", true, []string{"--progress", "never"}, false},
		{"quiet on a terminal", true, []string{"--quiet", "--progress", "always"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"maas-import-boot-images", "import", "--config", file, "--storage", t.TempDir(), "--log-level", "error"}, tt.args...)
			code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, isTTY: tt.tty})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			// A bar shows the file's name and its counters, "0.0 b / 64.0 b".
			drawn := strings.Contains(stderr.String(), "boot-kernel") && strings.Contains(stderr.String(), " / ")
			if drawn != tt.drawn {
				t.Errorf("bars drawn: %v, want %v; stderr: %q", drawn, tt.drawn, stderr.String())
			}
			if tt.drawn && stdout.Len() == 0 {
				t.Error("no summary on stdout")
			}
		})
	}
}

func TestAsksForJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"import -o json --bogus":             true,
		"import --output=json --bogus":       true,
		"import --output json --output text": false,
		"import -o text -o=json":             true,
		"import --bogus":                     false,
		"import -- -o json":                  false,
		"import --config x -o":               false,
		"--jobs x import --log-format json":  false,
	} {
		if got := asksForJSON(strings.Fields(args)); got != want {
			t.Errorf("%q: got %v, want %v", args, got, want)
		}
	}
}
