package mirror

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// server is an upstream stream (streamtest.Server) that also tells the
// payload requests since the last look.
type server struct{ *streamtest.Server }

func newServer(t *testing.T, dir string) *server {
	return &server{streamtest.NewServer(t, dir)}
}

// payload returns the payload requests since the last call, and their
// bytes.
func (s *server) payload() ([]string, int64) {
	var paths []string
	var n int64
	for _, r := range s.Requests() {
		if streamtest.IsPayload(r.Path) {
			paths = append(paths, r.Path)
			n += r.Bytes
		}
	}
	s.Reset()
	return paths, n
}

// spec is a signed MAAS-shaped stream of jammy and noble with the given
// versions and bootloaders.
func spec(versions ...string) streamtest.Spec {
	return streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: versions, Signed: true, Bootloaders: true,
		KernelSize: 1000, InitrdSize: 2000, SquashfsSize: 3000})
}

// upstream writes a stream into a fresh directory.
func upstream(t *testing.T, s streamtest.Spec) *streamtest.Tree {
	t.Helper()
	tree, err := streamtest.Write(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// source is the upstream server as a boot source, verified with the test
// key; no selection means everything.
func source(url string, sels ...simplestreams.Selection) []simplestreams.BootSource {
	if len(sels) == 0 {
		sels = []simplestreams.Selection{{}}
	}
	return []simplestreams.BootSource{{URL: url + "/", KeyringData: streamtest.Keyring(streamtest.Key()), Selections: sels}}
}

func given(srcs []simplestreams.BootSource) Resolve {
	return func(context.Context) ([]simplestreams.BootSource, error) { return srcs, nil }
}

func testOptions(dir string) Options {
	return Options{Dir: dir, Timeout: 2 * time.Second, Retries: 2}
}

func mirrorOK(t *testing.T, srcs []simplestreams.BootSource, opts Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, given(srcs), opts)
	if err != nil {
		t.Fatalf("mirror: %v", err)
	}
	return res
}

// entry is what a reader, or the kernel, can tell about one file.
type entry struct {
	mode         fs.FileMode
	size         int64
	ino, nlink   uint64
	mtime, ctime int64
}

// stat records every entry under dir: a run that writes anything (a
// file, a link, a removal, a rename, a touched mtime) changes it.
func stat(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = entry{fi.Mode(), fi.Size(), st.Ino, uint64(st.Nlink), fi.ModTime().UnixNano(), st.Ctim.Nano()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// payloadFiles lists the payload files under a mirror (not its own files
// or metadata), sorted.
func payloadFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		switch {
		case err != nil:
			return err
		case d.IsDir() && (rel == ".cache" || rel == "streams"):
			return filepath.SkipDir
		case d.IsDir() || strings.HasPrefix(rel, ".") || rel == KeyringFile:
			return nil
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out
}

// filesOf lists the payload paths of the tree's files whose path has one
// of the prefixes, sorted.
func filesOf(tree *streamtest.Tree, prefixes ...string) []string {
	var out []string
	for p := range tree.Files {
		for _, pre := range prefixes {
			if strings.HasPrefix(p, pre) {
				out = append(out, p)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func sizeOf(tree *streamtest.Tree, paths []string) int64 {
	var n int64
	for _, p := range paths {
		n += tree.Files[p].Size
	}
	return n
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
