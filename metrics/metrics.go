// Package metrics writes the Prometheus textfile-collector file that
// tells how the last run on a storage ended and what the storage serves
// (SPEC §8), with the client library's own registry and writer.
package metrics

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Namespace begins the name of every metric.
const Namespace = "maas_boot_images"

// Run is what the file says: one run, and the storage as it left it.
type Run struct {
	Storage    string // the storage label: the boot-resources (or mirror) directory
	End        time.Time
	Duration   time.Duration
	ExitCode   int   // 0 is a success
	Downloaded int64 // bytes this run received over the network
	Images     []Image
	// CurrentBytes is what the served tree holds, CacheBytes what the
	// cache holds.
	CurrentBytes, CacheBytes int64
	// Carry says that Images and CurrentBytes are not known (a mirror
	// run that failed left the published mirror as it was): they are
	// carried over from the previous file's values for the same storage.
	Carry bool
}

// Image is one image the storage serves.
type Image struct {
	OS, Arch, Subarch, Release, Label, Version string
}

// Write rewrites file for run r: written under a temporary name that does
// not end in .prom in file's directory, then renamed over file
// (prometheus.WriteToTextfile), so that a collector reading the directory
// sees the old file or the new one, never a part. The last success time
// is r.End when r succeeded; otherwise it is carried over from the
// previous file's value for the same storage, or 0 when there is none.
func Write(file string, r Run) error {
	prev := previous(file, r.Storage)
	lastSuccess := float64(0)
	if r.ExitCode == 0 {
		lastSuccess = seconds(r.End)
	} else if v, ok := prev.value("last_success_timestamp_seconds"); ok {
		lastSuccess = v
	}
	if r.Carry {
		r.Images = prev.images()
		r.CurrentBytes = int64(prev.valueOr0("current_bytes"))
	}
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help,
			ConstLabels: prometheus.Labels{"storage": r.Storage}})
		g.Set(v)
		reg.MustRegister(g)
	}
	success := 0.0
	if r.ExitCode == 0 {
		success = 1
	}
	gauge("last_run_timestamp_seconds", "When the last run ended, in seconds since the epoch.", seconds(r.End))
	gauge("last_success_timestamp_seconds", "When the last successful run ended, in seconds since the epoch; 0 when none is known.", lastSuccess)
	gauge("last_run_success", "1 when the last run succeeded, 0 when it failed.", success)
	gauge("last_run_exit_code", "The exit code of the last run (0 success; see the exit-code table).", float64(r.ExitCode))
	gauge("last_run_duration_seconds", "How long the last run took.", r.Duration.Seconds())
	gauge("downloaded_bytes", "Bytes the last run received over the network.", float64(r.Downloaded))
	gauge("current_bytes", "Bytes of the tree that is served (each file once).", float64(r.CurrentBytes))
	gauge("cache_bytes", "Bytes of the cache, unfinished downloads included.", float64(r.CacheBytes))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "image_info",
		Help: "1 for each image that is served, by its name and version.", ConstLabels: prometheus.Labels{"storage": r.Storage}},
		[]string{"os", "arch", "subarch", "release", "label", "version"})
	for _, im := range r.Images {
		info.WithLabelValues(im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.Version).Set(1)
	}
	reg.MustRegister(info)
	if err := prometheus.WriteToTextfile(file, reg); err != nil {
		return fmt.Errorf("writing the metrics file %s: %w", file, err)
	}
	return nil
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// previousFile is what the previous file said about one storage: its
// metrics by name without the namespace, each with the labels besides
// storage.
type previousFile map[string][]previousMetric

type previousMetric struct {
	labels map[string]string
	value  float64
}

// previous reads file as it is for storage; empty when there is no file
// or it does not parse.
func previous(file, storage string) previousFile {
	out := previousFile{}
	f, err := os.Open(file)
	if err != nil {
		return out
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(f)
	if err != nil {
		return out
	}
	for name, fam := range families {
		name, ok := strings.CutPrefix(name, Namespace+"_")
		if !ok {
			continue
		}
		for _, m := range fam.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["storage"] == storage {
				delete(labels, "storage")
				out[name] = append(out[name], previousMetric{labels, m.GetGauge().GetValue()})
			}
		}
	}
	return out
}

// value is the metric's value: false when the file has none.
func (p previousFile) value(name string) (float64, bool) {
	if ms := p[name]; len(ms) > 0 {
		return ms[0].value, true
	}
	return 0, false
}

func (p previousFile) valueOr0(name string) float64 {
	v, _ := p.value(name)
	return v
}

// images are the images of the file's image_info.
func (p previousFile) images() []Image {
	var out []Image
	for _, m := range p["image_info"] {
		l := m.labels
		out = append(out, Image{OS: l["os"], Arch: l["arch"], Subarch: l["subarch"], Release: l["release"], Label: l["label"], Version: l["version"]})
	}
	return out
}
