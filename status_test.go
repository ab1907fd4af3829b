package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/simplestreams/streamtest"
)

// noNetwork is a mirror that fails the test on any request.
func noNetwork(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request was made: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	return sourcesFile(t, "- url: "+srv.URL+"/\n  keyring: "+keyringFile(t)+"\n  selections: [{release: noble}]\n")
}

// hasText says whether out has want, whatever the spaces between words.
func hasText(out, want string) bool {
	return strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " "))
}

// statusJSON runs status -o json with args.
func statusJSON(t *testing.T, args ...string) statusReport {
	t.Helper()
	r := cliOK(t, append([]string{"status", "-o", "json"}, args...)...)
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("status -o json printed %q: %v", r.stdout, err)
	}
	return rep
}

// TestStatus: status before any import, after a success and after a
// failure, reading nothing from the network, in text and JSON.
func TestStatus(t *testing.T) {
	offline := noNetwork(t)
	storage := filepath.Join(t.TempDir(), "boot")

	r := cliOK(t, "status", "--storage", storage, "--config", offline)
	for _, want := range []string{"current:     none: no import has completed here yet", "last run:    none recorded", "kept:        none"} {
		if !hasText(r.stdout, want) {
			t.Errorf("before any import, status lacks %q:\n%s", want, r.stdout)
		}
	}
	if rep := statusJSON(t, "--storage", storage); rep.Current != nil || rep.LastRun != nil || rep.Kept == nil || rep.Storage != storage {
		t.Errorf("before any import: %+v", rep)
	}
	if r := runCLI(t, context.Background(), nil, "status", "-o", "json", "--storage", storage); !strings.Contains(r.stdout, `"current":null`) || !strings.Contains(r.stdout, `"last_run":null`) {
		t.Errorf("JSON before any import: %s", r.stdout)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Error("status made the storage")
	}

	srv := demoServer(t)
	r = cliOK(t, "import", "--config", demoSources(t, srv, "{release: noble, arches: [amd64]}"), "--storage", storage, "-o", "json")
	var res importer.Result
	json.Unmarshal([]byte(r.stdout), &res)
	r = cliOK(t, "status", "--storage", storage, "--config", offline)
	for _, want := range []string{"current:     " + res.Snapshot + ": 5 images and 2 bootloaders, ", "last import: ", " import, imported (exit 0) after "} {
		if !hasText(r.stdout, want) {
			t.Errorf("after a success, status lacks %q:\n%s", want, r.stdout)
		}
	}
	rep := statusJSON(t, "--storage", storage, "--config", offline)
	if rep.Current == nil || rep.Current.Snapshot != res.Snapshot || len(rep.Current.Images) != 7 || rep.Current.Bytes == 0 ||
		rep.LastRun == nil || rep.LastRun.ExitCode != 0 || rep.LastRun.Status != "imported" || rep.LastRun.LastSuccess.IsZero() ||
		rep.LastRun.DownloadedBytes != res.Bytes.Downloaded {
		t.Errorf("after a success: %+v, last run %+v", rep.Current, rep.LastRun)
	}
	success := rep.LastRun.LastSuccess

	failing := demoSources(t, demoServer(t, streamtest.Status(http.StatusInternalServerError)), "{release: noble}")
	if r := runCLI(t, context.Background(), nil, "import", "--config", failing, "--storage", storage, "--retries", "0"); r.code != 3 {
		t.Fatalf("failing import: exit %d: %s", r.code, r.stderr)
	}
	r = cliOK(t, "status", "--storage", storage)
	for _, want := range []string{"import, failed (exit 3) after ", "HTTP 500", "last success: " + success.Format("2006-01-02T15:04:05Z"), "current:     " + res.Snapshot} {
		if !hasText(r.stdout, want) {
			t.Errorf("after a failure, status lacks %q:\n%s", want, r.stdout)
		}
	}
	rep = statusJSON(t, "--storage", storage)
	if rep.LastRun == nil || rep.LastRun.ExitCode != 3 || rep.LastRun.Status != "failed" || !strings.Contains(rep.LastRun.Error, "HTTP 500") ||
		!rep.LastRun.LastSuccess.Equal(success) || rep.Current == nil || rep.Current.Snapshot != res.Snapshot {
		t.Errorf("after a failure: %+v", rep.LastRun)
	}
	if r := cliOK(t, "status", "--storage", storage, "-q"); r.stdout != "" || r.stderr != "" {
		t.Errorf("status -q printed %q %q", r.stdout, r.stderr)
	}

	// Without --storage, status looks where import would: the storage a
	// MAAS 1.5 bootresources.yaml in $MAAS_CONFIG_DIR names.
	conf := t.TempDir()
	legacy := "boot:\n  storage: " + storage + "\n  sources:\n    - path: http://127.0.0.1:1/\n      selections: [{release: noble}]\n"
	if err := os.WriteFile(filepath.Join(conf, "bootresources.yaml"), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": conf}, "status"); r.code != 0 || !hasText(r.stdout, "current:     "+res.Snapshot) || r.stderr != "" {
		t.Errorf("status with a 1.5 file naming the storage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A damaged current (its maas.meta gone) is still reported, exit 0.
	if err := os.Remove(filepath.Join(storage, "current", "maas.meta")); err != nil {
		t.Fatal(err)
	}
	r = cliOK(t, "status", "--storage", storage)
	if !hasText(r.stdout, "current:     "+res.Snapshot+": cannot be read: ") || !hasText(r.stdout, "import, failed (exit 3)") {
		t.Errorf("with a damaged current, status says:\n%s", r.stdout)
	}
	rep = statusJSON(t, "--storage", storage)
	if rep.Current == nil || rep.Current.Snapshot != res.Snapshot || rep.Current.Problem == "" || rep.LastRun == nil {
		t.Errorf("with a damaged current: %+v", rep.Current)
	}
}

// TestReadOnlyRunsRecordNothing: status, list, verify, sources and the
// dry runs leave .last-run.json alone; cleanup, verify --repair and a
// rollback record themselves.
func TestReadOnlyRunsRecordNothing(t *testing.T) {
	sources := demoSources(t, demoServer(t), "{release: noble}")
	storage := t.TempDir()
	cliOK(t, "import", "--config", sources, "--storage", storage)
	record := filepath.Join(storage, importer.LastRunFile)
	before, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"status"}, {"status", "--check", "--config", sources}, {"list"}, {"verify"}, {"sources", "--config", sources},
		{"import", "--dry-run", "--config", sources}, {"cleanup", "--dry-run"}, {"version"},
	} {
		if args[0] != "sources" && args[0] != "version" {
			args = append(args, "--storage", storage)
		}
		cliOK(t, args...)
		if after, _ := os.ReadFile(record); !bytes.Equal(before, after) {
			t.Errorf("%v rewrote %s", args, importer.LastRunFile)
		}
	}
	// Only import (and mirror) write the metrics file, though urfave/cli
	// finds the top level's --metrics-file from any command.
	metricsFile := filepath.Join(t.TempDir(), "m.prom")
	t.Setenv(envMetricsFile, metricsFile)
	for _, args := range [][]string{{"cleanup"}, {"verify", "--repair"}, {"rollback"}} {
		r := runCLI(t, context.Background(), nil, append(args, "--storage", storage)...)
		lr, err := importer.ReadLastRun(storage)
		if err != nil || lr == nil || lr.Command != args[0] || lr.ExitCode != r.code || lr.LastSuccess.IsZero() {
			t.Errorf("after %v: %+v (%v)", args, lr, err)
		}
		if _, err := os.Stat(metricsFile); err == nil {
			t.Fatalf("%v wrote the metrics file", args)
		}
	}
	cliOK(t, "import", "--config", sources, "--storage", storage)
	if _, err := os.Stat(metricsFile); err != nil {
		t.Errorf("import with $%s: %v", envMetricsFile, err)
	}
}

// TestStatusCheck: status --check says up-to-date when an import would
// change nothing, and updates, with the images and bytes, when the
// stream has a new version; it fails with the failure's own exit code.
func TestStatusCheck(t *testing.T) {
	spec := func(versions ...string) streamtest.Spec {
		return streamtest.MAAS(streamtest.Options{Versions: versions, Signed: true, Lowlatency: true})
	}
	s, dirs := newStreams(t, spec("20250101"), spec("20250101", "20250202"))
	sources := streamsSources(t, s)
	storage := t.TempDir()
	cliOK(t, "import", "--config", sources, "--storage", storage)

	r := cliOK(t, "status", "--check", "--config", sources, "--storage", storage)
	if !hasText(r.stdout, "check: up-to-date: an import would change nothing") {
		t.Errorf("status --check printed:\n%s", r.stdout)
	}
	rep := statusJSON(t, "--check", "--config", sources, "--storage", storage)
	if rep.Check == nil || rep.Check.Status != "up-to-date" || len(rep.Check.Images) != 0 || rep.Check.Bytes.Downloaded != 0 {
		t.Errorf("up to date: %+v", rep.Check)
	}

	s.Serve(dirs[1])
	r = cliOK(t, "import", "--dry-run", "-o", "json", "--config", sources, "--storage", storage)
	var plan importer.Result
	json.Unmarshal([]byte(r.stdout), &plan)
	rep = statusJSON(t, "--check", "--config", sources, "--storage", storage)
	if rep.Check == nil || rep.Check.Status != "updates" || rep.Check.Bytes != plan.Bytes || rep.Check.Files != plan.Files || plan.Bytes.Downloaded == 0 {
		t.Fatalf("updates: %+v, want the bytes of import --dry-run %+v", rep.Check, plan.Bytes)
	}
	// Every image of current has a new version; none is new or removed.
	if len(rep.Check.Images) != len(rep.Current.Images) {
		t.Errorf("%d images change, want all %d", len(rep.Check.Images), len(rep.Current.Images))
	}
	for _, c := range rep.Check.Images {
		if c.Change != "updated" || c.CurrentVersion != "20250101" || c.VersionName != "20250202" {
			t.Errorf("change %+v, want updated from 20250101 to 20250202", c)
		}
	}
	r = cliOK(t, "status", "--check", "--config", sources, "--storage", storage)
	for _, want := range []string{"check:       updates: an import would download ", "  updated  ubuntu/amd64/ga-24.04/noble/stable  20250101 -> 20250202"} {
		if !hasText(r.stdout, want) {
			t.Errorf("status --check lacks %q:\n%s", want, r.stdout)
		}
	}
	// A damaged current: the same images, but an import would rebuild it.
	s.Serve(dirs[0])
	os.Remove(filepath.Join(storage, "current", "ubuntu", "amd64", "generic", "noble", "stable", "boot-kernel"))
	rep = statusJSON(t, "--check", "--config", sources, "--storage", storage)
	if rep.Check.Status != "updates" || len(rep.Check.Images) != 0 {
		t.Errorf("damaged current: %+v", rep.Check)
	}
	// Failing to resolve or plan is the failure's own exit code.
	other := filepath.Join(t.TempDir(), "other.gpg")
	os.WriteFile(other, streamtest.Keyring(streamtest.OtherKey()), 0o644)
	missing := missingSources(t, s)
	for args, code := range map[string]int{
		"--config " + sources + " --keyring " + other: 6,
		"--config " + missing:                         3,
		"--config " + sources + " --timeout x":        2,
	} {
		all := append([]string{"status", "--check", "--storage", storage}, strings.Fields(args)...)
		if r := runCLI(t, context.Background(), nil, all...); r.code != code {
			t.Errorf("status --check %s: exit %d, want %d: %s", args, r.code, code, r.stderr)
		}
	}
}
