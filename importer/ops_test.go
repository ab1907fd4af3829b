package importer

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// opsMirror serves a stream written for spec; hook, when not nil, sees
// each request first and may answer it (returning true). served counts
// the payload bytes it sends.
func opsMirror(t *testing.T, spec streamtest.Spec, hook func(w http.ResponseWriter, r *http.Request) bool) (src simplestreams.BootSource, served *atomic.Int64) {
	dir := t.TempDir()
	if _, err := streamtest.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	served = new(atomic.Int64)
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/streams/") {
			w = opsCounter{w, served}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return simplestreams.BootSource{URL: srv.URL + "/", KeyringData: streamtest.Keyring(streamtest.Key()),
		Selections: []simplestreams.Selection{{}}}, served
}

// opsCounter counts what a handler writes.
type opsCounter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c opsCounter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// TestDryRunUpToDate: a dry run says whether an import would change
// nothing: not before a first import, yes after it, not once current
// lost a file.
func TestDryRunUpToDate(t *testing.T) {
	src, _ := opsMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, Bootloaders: true}), nil)
	srcs := []simplestreams.BootSource{src}
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
	var payloads atomic.Int32
	src, served := opsMirror(t, streamtest.MAAS(streamtest.Options{Signed: true, SquashfsSize: 1 << 20}), func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/streams/") && payloads.Add(1) > 1 {
			http.NotFound(w, r) // every payload after the first
			return true
		}
		return false
	})
	opts := testOptions(t.TempDir())
	opts.Jobs = 1
	res, err := run(t, []simplestreams.BootSource{src}, opts)
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Status != http.StatusNotFound {
		t.Fatalf("err %v, want a 404", err)
	}
	if res == nil || res.Status != StatusFailed || res.Bytes.Downloaded == 0 || res.Bytes.Downloaded != served.Load() {
		t.Errorf("result %+v, want failed with the %d bytes served", res, served.Load())
	}
}
