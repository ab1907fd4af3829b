package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams/streamtest"
)

// promFile is a metrics file as the client library's text parser reads it.
type promFile map[string]*dto.MetricFamily

// parseProm parses b as the Prometheus text format.
func parseProm(b []byte) (promFile, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(b))
}

func readProm(t *testing.T, file string) promFile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := parseProm(b)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", file, err, b)
	}
	return fams
}

// value is the one value of a gauge, which must carry the storage label.
func (p promFile) value(t *testing.T, name, storage string) float64 {
	t.Helper()
	fam := p["maas_boot_images_"+name]
	if fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("%s: %v, want one value", name, fam)
	}
	m := fam.GetMetric()[0]
	if labelOf(m, "storage") != storage {
		t.Errorf("%s: storage label %q, want %q", name, labelOf(m, "storage"), storage)
	}
	return m.GetGauge().GetValue()
}

// images lists image_info as os/arch/subarch/release/label version.
func (p promFile) images() []string {
	var out []string
	for _, m := range p["maas_boot_images_image_info"].GetMetric() {
		out = append(out, strings.Join([]string{labelOf(m, "os"), labelOf(m, "arch"), labelOf(m, "subarch"), labelOf(m, "release"),
			labelOf(m, "label")}, "/")+" "+labelOf(m, "version"))
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// servedImages lists current's images as promFile.images does.
func servedImages(t *testing.T, storage string) []string {
	t.Helper()
	var out []string
	for _, im := range currentImages(t, storage) {
		out = append(out, strings.Join([]string{im.OS, im.Arch, im.Subarch, im.Release, im.Label}, "/")+" "+im.VersionName)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s]--; seen[s] < 0 {
			return false
		}
	}
	return true
}

// near says whether a timestamp is within a few seconds of now.
func near(ts float64) bool { return math.Abs(ts-float64(time.Now().UnixNano())/1e9) < 10 }

// TestMetricsFile: after a success, the metrics file says so and lists
// what current serves; after failures (exit 3, 6, 8, and a usage error
// after the flags parse) it says how the run failed, keeps the last
// success time, and still lists what current serves.
func TestMetricsFile(t *testing.T) {
	srv := demoServer(t)
	storage := filepath.Join(t.TempDir(), "boot")
	file := filepath.Join(t.TempDir(), "maas-boot-images.prom")
	r := cliOK(t, "import", "--config", demoSources(t, srv, "{release: noble, arches: [amd64]}"), "--storage", storage,
		"--metrics-file", file, "-o", "json")
	var res importer.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	p := readProm(t, file)
	success := p.value(t, "last_success_timestamp_seconds", storage)
	if p.value(t, "last_run_success", storage) != 1 || p.value(t, "last_run_exit_code", storage) != 0 ||
		p.value(t, "last_run_timestamp_seconds", storage) != success || !near(success) {
		t.Errorf("after a success: %v", p)
	}
	if got := p.value(t, "downloaded_bytes", storage); got != float64(res.Bytes.Downloaded) || got == 0 {
		t.Errorf("downloaded_bytes %v, want %d", got, res.Bytes.Downloaded)
	}
	u, err := importer.DiskUsage(storage)
	if err != nil || p.value(t, "current_bytes", storage) != float64(u.Current) || p.value(t, "cache_bytes", storage) != float64(u.Cache) || u.Current == 0 {
		t.Errorf("current_bytes %v, cache_bytes %v; want %+v (%v)", p.value(t, "current_bytes", storage), p.value(t, "cache_bytes", storage), u, err)
	}
	served := servedImages(t, storage)
	if got := p.images(); !sameSet(got, served) || len(got) != 7 { // 5 images, 2 bootloaders
		t.Errorf("image_info %v, want %v", got, served)
	}

	other := filepath.Join(t.TempDir(), "other.gpg")
	os.WriteFile(other, streamtest.Keyring(streamtest.OtherKey()), 0o644)
	missing := missingSources(t, srv)
	failures := []struct {
		name  string
		args  []string
		fault func(step fault.Step, path string) error
		code  int
	}{
		{"unreachable", []string{"--config", missing}, nil, 3},
		{"wrong key", []string{"--config", demoSources(t, srv, "{release: noble}"), "--keyring", other}, nil, 6},
		{"storage", []string{"--config", demoSources(t, srv, "{release: noble}")}, func(step fault.Step, _ string) error {
			if step == fault.Link {
				return syscall.ENOSPC
			}
			return nil
		}, 8},
		{"usage after the flags parse", []string{"--config", missing, "--jobs", "0"}, nil, 2},
		{"bad rate", []string{"--config", missing, "--limit-rate", "fast"}, nil, 2},
	}
	last := success
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != nil {
				defer fault.Set(tt.fault)()
			}
			args := append([]string{"import", "--storage", storage, "--metrics-file", file}, tt.args...)
			if r := runCLI(t, context.Background(), nil, args...); r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
			}
			p := readProm(t, file)
			if got := p.value(t, "last_run_exit_code", storage); got != float64(tt.code) {
				t.Errorf("last_run_exit_code %v, want %d", got, tt.code)
			}
			if p.value(t, "last_run_success", storage) != 0 {
				t.Error("last_run_success is not 0")
			}
			if got := p.value(t, "last_success_timestamp_seconds", storage); got != success {
				t.Errorf("last_success_timestamp_seconds %v, want the success's %v carried over", got, success)
			}
			ts := p.value(t, "last_run_timestamp_seconds", storage)
			if ts <= last || !near(ts) {
				t.Errorf("last_run_timestamp_seconds %v: want a time after %v, now", ts, last)
			}
			last = ts
			if got := p.images(); !sameSet(got, served) {
				t.Errorf("image_info %v, want what current still serves: %v", got, served)
			}
			lr, err := importer.ReadLastRun(storage)
			if err != nil || lr == nil || lr.ExitCode != tt.code || lr.Status != "failed" || lr.Error == "" || lr.Command != "import" {
				t.Errorf(".last-run.json: %+v (%v)", lr, err)
			}
		})
	}
	// A dry run writes nothing, not even the metrics file.
	before, _ := os.ReadFile(file)
	cliOK(t, "import", "--dry-run", "--config", demoSources(t, srv, "{release: noble}"), "--storage", storage, "--metrics-file", file)
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("a dry run rewrote the metrics file")
	}
}

// TestMetricsAfterSIGTERM: the real binary, terminated mid-download,
// still writes the metrics file: exit 130, and the last success carried
// over.
func TestMetricsAfterSIGTERM(t *testing.T) {
	bin := binary(t)
	s, dirs := newStreams(t, crashSpec("20250101"), crashSpec("20250101", "20250202"))
	storage := t.TempDir()
	file := filepath.Join(t.TempDir(), "m.prom")
	sources := streamsSources(t, s)
	if out, err := exec.Command(bin, "--quiet", "--config", sources, "--storage", storage, "--metrics-file", file).CombinedOutput(); err != nil {
		t.Fatalf("first import: %v\n%s", err, out)
	}
	success := readProm(t, file).value(t, "last_success_timestamp_seconds", storage)
	s.Serve(dirs[1])
	cmd := exec.Command(bin, "--quiet", "--config", sources, "--storage", storage)
	cmd.Env = append(os.Environ(), envMetricsFile+"="+file) // the environment variable the systemd unit sets
	stderr := startDownloading(t, s, cmd)
	time.Sleep(500 * time.Millisecond) // a few bytes of the drip
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130: %s", code, stderr.String())
	}
	p := readProm(t, file)
	if p.value(t, "last_run_exit_code", storage) != 130 || p.value(t, "last_run_success", storage) != 0 ||
		p.value(t, "last_success_timestamp_seconds", storage) != success || p.value(t, "last_run_timestamp_seconds", storage) <= success {
		t.Errorf("after SIGTERM: %v", p)
	}
	if p.value(t, "downloaded_bytes", storage) == 0 {
		t.Error("downloaded_bytes is 0: the run received bytes before it was stopped")
	}
	lr, err := importer.ReadLastRun(storage)
	if err != nil || lr == nil || lr.ExitCode != 130 || !strings.Contains(lr.Error, "interrupted") {
		t.Errorf(".last-run.json after SIGTERM: %+v (%v)", lr, err)
	}
}

// TestMetricsNeverPartial: a reader that polls the metrics file while
// runs rewrite it, one after another, successful or not, always reads a
// whole file.
func TestMetricsNeverPartial(t *testing.T) {
	srv := demoServer(t)
	storage := filepath.Join(t.TempDir(), "boot")
	file := filepath.Join(t.TempDir(), "m.prom")
	good := demoSources(t, srv, "{release: noble}")
	bad := missingSources(t, srv)
	cliOK(t, "import", "--config", good, "--storage", storage, "--metrics-file", file)
	want := len(readProm(t, file))
	var stop atomic.Bool
	var reads, changes atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		var prev []byte
		for !stop.Load() {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("read %d: %v", reads.Load(), err)
				return
			}
			reads.Add(1)
			if !bytes.Equal(b, prev) {
				changes.Add(1)
				prev = b
			}
			fams, err := parseProm(b)
			if err != nil || len(fams) != want || fams["maas_boot_images_last_run_exit_code"] == nil {
				t.Errorf("read %d: %d families of %d (%v):\n%s", reads.Load(), len(fams), want, err, b)
				return
			}
		}
	})
	for i := range 20 {
		config := good
		if i%2 == 1 {
			config = bad
		}
		runCLI(t, context.Background(), nil, "import", "--config", config, "--storage", storage, "--metrics-file", file, "-q")
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads of a whole file, %d different files seen", reads.Load(), changes.Load())
	if changes.Load() < 5 {
		t.Errorf("the reader saw only %d versions of the file: it did not overlap the writes", changes.Load())
	}
}
