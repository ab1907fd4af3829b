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
	srcs := []simplestreams.BootSource{newMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, Bootloaders: true})).source()}
	storage := t.TempDir()
	dry := testOptions(storage)
	dry.DryRun = true
	if res := mustRun(t, srcs, dry); res.UpToDate {
		t.Error("up to date before any import")
	}
	mustRun(t, srcs, testOptions(storage))
	if res := mustRun(t, srcs, dry); !res.UpToDate || res.Status != StatusDryRun || res.Snapshot != "" {
		t.Errorf("after the import: %+v", res)
	}
	os.Remove(filepath.Join(storage, "current", "ubuntu", "amd64", "generic", "noble", "stable", "boot-kernel"))
	if res := mustRun(t, srcs, dry); res.UpToDate {
		t.Error("up to date with a file missing from current")
	}
}

// TestFailedRunResult: a run that fails after downloading says how many
// bytes it received.
func TestFailedRunResult(t *testing.T) {
	m := newMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, SquashfsSize: 1 << 20}))
	var payloads atomic.Int32
	m.setFault(streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if payloads.Add(1) > 1 {
			streamtest.Status(http.StatusNotFound)(w, r, next) // every payload after the first
			return
		}
		next.ServeHTTP(w, r)
	}))
	opts := testOptions(t.TempDir())
	opts.Jobs = 1
	res, err := run(t, []simplestreams.BootSource{m.source()}, opts)
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Status != http.StatusNotFound {
		t.Fatalf("err %v, want a 404", err)
	}
	if res == nil || res.Status != StatusFailed || res.Bytes.Downloaded == 0 || res.Bytes.Downloaded != m.served() {
		t.Errorf("result %+v, want failed with the %d bytes served", res, m.served())
	}
}
