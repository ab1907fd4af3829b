package metrics

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// read parses a metrics file with the client library's own text parser.
func read(t *testing.T, file string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", file, err)
	}
	return fams
}

// gauge is the value of a family's one metric, which must have the
// storage label.
func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name, storage string) float64 {
	t.Helper()
	fam := fams[Namespace+"_"+name]
	if fam == nil || len(fam.GetMetric()) != 1 || fam.GetType() != dto.MetricType_GAUGE {
		t.Fatalf("%s: %v, want one gauge", name, fam)
	}
	m := fam.GetMetric()[0]
	if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "storage" || m.GetLabel()[0].GetValue() != storage {
		t.Errorf("%s has labels %v, want storage=%q", name, m.GetLabel(), storage)
	}
	return m.GetGauge().GetValue()
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "maas-boot-images.prom")
	const storage = "/var/lib/maas/boot-resources"
	ok := time.Date(2026, 11, 24, 19, 1, 2, 500e6, time.UTC)
	okSeconds := float64(ok.Unix()) + 0.5
	images := []Image{{"ubuntu", "amd64", "ga-24.04", "noble", "stable", "20250709"}, {"ubuntu", "amd64", "generic", "noble", "stable", "20250709"}}
	if err := Write(file, Run{Storage: storage, End: ok, Duration: 1500 * time.Millisecond, Downloaded: 1234,
		Images: images, CurrentBytes: 2000, CacheBytes: 3000}); err != nil {
		t.Fatal(err)
	}
	fams := read(t, file)
	for name, want := range map[string]float64{
		"last_run_timestamp_seconds": okSeconds, "last_success_timestamp_seconds": okSeconds, "last_run_success": 1,
		"last_run_exit_code": 0, "last_run_duration_seconds": 1.5, "downloaded_bytes": 1234, "current_bytes": 2000, "cache_bytes": 3000,
	} {
		if got := gauge(t, fams, name, storage); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	info := fams[Namespace+"_image_info"]
	if len(info.GetMetric()) != 2 {
		t.Fatalf("image_info: %v", info)
	}
	labels := map[string]string{}
	for _, l := range info.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"os": "ubuntu", "arch": "amd64", "subarch": "ga-24.04", "release": "noble", "label": "stable", "version": "20250709", "storage": storage}
	for k, v := range want {
		if labels[k] != v || len(labels) != len(want) {
			t.Errorf("image_info labels %v, want %v", labels, want)
			break
		}
	}

	// A failure carries the last success over; another storage's value
	// in the file is not this one's.
	failed := ok.Add(time.Hour)
	if err := Write(file, Run{Storage: storage, End: failed, ExitCode: 3, Images: images}); err != nil {
		t.Fatal(err)
	}
	fams = read(t, file)
	if got := gauge(t, fams, "last_success_timestamp_seconds", storage); got != okSeconds {
		t.Errorf("after a failure: last success %v, want the one before", got)
	}
	if gauge(t, fams, "last_run_success", storage) != 0 || gauge(t, fams, "last_run_exit_code", storage) != 3 ||
		gauge(t, fams, "last_run_timestamp_seconds", storage) != okSeconds+3600 {
		t.Errorf("after a failure: %v", fams)
	}
	if err := Write(file, Run{Storage: "/elsewhere", End: failed, ExitCode: 6}); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, read(t, file), "last_success_timestamp_seconds", "/elsewhere"); got != 0 {
		t.Errorf("another storage: last success %v, want 0 (none known)", got)
	}
	// A file that does not parse carries nothing over, and is replaced.
	os.WriteFile(file, []byte("garbage {\n"), 0o644)
	if err := Write(file, Run{Storage: storage, End: failed, ExitCode: 8}); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, read(t, file), "last_success_timestamp_seconds", storage); got != 0 {
		t.Errorf("after garbage: last success %v, want 0", got)
	}
	// Nothing but the file is left in the directory, and it is 0644.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %v", entries)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", fi.Mode(), err)
	}
	// A directory that does not exist is an error naming the file.
	if err := Write(filepath.Join(dir, "no", "such.prom"), Run{Storage: storage, End: failed}); err == nil {
		t.Error("no error for a missing directory")
	}
}
