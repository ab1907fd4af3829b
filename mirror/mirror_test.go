package mirror

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/internal/lock"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

var noble = simplestreams.Selection{Release: "noble"}

// TestVerbatim: the metadata is upstream's byte for byte, the payload is
// exactly the items of the newest version of every selected product (and
// of the bootloaders that serve it), each a link of the verified store.
func TestVerbatim(t *testing.T) {
	tree := upstream(t, spec("20250101", "20250709"))
	srv := newServer(t, tree.Dir)
	dir := filepath.Join(t.TempDir(), "mirror")
	res := mirrorOK(t, source(srv.URL, noble), testOptions(dir))
	if res.Status != StatusMirrored || res.Metadata != MetadataVerbatim || res.Index != "streams/v1/index.sjson" {
		t.Errorf("result %+v", res)
	}
	for rel := range tree.Metadata {
		want := must(os.ReadFile(filepath.Join(tree.Dir, rel)))
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not upstream's byte for byte (%v)", rel, err)
		}
	}
	want := filesOf(tree, "noble/amd64/20250709/", "bootloaders/pxe/i386/", "bootloaders/uefi/amd64/")
	if d := cmp.Diff(want, payloadFiles(t, dir)); d != "" {
		t.Errorf("payload (-want +got):\n%s", d)
	}
	for _, rel := range want {
		p := filepath.Join(dir, rel)
		sum := streamtest.SHA256File(t, p)
		fi, ci := must(os.Stat(p)), must(os.Stat(filepath.Join(dir, ".cache", sum)))
		if sum != tree.Files[rel].SHA256 || !os.SameFile(fi, ci) || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: sha256 %s, mode %v, a link of the store: %v", rel, sum, fi.Mode(), os.SameFile(fi, ci))
		}
		for d := filepath.Dir(p); d != dir; d = filepath.Dir(d) {
			if fi := must(os.Stat(d)); fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v", d, fi.Mode())
			}
		}
	}
	// One copy per sha256: the squashfs is shared by three products.
	if res.Files.Total != int64(len(want)) || res.Files.Downloaded != res.Files.Total || res.Bytes.Downloaded != sizeOf(tree, want) {
		t.Errorf("files %+v bytes %+v, want %d files of %d bytes", res.Files, res.Bytes, len(want), sizeOf(tree, want))
	}
	if len(res.Products) != 5 || len(res.Images) != 5+2 { // ga, hwe, plus 2 bootloaders; ga and hwe fan out
		t.Logf("products %v", res.Products)
	}
}

// TestRewrite: rewritten metadata lists exactly the mirrored content ids,
// products, versions and items, every other field kept; signed, it
// verifies with the published mirror key and the .json files hold the
// same JSON.
func TestRewrite(t *testing.T) {
	tree := upstream(t, spec("20250101", "20250709"))
	srv := newServer(t, tree.Dir)
	signer := must(simplestreams.ParseSigningKey("key", streamtest.ArmoredPrivateKey(streamtest.OtherKey())))
	for _, tc := range []struct {
		name   string
		signer *simplestreams.Signer
	}{{"unsigned", nil}, {"signed", signer}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.Rewrite, opts.Signer, opts.MaxVersions, opts.NoBootloaders = true, tc.signer, 2, true
			res := mirrorOK(t, source(srv.URL, simplestreams.Selection{Release: "noble", Subarches: []string{"ga-24.04"}}), opts)
			read := func(rel string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(rel, ".sjson") {
					return b
				}
				kr := must(simplestreams.ParseKeyring("mirror", must(os.ReadFile(filepath.Join(dir, KeyringFile)))))
				body, err := simplestreams.Verify(rel, b, kr)
				if err != nil {
					t.Fatalf("%s: %v", rel, err)
				}
				// The .json twin is the same JSON, but that an index names
				// the .json products files.
				plain := must(os.ReadFile(filepath.Join(dir, strings.TrimSuffix(rel, ".sjson")+".json")))
				if !bytes.Equal(plain, bytes.ReplaceAll(body, []byte(".sjson"), []byte(".json"))) {
					t.Errorf("%s and its .json differ", rel)
				}
				return body
			}
			ix := must(simplestreams.ParseIndex(read(res.Index)))
			if got := ix.ContentIDs(); !slices.Equal(got, []string{streamtest.ContentID}) {
				t.Fatalf("index content ids %v", got)
			}
			entry := ix.Index[streamtest.ContentID]
			ps := must(simplestreams.ParseProducts(read(entry.Path)))
			const product = "com.ubuntu.maas.stable:v3:boot:24.04:amd64:ga-24.04"
			if !slices.Equal(entry.Products, []string{product}) || len(ps.Products) != 1 {
				t.Fatalf("index lists %v, products file has %d products", entry.Products, len(ps.Products))
			}
			var got []string
			for v, ver := range ps.Products[product].Versions {
				for name := range ver.Items {
					got = append(got, v+"/"+name)
				}
			}
			sort.Strings(got)
			want := []string{"20250101/boot-initrd", "20250101/boot-kernel", "20250101/manifest", "20250101/squashfs",
				"20250709/boot-initrd", "20250709/boot-kernel", "20250709/manifest", "20250709/squashfs"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("items (-want +got):\n%s", d)
			}
			// Every other field is upstream's.
			up := must(simplestreams.ParseProducts(must(simplestreams.StripSignature("up", must(os.ReadFile(filepath.Join(tree.Dir, tree.Products)))))))
			if d := cmp.Diff(up.Products[product], ps.Products[product], cmp.AllowUnexported(simplestreams.Attrs{})); d != "" || up.Updated != ps.Updated || up.ContentID != ps.ContentID {
				t.Errorf("product (-upstream +mirror):\n%s", d)
			}
			if d := cmp.Diff(filesOf(tree, "noble/amd64/20250101/ga-24.04", "noble/amd64/20250709/ga-24.04", "noble/amd64/20250101/squashfs", "noble/amd64/20250709/squashfs"),
				payloadFiles(t, dir)); d != "" {
				t.Errorf("payload (-want +got):\n%s", d)
			}
			_, hasKey := os.Stat(filepath.Join(dir, KeyringFile))
			if (tc.signer != nil) != (hasKey == nil) {
				t.Errorf("%s: %v", KeyringFile, hasKey)
			}
		})
	}
}

// TestRerunWritesNothing: a run against an unchanged upstream downloads
// nothing and writes nothing at all: every entry under the mirror keeps
// its inode, link count, mtime and ctime. Signed metadata is not signed
// again.
func TestRerunWritesNothing(t *testing.T) {
	tree := upstream(t, spec("20250709"))
	srv := newServer(t, tree.Dir)
	signer := must(simplestreams.ParseSigningKey("key", streamtest.ArmoredPrivateKey(streamtest.OtherKey())))
	for _, rewrite := range []bool{false, true} {
		dir := t.TempDir()
		opts := testOptions(dir)
		if rewrite {
			opts.Rewrite, opts.Signer = true, signer
		}
		mirrorOK(t, source(srv.URL), opts)
		srv.payload()
		before := stat(t, dir)
		res := mirrorOK(t, source(srv.URL), opts)
		if got, n := srv.payload(); len(got) != 0 || n != 0 {
			t.Errorf("rewrite %v: the rerun fetched %v", rewrite, got)
		}
		if d := cmp.Diff(before, stat(t, dir), cmp.AllowUnexported(entry{})); d != "" {
			t.Errorf("rewrite %v: the rerun wrote (-before +after):\n%s", rewrite, d)
		}
		if res.Status != StatusUnchanged || res.Files.Downloaded != 0 || res.Files.Reused != res.Files.Total || res.Removed != 0 {
			t.Errorf("rewrite %v: %+v", rewrite, res)
		}
	}
}

// TestNewVersion: a new upstream version downloads only its new files;
// the old version's files stay for one run (grace) and go with the next;
// then the mirror is unchanged again. With --max-versions 2 the previous
// version stays.
func TestNewVersion(t *testing.T) {
	v1, v2 := upstream(t, spec("20250101")), upstream(t, spec("20250101", "20250202"))
	srv := newServer(t, v1.Dir)
	dir, dir2 := t.TempDir(), t.TempDir()
	two := testOptions(dir2)
	two.MaxVersions = 2
	src := source(srv.URL, noble)
	mirrorOK(t, src, testOptions(dir))
	mirrorOK(t, src, two)
	old := filesOf(v1, "noble/")
	srv.payload()

	srv.Serve(v2.Dir)
	res := mirrorOK(t, src, testOptions(dir))
	got, n := srv.payload()
	newFiles := filesOf(v2, "noble/amd64/20250202/", "bootloaders/pxe/i386/", "bootloaders/uefi/amd64/")
	newFiles = slices.DeleteFunc(newFiles, func(p string) bool { return !strings.Contains(p, "20250202") })
	if n != sizeOf(v2, newFiles) || len(got) != len(newFiles) || res.Bytes.Downloaded != n {
		t.Errorf("fetched %d bytes in %d requests (%v), want the %d new files' %d bytes", n, len(got), got, len(newFiles), sizeOf(v2, newFiles))
	}
	have := payloadFiles(t, dir)
	for _, p := range append(slices.Clone(old), newFiles...) {
		if !slices.Contains(have, p) {
			t.Errorf("after the new version: %s is missing (grace keeps the old version one run)", p)
		}
	}
	// The next run (upstream unchanged) ends the grace.
	res = mirrorOK(t, src, testOptions(dir))
	if res.Removed == 0 {
		t.Errorf("the run after removed nothing: %+v", res)
	}
	for _, p := range payloadFiles(t, dir) {
		if strings.Contains(p, "20250101") {
			t.Errorf("%s outlived its grace", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "noble/amd64/20250101")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old version's directory stays: %v", err)
	}
	before := stat(t, dir)
	if res := mirrorOK(t, src, testOptions(dir)); res.Status != StatusUnchanged || !cmp.Equal(before, stat(t, dir), cmp.AllowUnexported(entry{})) {
		t.Errorf("then unchanged: %+v", res)
	}
	// --max-versions 2 keeps both, run after run.
	for range 2 {
		mirrorOK(t, src, two)
		have = payloadFiles(t, dir2)
		for _, p := range append(slices.Clone(old), newFiles...) {
			if !slices.Contains(have, p) {
				t.Errorf("--max-versions 2: %s is missing", p)
			}
		}
	}
}

// TestDryRun writes nothing at all, not even the directory.
func TestDryRun(t *testing.T) {
	tree := upstream(t, spec("20250709"))
	srv := newServer(t, tree.Dir)
	dir := filepath.Join(t.TempDir(), "mirror")
	opts := testOptions(dir)
	opts.DryRun = true
	res := mirrorOK(t, source(srv.URL, noble), opts)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) || res.Status != StatusDryRun || res.Files.Downloaded == 0 {
		t.Errorf("dry run: %+v, %v", res, err)
	}
	if got, _ := srv.payload(); len(got) != 0 {
		t.Errorf("fetched %v", got)
	}
}

// TestLockedAndFull: a held lock is ErrLocked before the sources are
// resolved; too little space is a SpaceError before any download.
func TestLockedAndFull(t *testing.T) {
	tree := upstream(t, spec("20250709"))
	srv := newServer(t, tree.Dir)
	dir := t.TempDir()
	unlock, err := lock.Take(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	resolved := false
	_, err = Run(context.Background(), func(context.Context) ([]simplestreams.BootSource, error) {
		resolved = true
		return source(srv.URL), nil
	}, testOptions(dir))
	if !errors.Is(err, lock.ErrLocked) || resolved {
		t.Errorf("locked: %v (resolved %v)", err, resolved)
	}
	unlock()
	defer disk.SetStatfsForTest(func(path string, st *unix.Statfs_t) error { st.Bsize, st.Bavail = 4096, 1; return nil })()
	_, err = Run(context.Background(), given(source(srv.URL)), testOptions(dir))
	var se *disk.SpaceError
	if !errors.As(err, &se) || se.Need <= se.Free {
		t.Errorf("no space: %v", err)
	}
	if got, _ := srv.payload(); len(got) != 0 {
		t.Errorf("fetched %v", got)
	}
}

// TestHostilePaths: a stream may not write over the mirror's own files.
func TestHostilePaths(t *testing.T) {
	for _, p := range []string{".cache/x", ".mirror-state.json", "mirror-keyring.gpg", "a/.tmp-x", ".lock"} {
		s := streamtest.MAAS(streamtest.Options{Signed: true})
		s.Products[0].Versions[0].Items[0].Attrs = map[string]any{"path": p}
		tree := upstream(t, s)
		srv := newServer(t, tree.Dir)
		dir := t.TempDir()
		_, err := Run(context.Background(), given(source(srv.URL)), testOptions(dir))
		if !errors.Is(err, simplestreams.ErrUnsafePath) {
			t.Errorf("item path %s: got %v, want ErrUnsafePath", p, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 { // .lock
			t.Errorf("item path %s: wrote %v", p, entries)
		}
	}
}

// TestVerbatimOneSource: two sources cannot share one verbatim tree.
func TestVerbatimOneSource(t *testing.T) {
	a := newServer(t, upstream(t, spec("20250709")).Dir)
	b := newServer(t, upstream(t, streamtest.MAAS(streamtest.Options{Releases: []string{"focal"}, Signed: true})).Dir)
	srcs := append(source(a.URL, noble), source(b.URL)...)
	if _, err := Run(context.Background(), given(srcs), testOptions(t.TempDir())); !errors.Is(err, ErrConfig) {
		t.Errorf("got %v, want ErrConfig", err)
	}
	opts := testOptions(t.TempDir())
	opts.Rewrite = true
	if _, err := Run(context.Background(), given(srcs), opts); !errors.Is(err, ErrConfig) {
		t.Errorf("one content id from two sources: got %v, want ErrConfig", err)
	}
}

// TestRemoveFailsThenRetried: a file whose grace ended but that cannot be
// removed stays in the grace, and a later run removes it and lets the
// store reclaim its copy.
func TestRemoveFailsThenRetried(t *testing.T) {
	v1, v2 := upstream(t, spec("20250101")), upstream(t, spec("20250101", "20250202"))
	srv := newServer(t, v1.Dir)
	dir := t.TempDir()
	src := source(srv.URL, noble)
	mirrorOK(t, src, testOptions(dir))
	srv.Serve(v2.Dir)
	mirrorOK(t, src, testOptions(dir)) // publishes 20250202; 20250101 in grace
	restore := fault.Set(func(step fault.Step, path string) error {
		if step == fault.Remove {
			return syscall.EACCES
		}
		return nil
	})
	res := mirrorOK(t, src, testOptions(dir)) // the grace ends, but nothing can be removed
	restore()
	if res.Removed != 0 {
		t.Fatalf("removed %d files through a failing remove", res.Removed)
	}
	old := func() []string {
		return slices.DeleteFunc(payloadFiles(t, dir), func(p string) bool { return !strings.Contains(p, "20250101") })
	}
	if len(old()) == 0 {
		t.Fatal("the test's failing remove removed the old version anyway")
	}
	if res := mirrorOK(t, src, testOptions(dir)); res.Removed == 0 || len(old()) != 0 {
		t.Errorf("the next run removed %d files; left %v", res.Removed, old())
	}
	if orphans, err := filepath.Glob(filepath.Join(dir, CacheDir, "*")); err == nil {
		for _, o := range orphans {
			if fi, err := os.Stat(o); err == nil && fi.Mode().IsRegular() {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink < 2 {
					t.Errorf("%s is linked by nothing and was not reclaimed", o)
				}
			}
		}
	}
}
