package importer

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestTransientFaults: each fault happens once per file, and the import
// still ends well.
func TestTransientFaults(t *testing.T) {
	tests := map[string]func(m *mirror) streamtest.Hook{
		"slow drip": func(m *mirror) streamtest.Hook {
			// The 10 000 bytes of a kernel (maasSpec) in 8 pieces 100 ms
			// apart: each gap well under the 400 ms timeout, the whole
			// well over it.
			return streamtest.Suffix("/boot-kernel", streamtest.Drip(10_000/8, 100*time.Millisecond))
		},
		"Content-Length larger than the body": func(m *mirror) streamtest.Hook {
			return streamtest.Payloads(streamtest.Once(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				b, _ := os.ReadFile(filepath.Join(m.dir, filepath.FromSlash(r.URL.Path)))
				w.Header().Set("Content-Length", strconv.Itoa(len(b)+1000))
				w.Write(b[:len(b)/3])
				panic(http.ErrAbortHandler)
			}))
		},
		"redirect to another host": func(m *mirror) streamtest.Hook {
			return streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				if r.URL.Query().Get("via") != "" {
					next.ServeHTTP(w, r)
					return
				}
				// A CDN-like redirect: the same files under another name.
				http.Redirect(w, r, strings.Replace(m.srv.URL, "127.0.0.1", "localhost", 1)+r.URL.Path+"?via=redirect", http.StatusFound)
			})
		},
		"5xx burst": func(m *mirror) streamtest.Hook {
			return streamtest.Payloads(streamtest.First(3, streamtest.Status(502)))
		},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMirror(t, maasSpec("20250101"))
			m.setFault(fault(m))
			opts := testOptions(t.TempDir())
			opts.Retries = 8
			opts.Jobs = 1
			if name == "slow drip" {
				opts.Timeout = 400 * time.Millisecond
			}
			res, err := run(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}, opts)
			if err != nil || res.Status != StatusImported {
				t.Fatalf("got %v, want a good import", err)
			}
			if name == "slow drip" {
				// A body that keeps coming is never cut: the timeout is
				// for stalls, not for the whole transfer.
				for _, r := range m.payloadRequests() {
					if strings.HasSuffix(r, " range") {
						t.Errorf("a slow but steady body was cut and resumed: %v", m.payloadRequests())
						break
					}
				}
			}
			if _, err := Verify(t.Context(), opts.Storage, false, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHostileStreams(t *testing.T) {
	tests := map[string]struct {
		mutate func(t *testing.T, m *mirror)
		want   error
	}{
		"index names itself": {func(t *testing.T, m *mirror) {
			idx := filepath.Join(m.dir, "streams/v1/index.sjson")
			b, _ := os.ReadFile(idx)
			body, _ := simplestreams.StripSignature("i", b)
			body = []byte(strings.ReplaceAll(string(body), "streams/v1/com.ubuntu.maas:stable:v3:download.sjson", "streams/v1/index.sjson"))
			os.WriteFile(idx, streamtest.ClearSign(body), 0o644)
		}, simplestreams.ErrInvalid},
		"endless metadata": {func(t *testing.T, m *mirror) {
			m.setFault(streamtest.Suffix("download.sjson", streamtest.Garbage(80<<20)))
		}, nil},
		"invalid UTF-8 in a signed products file": {func(t *testing.T, m *mirror) {
			p := filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.sjson")
			b, _ := os.ReadFile(p)
			body, _ := simplestreams.StripSignature("p", b)
			body = []byte(strings.Replace(string(body), `"arch"`, "\"ar\xffch\"", 1))
			os.WriteFile(p, streamtest.ClearSign(body), 0o644)
		}, simplestreams.ErrInvalid},
		"over-long path": {func(t *testing.T, m *mirror) {
			resign(t, m, func(body string) string {
				return strings.Replace(body, `"path": "noble/`, `"path": "`+strings.Repeat("a/", 600)+`noble/`, 1)
			})
		}, simplestreams.ErrUnsafePath},
		"a size larger than the file": {func(t *testing.T, m *mirror) {
			resign(t, m, func(body string) string {
				re := regexp.MustCompile(`("path": "noble/[^"]*/squashfs",\s*"sha256": "[0-9a-f]+",\s*"size": )200000`)
				return re.ReplaceAllString(body, "${1}200001")
			})
		}, errSize},
		"a tampered byte in the signed products file": {func(t *testing.T, m *mirror) {
			p := filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.sjson")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"release": "noble"`, `"release": "nobke"`, 1)), 0o644)
		}, simplestreams.ErrSignature},
		"a tampered byte in the signed index": {func(t *testing.T, m *mirror) {
			p := filepath.Join(m.dir, "streams/v1/index.sjson")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"format": "products:1.0"`, `"format": "products:1.O"`, 1)), 0o644)
		}, simplestreams.ErrSignature},
		"path escaping the root": {func(t *testing.T, m *mirror) {
			p := filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.sjson")
			b, _ := os.ReadFile(p)
			body, _ := simplestreams.StripSignature("p", b)
			body = []byte(strings.Replace(string(body), `"path": "noble/`, `"path": "../../../../noble/`, 1))
			os.WriteFile(p, streamtest.ClearSign(body), 0o644)
		}, simplestreams.ErrUnsafePath},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMirror(t, maasSpec("20250101"))
			storage := t.TempDir()
			src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
			mustRun(t, src, testOptions(storage))
			before := treeState(t, storage)
			tt.mutate(t, m)
			_, err := run(t, src, testOptions(storage))
			var fe *FetchError
			switch {
			case tt.want == nil && !errors.As(err, &fe):
				t.Fatalf("got %v, want a FetchError", err)
			case tt.want == errSize:
				if c := (*ChecksumError)(nil); !errors.As(err, &c) || c.What != "size" {
					t.Fatalf("got %v, want a size mismatch", err)
				}
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if after := treeState(t, storage); after != before {
				t.Errorf("tree changed:\n%s\n%s", before, after)
			}
		})
	}
}

// errSize marks a hostile-stream case that must end in a size mismatch.
var errSize = errors.New("size mismatch")

// resign rewrites the body of the signed products file and signs it again
// with the test key: hostile content from a mirror whose key we trust.
func resign(t *testing.T, m *mirror, edit func(string) string) {
	t.Helper()
	p := filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.sjson")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	body, err := simplestreams.StripSignature("p", b)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(body))
	if edited == string(body) {
		t.Fatal("the edit changed nothing: the test would prove nothing")
	}
	if err := os.WriteFile(p, streamtest.ClearSign([]byte(edited)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPlantedSymlinks: links planted in the storage never make the import
// write outside it.
func TestPlantedSymlinks(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
	var sha string
	var size int64
	for _, f := range m.tree.Files {
		if strings.HasPrefix(f.Path, "noble/") && strings.HasSuffix(f.Path, "/squashfs") {
			sha, size = f.SHA256, f.Size
		}
	}
	// A victim outside the storage with the very size the cache expects,
	// so that only refusing to follow the link keeps it out of the tree.
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	precious := strings.Repeat("p", int(size))
	os.WriteFile(victim, []byte(precious), 0o644)

	// A cache entry that is a symlink to a file outside.
	storage := t.TempDir()
	os.MkdirAll(filepath.Join(storage, "cache"), 0o755)
	os.Symlink(victim, filepath.Join(storage, "cache", sha))
	os.Symlink(victim, filepath.Join(storage, "cache", sha+".part"))
	// current pointing outside.
	os.Symlink(outside, filepath.Join(storage, "current"))
	if _, err := run(t, src, testOptions(storage)); err != nil {
		t.Fatalf("import: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != precious {
		t.Fatalf("the import wrote through a planted symlink (%d bytes now)", len(b))
	}
	err := filepath.WalkDir(filepath.Join(storage, "current")+"/", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSymlink != 0 {
			t.Errorf("%s is a symlink in the published tree", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(t.Context(), storage, false, nil); err != nil {
		t.Fatal(err)
	}

	// The cache directory itself a symlink to outside.
	storage = t.TempDir()
	os.Symlink(outside, filepath.Join(storage, "cache"))
	_, err = run(t, src, testOptions(storage))
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("a symlinked cache directory: got %v, want ErrStorage", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("the import wrote %d entries outside the storage", len(entries)-1)
	}
}

// TestRealENOSPC fills a real size-limited file system (tmpfs, root only).
func TestRealENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root; skipping the real ENOSPC test")
	}
	storage := t.TempDir()
	if err := unix.Mount("tmpfs", storage, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); skipping the real ENOSPC test", err)
	}
	defer unix.Unmount(storage, 0)
	m := newMirror(t, maasSpec("20250101"))
	small := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
	mustRun(t, small, testOptions(storage))
	before := treeState(t, storage)
	// Lie about the free space so that the downloads start and hit ENOSPC.
	defer disk.SetStatfsForTest(func(path string, st *unix.Statfs_t) error { st.Bsize, st.Bavail = 4096, 1<<30; return nil })()
	big := streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Signed: true, KernelSize: 300_000, InitrdSize: 600_000, SquashfsSize: 900_000})
	m.write(big)
	_, err := run(t, []simplestreams.BootSource{m.source()}, testOptions(storage))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ErrStorage wrapping ENOSPC", err)
	}
	if after := treeState(t, storage); after != before {
		t.Errorf("tree changed:\n%s\n%s", before, after)
	}
	entries, _ := os.ReadDir(storage)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}

// TestWriteStepFailures makes each local write step fail with ENOSPC and
// with EACCES in turn: the run ends in ErrStorage (exit 8) wrapping that
// errno, current is untouched and no temporary file is left.
func TestWriteStepFailures(t *testing.T) {
	steps := []fault.Step{fault.CreatePart, fault.Write, fault.SyncFile, fault.Rename, fault.SyncDir, fault.Mkdir, fault.Link, fault.WriteMeta,
		fault.RenameSnapshot, fault.Symlink, fault.Switch, fault.Put}
	m := newMirror(t, bootSpec("20250101"))
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
	base := t.TempDir()
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EACCES} {
		for _, step := range steps {
			t.Run(step.String()+"/"+errno.Error(), func(t *testing.T) {
				m.write(bootSpec("20250101"))
				storage := filepath.Join(base, step.String()+"-"+strconv.Itoa(int(errno)))
				mustRun(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "jammy", Subarches: []string{"generic"}})}, testOptions(storage))
				before := treeState(t, storage)
				// A new version, and bootloaders from a new archive, so that
				// every step has work to do.
				spec := bootSpec("20250101", "20250202")
				spec.Bootloaders = streamtest.Bootloaders("20250202")
				m.write(spec)
				var hit atomic.Bool // the downloads run concurrently
				defer fault.Set(func(s fault.Step, path string) error {
					if s == step {
						hit.Store(true)
						return errno
					}
					return nil
				})()
				_, err := run(t, src, testOptions(storage))
				if !hit.Load() {
					t.Fatalf("the import never reached the %s step", step)
				}
				if !errors.Is(err, ErrStorage) || !errors.Is(err, errno) {
					t.Fatalf("got %v, want ErrStorage wrapping %v", err, errno)
				}
				if after := treeState(t, storage); after != before {
					t.Errorf("tree changed:\n%s\n%s", before, after)
				}
				for _, dir := range []string{storage, filepath.Join(storage, "cache")} {
					entries, _ := os.ReadDir(dir)
					for _, e := range entries {
						if strings.HasPrefix(e.Name(), tmpPrefix) {
							t.Errorf("temporary %s left in %s", e.Name(), dir)
						}
					}
				}
			})
		}
	}
}

// TestCleanupFailureKeepsTheImport: once current serves the new tree, a
// failing cleanup is a warning, not a failed run.
func TestCleanupFailureKeepsTheImport(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
	first := mustRun(t, src, testOptions(storage))
	m.write(maasSpec("20250101", "20250202"))
	time.Sleep(1100 * time.Millisecond)
	defer fault.Set(func(s fault.Step, path string) error {
		if s == fault.Remove {
			return syscall.EACCES
		}
		return nil
	})()
	var logs strings.Builder
	opts := testOptions(storage)
	opts.Log = slog.New(slog.NewTextHandler(&logs, nil))
	res, err := run(t, src, opts)
	if err != nil || res.Status != StatusImported {
		t.Fatalf("got %v, want the import to stand", err)
	}
	if target, _ := os.Readlink(filepath.Join(storage, "current")); target != res.Snapshot {
		t.Errorf("current -> %s, want %s", target, res.Snapshot)
	}
	if _, err := os.Stat(filepath.Join(storage, first.Snapshot)); err != nil {
		t.Errorf("the old snapshot should still be there: %v", err)
	}
	if !strings.Contains(logs.String(), "cleaning up after the import failed") {
		t.Errorf("no warning logged: %s", logs.String())
	}
}
