package importer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

func maasSpec(versions ...string) streamtest.Spec {
	return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: versions, Signed: true,
		KernelSize: 10_000, InitrdSize: 30_000, SquashfsSize: 200_000})
}

func TestImportTree(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := filepath.Join(t.TempDir(), "boot")
	res := mustRun(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}, testOptions(storage))
	if res.Status != StatusImported || len(res.Images) != 4 {
		t.Fatalf("got status %s with %d images, want imported with 4 (ga-24.04, generic, hwe-n, hwe-24.04)", res.Status, len(res.Images))
	}
	// 2 kernels + 2 initrds + squashfs + manifest, shared by the images
	if res.Files.Total != 6 || res.Files.Downloaded != 6 || res.Files.Reused != 0 {
		t.Errorf("files: got %+v, want 6 downloaded", res.Files)
	}
	if want := int64(2*10_000 + 2*30_000 + 200_000 + 32); res.Bytes.Total != want || res.Bytes.Downloaded != want {
		t.Errorf("bytes: got %+v, want %d downloaded", res.Bytes, want)
	}
	target, err := os.Readlink(filepath.Join(storage, "current"))
	if err != nil || target != res.Snapshot || !strings.HasPrefix(target, "snapshot-") || filepath.IsAbs(target) {
		t.Fatalf("current -> %q (%v), want a relative link to %s", target, err, res.Snapshot)
	}
	snap := filepath.Join(storage, target)
	var files int
	err = filepath.WalkDir(snap, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		if d.IsDir() {
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", p, fi.Mode().Perm())
			}
			return nil
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", p, fi.Mode().Perm())
		}
		if d.Name() == "maas.meta" {
			return nil
		}
		files++
		sum := streamtest.SHA256File(t, p)
		ci, err := os.Stat(filepath.Join(storage, "cache", sum))
		if err != nil || !os.SameFile(fi, ci) {
			t.Errorf("%s is not a link of cache/%s (%v)", p, sum, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 4*4 {
		t.Errorf("got %d files in the tree, want 16", files)
	}
	for _, want := range []string{"ubuntu/amd64/generic/noble/stable/boot-kernel", "ubuntu/amd64/hwe-n/noble/stable/squashfs",
		"ubuntu/amd64/ga-24.04/noble/stable/squashfs.manifest", "ubuntu/amd64/hwe-24.04/noble/stable/boot-initrd"} {
		if _, err := os.Stat(filepath.Join(snap, want)); err != nil {
			t.Errorf("missing %s: %v", want, err)
		}
	}
	meta, _ := os.ReadFile(filepath.Join(snap, "maas.meta"))
	wantMeta := `{"ubuntu": {"amd64": {"ga-24.04": {"noble": {"stable": {"content_id": "com.ubuntu.maas:stable:v3:download", ` +
		`"path": "noble/amd64/20250101/ga-24.04/generic/boot-initrd", "product_name": "com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04", ` +
		`"subarches": "generic,hwe-n,ga-24.04", "version_name": "20250101"}}}, "generic": {"noble": {"stable": {`
	if !strings.HasPrefix(string(meta), wantMeta) || strings.HasSuffix(string(meta), "\n") {
		t.Errorf("maas.meta:\n got %s\nwant %s…", meta, wantMeta)
	}
	if fi, _ := os.Stat(filepath.Join(storage, "cache")); fi == nil {
		t.Fatal("no cache")
	}
	entries, _ := os.ReadDir(filepath.Join(storage, "cache"))
	if len(entries) != 6 {
		t.Errorf("cache has %d entries, want 6", len(entries))
	}
}

func TestUnchangedAndUpdate(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source()}
	first := mustRun(t, src, testOptions(storage))
	metaFile := filepath.Join(storage, first.Snapshot, "maas.meta")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(metaFile, old, old)
	m.resetRequests()

	second := mustRun(t, src, testOptions(storage))
	if second.Status != StatusUnchanged || second.Snapshot != first.Snapshot || second.Files.Downloaded != 0 {
		t.Fatalf("second run: got %s %s %+v, want unchanged %s", second.Status, second.Snapshot, second.Files, first.Snapshot)
	}
	if r := m.payloadRequests(); len(r) != 0 {
		t.Errorf("second run fetched %v", r)
	}
	if fi, _ := os.Stat(metaFile); !fi.ModTime().After(old.Add(time.Minute)) {
		t.Errorf("maas.meta mtime not touched: %v", fi.ModTime())
	}

	// A new upstream version: only its files are fetched, the squashfs
	// of each release once, and the old tree and cache go away.
	m.write(maasSpec("20250101", "20250202"))
	m.resetRequests()
	time.Sleep(1100 * time.Millisecond) // a new snapshot name
	third := mustRun(t, src, testOptions(storage))
	if third.Status != StatusImported || third.Snapshot == first.Snapshot {
		t.Fatalf("third run: got %s %s", third.Status, third.Snapshot)
	}
	var wantBytes int64
	for p, f := range m.tree.Files {
		if strings.Contains(p, "/20250202/") {
			wantBytes += f.Size
		}
	}
	if got := m.served(); got != wantBytes || third.Bytes.Downloaded != wantBytes {
		t.Errorf("update: served %d bytes, result says %d, want %d (only the new version's files)", got, third.Bytes.Downloaded, wantBytes)
	}
	reqs := m.payloadRequests()
	slices.Sort(reqs)
	if len(slices.Compact(reqs)) != len(m.payloadRequests()) {
		t.Errorf("a file was fetched twice: %v", m.payloadRequests())
	}
	if _, err := os.Stat(filepath.Join(storage, first.Snapshot)); !os.IsNotExist(err) {
		t.Errorf("old snapshot still there: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(storage, "cache"))
	if int64(len(entries)) != third.Files.Total {
		t.Errorf("cache has %d files, want %d (unreferenced ones removed)", len(entries), third.Files.Total)
	}
}

func TestDamagedCurrentIsRebuilt(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "jammy"})}
	first := mustRun(t, src, testOptions(storage))
	victim := filepath.Join(storage, first.Snapshot, "ubuntu/amd64/generic/jammy/stable/boot-kernel")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	second := mustRun(t, src, testOptions(storage))
	if second.Status != StatusImported || second.Snapshot == first.Snapshot {
		t.Fatalf("got %s %s, want a rebuilt snapshot", second.Status, second.Snapshot)
	}
	if _, err := os.Stat(filepath.Join(storage, "current/ubuntu/amd64/generic/jammy/stable/boot-kernel")); err != nil {
		t.Error(err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := filepath.Join(t.TempDir(), "boot")
	opts := testOptions(storage)
	opts.DryRun = true
	res := mustRun(t, []simplestreams.BootSource{m.source()}, opts)
	if res.Status != StatusDryRun || res.Files.Downloaded != res.Files.Total || res.Snapshot != "" {
		t.Errorf("got %+v", res)
	}
	if _, err := os.Stat(storage); !os.IsNotExist(err) {
		t.Errorf("dry run created the storage: %v", err)
	}
	if r := m.payloadRequests(); len(r) != 0 {
		t.Errorf("dry run fetched %v", r)
	}
}

// TestFaults: transient faults end in a good import, persistent ones in
// the right error with current untouched.
func TestFaults(t *testing.T) {
	// What the fault handlers saw, for the checks; local, so that a run
	// with -count=N starts each time from nothing.
	var (
		retriedEarly    atomic.Value
		abortedByClient atomic.Int32
	)
	once := func(h streamtest.Hook) streamtest.Hook { return streamtest.Payloads(streamtest.Once(h)) }
	tests := []struct {
		name    string
		fault   streamtest.Hook
		wantErr func(error) bool
		check   func(t *testing.T, m *mirror, logs string)
	}{
		{"5xx then success", once(streamtest.Status(503)), nil, nil},
		{"429 with Retry-After", func() streamtest.Hook {
			var mu sync.Mutex
			refused := map[string]time.Time{}
			return streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				mu.Lock()
				at, ok := refused[r.URL.Path]
				if !ok {
					refused[r.URL.Path] = time.Now()
				}
				mu.Unlock()
				if !ok {
					streamtest.Status(429, "Retry-After", "1")(w, r, next)
					return
				}
				// The retry must honour the Retry-After of 1 s.
				if waited := time.Since(at); waited < 900*time.Millisecond {
					retriedEarly.Store(r.URL.Path + " after " + waited.String())
				}
				next.ServeHTTP(w, r)
			})
		}(), nil, func(t *testing.T, m *mirror, logs string) {
			if v := retriedEarly.Load(); v != nil {
				t.Errorf("retried before Retry-After: %v", v)
			}
		}},
		{"body cut mid-way, resumed", once(streamtest.CutAt(0.5)), nil, func(t *testing.T, m *mirror, logs string) {
			if !slices.ContainsFunc(m.payloadRequests(), func(s string) bool { return strings.HasSuffix(s, " range") }) {
				t.Errorf("no Range request after a cut body: %v", m.payloadRequests())
			}
		}},
		{"Range ignored", streamtest.Chain(streamtest.IgnoreRange, once(streamtest.CutAt(0.5))), nil, func(t *testing.T, m *mirror, logs string) {
			// Restarted from zero at once, not rescued by the refetch
			// after a checksum mismatch.
			if !strings.Contains(logs, "server ignored Range; restarting") {
				t.Errorf("the restart after an ignored Range was not taken:\n%s", logs)
			}
		}},
		{"stall", once(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			// the first bytes of the file, then silence until the
			// client gives up
			streamtest.Stall(10)(w, r, next)
			abortedByClient.Add(1)
		}), nil, func(t *testing.T, m *mirror, logs string) {
			// The client gave up on the silent body after --timeout; the
			// server did not have to end it.
			// (The handler sees the abort on its own goroutine: give it
			// a moment.)
			for i := 0; i < 40 && abortedByClient.Load() == 0; i++ {
				time.Sleep(50 * time.Millisecond)
			}
			if abortedByClient.Load() == 0 {
				t.Error("no stalled download was aborted by the client")
			}
		}},
		{"wrong bytes", streamtest.Suffix("/squashfs", streamtest.Garbage(200_000)),
			func(err error) bool { var c *ChecksumError; return errors.As(err, &c) && c.What == "sha256" }, nil},
		{"too many bytes", streamtest.Suffix("/squashfs", streamtest.Garbage(300_000)),
			func(err error) bool { var c *ChecksumError; return errors.As(err, &c) && c.What == "size" }, nil},
		{"404", streamtest.Suffix("/boot-initrd", streamtest.Status(404)),
			func(err error) bool { var f *FetchError; return errors.As(err, &f) && f.Status == 404 }, nil},
		{"500 forever", streamtest.Suffix("/boot-kernel", streamtest.Status(500)),
			func(err error) bool { var f *FetchError; return errors.As(err, &f) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t, maasSpec("20250101"))
			storage := t.TempDir()
			src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble", Subarches: []string{"generic"}})}
			// a good tree first, then a new version under faults
			mustRun(t, src, testOptions(storage))
			before := treeState(t, storage)
			m.write(maasSpec("20250101", "20250202"))
			m.resetRequests()
			m.setFault(tt.fault)
			opts := testOptions(storage)
			opts.Timeout = 500 * time.Millisecond
			var logs syncBuffer
			opts.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			res, err := run(t, src, opts)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got %v, want a good import", err)
				}
				if res.Status != StatusImported {
					t.Fatalf("got %s", res.Status)
				}
				// A transient fault is handled by its own means, never
				// by the one refetch after a mismatch.
				if strings.Contains(logs.String(), "does not match its metadata") {
					t.Errorf("a transient fault led to a mismatch:\n%s", logs.String())
				}
				if tt.check != nil {
					tt.check(t, m, logs.String())
				}
				return
			}
			if !tt.wantErr(err) {
				t.Fatalf("got error %v (%T)", err, err)
			}
			if after := treeState(t, storage); after != before {
				t.Errorf("a failed run changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer that concurrent loggers may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLockThenResolve: Run resolves the sources only once it holds the
// storage lock — a locked-out run never resolves, a waiting one resolves
// after the lock is released — and a dry run, which takes no lock,
// resolves at once.
func TestLockThenResolve(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	var resolved atomic.Int32
	var unlocked atomic.Bool
	resolve := func(context.Context) ([]simplestreams.BootSource, error) {
		resolved.Add(1)
		return []simplestreams.BootSource{m.source()}, nil
	}
	unlock, err := Lock(context.Background(), storage, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), resolve, testOptions(storage)); !errors.Is(err, ErrLocked) || resolved.Load() != 0 {
		t.Fatalf("locked out: got %v after %d resolves, want ErrLocked and none", err, resolved.Load())
	}
	dry := testOptions(storage)
	dry.DryRun = true
	if res, err := Run(context.Background(), resolve, dry); err != nil || res.Status != StatusDryRun || resolved.Load() != 1 {
		t.Fatalf("dry run while locked: %v, %d resolves; want a dry run that resolved once", err, resolved.Load())
	}
	resolved.Store(0)
	var whenResolved atomic.Bool
	waiting := func(ctx context.Context) ([]simplestreams.BootSource, error) {
		whenResolved.Store(unlocked.Load())
		return resolve(ctx)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		unlocked.Store(true)
		unlock()
	}()
	opts := testOptions(storage)
	opts.Wait = true
	if res, err := Run(context.Background(), waiting, opts); err != nil || res.Status != StatusImported {
		t.Fatalf("with Wait: %v", err)
	}
	if resolved.Load() != 1 || !whenResolved.Load() {
		t.Errorf("with Wait: %d resolves, after the unlock: %v; want one, after", resolved.Load(), whenResolved.Load())
	}
}

func TestLock(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	unlock, err := Lock(context.Background(), storage, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, []simplestreams.BootSource{m.source()}, testOptions(storage)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second run: got %v, want ErrLocked", err)
	}
	if len(m.payloadRequests()) != 0 {
		t.Error("a locked-out run fetched files")
	}
	go func() { time.Sleep(300 * time.Millisecond); unlock() }()
	opts := testOptions(storage)
	opts.Wait = true
	if res := mustRun(t, []simplestreams.BootSource{m.source()}, opts); res.Status != StatusImported {
		t.Fatalf("with --wait: got %s", res.Status)
	}
	// A lock file left by a crashed run does not block.
	if _, err := os.Stat(filepath.Join(storage, ".lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, []simplestreams.BootSource{m.source()}, testOptions(storage)); err != nil {
		t.Fatalf("after the lock was released: %v", err)
	}
}

func TestNoSpace(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	defer disk.SetStatfsForTest(func(path string, st *unix.Statfs_t) error {
		st.Bsize, st.Bavail = 4096, 10
		return nil
	})()
	_, err := run(t, []simplestreams.BootSource{m.source()}, testOptions(storage))
	var se *SpaceError
	if !errors.As(err, &se) || !errors.Is(err, ErrStorage) || se.Free != 40960 || se.Need <= se.Free {
		t.Fatalf("got %v, want a SpaceError with both numbers", err)
	}
	if len(m.payloadRequests()) != 0 {
		t.Error("downloaded despite too little space")
	}
}

// TestRealEACCES: directories of the storage that this user may not write,
// at each step of an import (first import, a new download, a new snapshot).
// Root ignores permissions, so .ci/run runs this test again as an
// unprivileged user.
func TestRealEACCES(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores permissions; the EACCES cases need an unprivileged user (.ci/run runs them as nobody)")
	}
	tests := []struct {
		name     string
		imported bool   // a good import first, then a new upstream version
		readOnly string // relative to the storage
	}{
		{"storage read-only before the first import", false, "."},
		{"cache read-only, a new version to download", true, "cache"},
		{"storage read-only, a new snapshot to publish", true, "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMirror(t, maasSpec("20250101"))
			storage := t.TempDir()
			src := []simplestreams.BootSource{m.source()}
			if tt.imported {
				mustRun(t, src, testOptions(storage))
				m.write(maasSpec("20250101", "20250202"))
			}
			before := treeState(t, storage)
			dir := filepath.Join(storage, tt.readOnly)
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			_, err := run(t, src, testOptions(storage))
			os.Chmod(dir, 0o755)
			if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EACCES) {
				t.Fatalf("got %v, want ErrStorage wrapping EACCES", err)
			}
			if !strings.Contains(err.Error(), storage) {
				t.Errorf("error %q does not name the storage", err)
			}
			if after := treeState(t, storage); after != before {
				t.Errorf("the failed run changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if tt.imported {
				if _, err := Verify(context.Background(), storage, false, nil); err != nil {
					t.Errorf("current does not verify after the failed run: %v", err)
				}
			}
			// With the rights back, the next run completes.
			res := mustRun(t, src, testOptions(storage))
			if res.Status != StatusImported {
				t.Errorf("the next run: status %s, want imported", res.Status)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source()}
	mustRun(t, src, testOptions(storage))
	before := treeState(t, storage)
	m.write(maasSpec("20250101", "20250202"))
	ctx, cancel := context.WithCancel(context.Background())
	m.setFault(streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		cancel()
		<-r.Context().Done()
	}))
	start := time.Now()
	_, err := Run(ctx, given(src), testOptions(storage))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	if after := treeState(t, storage); after != before {
		t.Errorf("a cancelled run changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestSignatureAndKeyringErrors(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := m.source()
	src.KeyringData = streamtest.Keyring(streamtest.OtherKey())
	if _, err := run(t, []simplestreams.BootSource{src}, testOptions(storage)); !errors.Is(err, simplestreams.ErrSignature) {
		t.Errorf("other key: got %v, want ErrSignature", err)
	}
	src.KeyringData, src.Keyring = nil, filepath.Join(t.TempDir(), "missing.gpg")
	if _, err := run(t, []simplestreams.BootSource{src}, testOptions(storage)); !errors.Is(err, ErrKeyring) {
		t.Errorf("missing keyring: got %v, want ErrKeyring", err)
	}
	opts := testOptions(storage)
	opts.InsecureSkipVerify = true
	if _, err := run(t, []simplestreams.BootSource{src}, opts); err != nil {
		t.Errorf("--insecure-skip-verify: %v", err)
	}
	// A signed index that names an unsigned products file.
	idx := filepath.Join(m.dir, "streams/v1/index.sjson")
	b, _ := os.ReadFile(idx)
	body, _ := simplestreams.StripSignature("i", b)
	body = []byte(strings.ReplaceAll(string(body), "download.sjson", "download.json"))
	os.WriteFile(idx, streamtest.ClearSign(body), 0o644)
	plain, _ := os.ReadFile(filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.sjson"))
	pbody, _ := simplestreams.StripSignature("p", plain)
	os.WriteFile(filepath.Join(m.dir, "streams/v1/com.ubuntu.maas:stable:v3:download.json"), pbody, 0o644)
	if _, err := run(t, []simplestreams.BootSource{m.source()}, testOptions(t.TempDir())); !errors.Is(err, simplestreams.ErrSignature) {
		t.Errorf("unsigned products behind a signed index: got %v, want ErrSignature", err)
	}
}

func TestVerifyCleanupList(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}
	res := mustRun(t, src, testOptions(storage))
	ctx := context.Background()
	v, err := Verify(ctx, storage, false, nil)
	if err != nil || v.CacheFiles != 6 || v.TreeFiles != 16 {
		t.Fatalf("verify: got %+v, %v", v, err)
	}
	l, err := List(storage)
	if err != nil || len(l.Images) != 4 || l.Snapshot != res.Snapshot || l.Images[0].Size == 0 {
		t.Fatalf("list: got %+v, %v", l, err)
	}
	// Corrupt a cache file: verify fails, --repair deletes it, the next
	// import fetches it again.
	var victim string
	for p, f := range m.tree.Files {
		if strings.HasPrefix(p, "noble/") && strings.HasSuffix(p, "/squashfs") {
			victim = f.SHA256
		}
	}
	p := filepath.Join(storage, "cache", victim)
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("XX"), 10)
	f.Close()
	if _, err := Verify(ctx, storage, false, nil); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("verify of a corrupt cache: got %v", err)
	}
	if v, err := Verify(ctx, storage, true, nil); !errors.Is(err, ErrVerify) || len(v.Repaired) != 1 {
		t.Fatalf("verify --repair: got %+v, %v", v, err)
	}
	time.Sleep(1100 * time.Millisecond)
	again := mustRun(t, src, testOptions(storage))
	if again.Status != StatusImported || again.Files.Downloaded != 1 {
		t.Fatalf("after repair: got %s, %+v; want one file fetched again", again.Status, again.Files)
	}
	if _, err := Verify(ctx, storage, false, nil); err != nil {
		t.Fatalf("verify after the repair import: %v", err)
	}
	// Cleanup: an unreferenced cache file and an old snapshot.
	os.WriteFile(filepath.Join(storage, "cache", strings.Repeat("0", 64)), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(storage, "snapshot-20000101-000000"), 0o755)
	dry, err := Cleanup(ctx, storage, 0, true, false, nil)
	if err != nil || len(dry.Snapshots) != 1 || len(dry.CacheFiles) != 1 {
		t.Fatalf("cleanup --dry-run: got %+v, %v", dry, err)
	}
	if _, err := os.Stat(filepath.Join(storage, "snapshot-20000101-000000")); err != nil {
		t.Fatal("dry run removed a snapshot")
	}
	done, err := Cleanup(ctx, storage, 0, false, false, nil)
	if err != nil || len(done.Snapshots) != 1 || len(done.CacheFiles) != 1 {
		t.Fatalf("cleanup: got %+v, %v", done, err)
	}
	if _, err := Verify(ctx, storage, false, nil); err != nil {
		t.Fatalf("verify after cleanup: %v", err)
	}
}

func TestEncodeMetaPython(t *testing.T) {
	im := simplestreams.BootImage{
		Image:     simplestreams.Image{OS: "ubuntu", Arch: "amd64", Subarch: "ga-24.04", Release: "noble", Label: "stable"},
		ContentID: "c", ProductName: "p\"q\\r", VersionName: "v\u00e9\U0001F600\x01\x7f~",
		Subarches: "generic", Items: []simplestreams.File{{Name: "a", Path: "x/y"}},
	}
	b := im
	b.Subarch = "generic"
	// The expected bytes are what Python 3 prints for
	// json.dumps(meta, sort_keys=True).
	want := `{"ubuntu": {"amd64": {"ga-24.04": {"noble": {"stable": {"content_id": "c", "path": "x/y", "product_name": "p\"q\\r", "subarches": "generic", "version_name": "v\u00e9\ud83d\ude00\u0001\u007f~"}}}, ` +
		`"generic": {"noble": {"stable": {"content_id": "c", "path": "x/y", "product_name": "p\"q\\r", "subarches": "generic", "version_name": "v\u00e9\ud83d\ude00\u0001\u007f~"}}}}}}`
	if got := string(encodeMeta([]simplestreams.BootImage{b, im})); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestEncodeMetaAgainstPython compares maas.meta with what Python itself
// prints for every ASCII character and a few beyond, when python3 is here.
func TestEncodeMetaAgainstPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; TestEncodeMetaPython holds Python's bytes for the common cases")
	}
	var all strings.Builder
	for r := rune(0); r < 0x80; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\u00e9\u2028\U0001F600\uFFFD")
	im := simplestreams.BootImage{
		Image:     simplestreams.Image{OS: "ubuntu", Arch: "amd64", Subarch: "generic", Release: "noble", Label: "stable"},
		ContentID: "c", ProductName: all.String(), VersionName: "v", Subarches: "generic",
		Items: []simplestreams.File{{Name: "a", Path: "x/y"}},
	}
	got := encodeMeta([]simplestreams.BootImage{im})
	cmd := exec.Command(py, "-c", `import json, sys; print(json.dumps(json.loads(sys.stdin.read()), sort_keys=True), end="")`)
	cmd.Stdin = bytes.NewReader(got)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("maas.meta differs from Python's json.dumps:\ngot  %s\nwant %s", got, want)
	}
}

// TestUnchangedWritesNothing: a run that finds nothing to change writes
// nothing but the mtime of current/maas.meta — not even cleanup, although
// --keep now asks for fewer old snapshots than the storage holds.
func TestUnchangedWritesNothing(t *testing.T) {
	m := newMirror(t, maasSpec("20250101"))
	storage := t.TempDir()
	src := []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}
	mustRun(t, src, testOptions(storage))
	m.write(maasSpec("20250101", "20250202"))
	time.Sleep(1100 * time.Millisecond) // a new snapshot name
	keep := testOptions(storage)
	keep.Keep = 1
	mustRun(t, src, keep)
	listing := func() []string {
		var out []string
		filepath.WalkDir(storage, func(p string, d os.DirEntry, err error) error {
			if err == nil {
				out = append(out, strings.TrimPrefix(p, storage))
			}
			return nil
		})
		return out
	}
	before := listing()
	if n := len(snapshotsIn(t, storage)); n != 2 {
		t.Fatalf("%d snapshots after an import with --keep 1, want 2", n)
	}
	if r := mustRun(t, src, testOptions(storage)); r.Status != StatusUnchanged {
		t.Fatalf("got %s, want unchanged", r.Status)
	}
	if diff := cmp.Diff(before, listing()); diff != "" {
		t.Errorf("an unchanged run changed the storage (-before +after):\n%s", diff)
	}
}

func snapshotsIn(t *testing.T, storage string) []string {
	t.Helper()
	entries, err := os.ReadDir(storage)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "snapshot-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestModesUnderUmask: under a restrictive umask (a hand-run sudo, a
// custom unit) the tree is still 0755/0644, from the storage directory
// down, so that an unprivileged tftpd or HTTP server can read it.
func TestModesUnderUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	m := newMirror(t, bootSpec("20250101"))
	parent := filepath.Join(t.TempDir(), "maas")
	storage := filepath.Join(parent, "boot-resources")
	mustRun(t, []simplestreams.BootSource{m.source(simplestreams.Selection{Release: "noble"})}, testOptions(storage))
	var dirs, files int
	err := filepath.WalkDir(parent, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.Type()&os.ModeSymlink != 0 || d.Name() == ".lock":
		case d.IsDir():
			dirs++
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", p, fi.Mode().Perm())
			}
		default:
			files++
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: mode %v, want 0644", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dirs < 8 || files < 10 {
		t.Errorf("walked %d directories and %d files: not the tree", dirs, files)
	}
}
