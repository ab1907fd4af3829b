package importer

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestDryRunUpToDate: a dry run says whether an import would change
// nothing: not before a first import, yes after it, not once current
// lost a file.
func TestDryRunUpToDate(t *testing.T) {
	m := newMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, Bootloaders: true}))
	storage := t.TempDir()
	dry := testOptions(storage)
	dry.DryRun = true
	if res := mustRun(t, []simplestreams.BootSource{m.source()}, dry); res.UpToDate {
		t.Error("up to date before any import")
	}
	mustRun(t, []simplestreams.BootSource{m.source()}, testOptions(storage))
	if res := mustRun(t, []simplestreams.BootSource{m.source()}, dry); !res.UpToDate || res.Status != StatusDryRun || res.Snapshot != "" {
		t.Errorf("after the import: %+v", res)
	}
	os.Remove(filepath.Join(storage, "current", "ubuntu", "amd64", "generic", "noble", "stable", "boot-kernel"))
	if res := mustRun(t, []simplestreams.BootSource{m.source()}, dry); res.UpToDate {
		t.Error("up to date with a file missing from current")
	}
}

// TestFailedRunResult: a run that fails after downloading says how many
// bytes it received.
func TestFailedRunResult(t *testing.T) {
	m := newMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, SquashfsSize: 1 << 20}))
	var served atomic.Int32
	m.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/streams/v1/index.sjson" || filepath.Dir(r.URL.Path) == "/streams/v1" {
			return false
		}
		if served.Add(1) > 1 {
			http.NotFound(w, r) // every payload after the first
			return true
		}
		return false
	})
	opts := testOptions(t.TempDir())
	opts.Jobs = 1
	res, err := run(t, []simplestreams.BootSource{m.source()}, opts)
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Status != http.StatusNotFound {
		t.Fatalf("err %v, want a 404", err)
	}
	if res == nil || res.Status != StatusFailed || res.Bytes.Downloaded == 0 || res.Bytes.Downloaded != m.served.Load() {
		t.Errorf("result %+v, want failed with the %d bytes served", res, m.served.Load())
	}
}
