package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/simplestreams"
)

// dir is a mirror directory:
//
//	.lock                 the run's flock
//	.cache/<sha256>       the store: every payload file once
//	.mirror-state.json    what the published metadata names (see state)
//	.last-run.json        how the last run ended (the command line writes it)
//	<path>                payload, hard links of .cache/<sha256>
//	streams/v1/…          metadata
type dir string

// CacheDir is the store's name in a mirror directory.
const CacheDir = ".cache"

var checkSpace = disk.CheckSpace

func (d dir) path(rel string) string { return filepath.Join(string(d), filepath.FromSlash(rel)) }
func (d dir) cache() *cache.Dir      { return cache.New(d.path(CacheDir)) }

// publish makes the mirror what p describes, in an order that never lets
// the published metadata name an absent file: payload links, products
// files, the index; then it removes the files whose grace ended. It
// reports whether it wrote anything.
func (d dir) publish(ctx context.Context, p *plan, opts Options, res *Result) (bool, error) {
	old, err := d.readState()
	if err != nil {
		return false, err
	}
	named := p.paths()
	w := &writer{d: d}
	// Record first every path this run may create, so that a run killed
	// half-way leaves nothing that a later run does not know about.
	if !named.subsetOf(old.Current) {
		pre := state{Current: old.Current.union(named)}
		pre.Grace = old.Grace.minus(pre.Current)
		if err := w.writeState(pre); err != nil {
			return false, err
		}
	}
	for i, rel := range slices.Sorted(maps.Keys(p.payload)) {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return false, fmt.Errorf("mirror interrupted: %w", err)
			}
		}
		if err := w.link(rel, p.payload[rel].SHA256); err != nil {
			return false, err
		}
	}
	if err := w.sync(); err != nil {
		return false, err
	}
	for _, m := range p.meta {
		if err := w.meta(m, opts.Signer); err != nil {
			return false, err
		}
		// The products files are durable before the index names them.
		if err := w.sync(); err != nil {
			return false, err
		}
	}
	removed, kept := w.remove(old.Grace.minus(named), opts)
	res.Removed = removed
	if err := w.writeState(state{Current: named, Grace: old.Current.minus(named).union(kept)}); err != nil {
		return false, err
	}
	if _, _, err := d.cache().RemoveUnreferenced(true, false, nil); err != nil {
		opts.Log.Warn("cleaning up the store failed; the mirror is complete", "err", err)
	}
	return w.wrote, nil
}

// writer does the writes of one publication and remembers the
// directories to sync.
type writer struct {
	d     dir
	wrote bool
	dirty []string // directories with new entries, to sync
}

// mkdirs makes the parents of rel, marking each new directory's parent
// dirty.
func (w *writer) mkdirs(rel string) error {
	parts := strings.Split(rel, "/")
	at := string(w.d)
	for _, part := range parts[:len(parts)-1] {
		next := filepath.Join(at, part)
		fi, err := os.Lstat(next)
		switch {
		case err == nil && fi.IsDir():
		case err == nil:
			return disk.Wrap("creating", next, errors.New("exists and is not a directory"))
		default:
			if err := disk.Mkdir(next); err != nil {
				return err
			}
			w.dirty = append(w.dirty, at)
		}
		at = next
	}
	return nil
}

// link makes rel a hard link of the store's sha, unless it is one
// already: a new link under a temporary name in the store, renamed over
// rel, so that a reader sees the old file or the new one.
func (w *writer) link(rel, sha string) error {
	dst := w.d.path(rel)
	src := w.d.cache().Path(sha)
	if fi, err := os.Lstat(dst); err == nil {
		if ci, err := os.Lstat(src); err == nil && os.SameFile(fi, ci) {
			return nil
		}
	}
	if err := w.mkdirs(rel); err != nil {
		return err
	}
	tmp := disk.TempPath(w.d.cache().Root(), "link-")
	if err := disk.Do(fault.Link, "linking", dst, func() error { return os.Link(src, tmp) }); err != nil {
		return err
	}
	err := disk.Do(fault.Rename, "renaming", dst, func() error { return os.Rename(tmp, dst) })
	// A rename between two links of one file does nothing, and leaves tmp.
	_ = os.Remove(tmp)
	if err != nil {
		return err
	}
	w.wrote = true
	w.dirty = append(w.dirty, filepath.Dir(dst))
	return nil
}

// meta writes a metadata file unless it holds what it should already; a
// signed one holds it when it is body signed by the signer's key, so that
// an unchanged upstream does not make a fresh signature.
func (w *writer) meta(m metaFile, signer *simplestreams.Signer) error {
	name := w.d.path(m.path)
	have, err := os.ReadFile(name)
	if err == nil && sameMeta(have, m, signer) {
		return nil
	}
	body := m.body
	if m.sign {
		if body, err = signer.ClearSign(m.body); err != nil {
			return fmt.Errorf("signing %s: %w", m.path, err)
		}
	}
	return w.write(m.path, body)
}

func sameMeta(have []byte, m metaFile, signer *simplestreams.Signer) bool {
	if !m.sign {
		return bytes.Equal(have, m.body)
	}
	kr, err := signer.Keyring()
	if err != nil {
		return false
	}
	k, err := simplestreams.ParseKeyring("mirror key", kr)
	if err != nil {
		return false
	}
	body, err := simplestreams.Verify(m.path, have, k)
	return err == nil && bytes.Equal(body, m.body)
}

// write writes b to rel through the one atomic write path, its
// temporary in the store.
func (w *writer) write(rel string, b []byte) error {
	if err := w.mkdirs(rel); err != nil {
		return err
	}
	if err := w.d.cache().Create(); err != nil {
		return err
	}
	f, err := disk.Create(w.d.cache().Root(), fault.WriteMeta)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Cleanup()
		return err
	}
	name := w.d.path(rel)
	if err := f.Commit(name); err != nil {
		return err
	}
	w.wrote = true
	w.dirty = append(w.dirty, filepath.Dir(name))
	return nil
}

// sync syncs the dirty directories, deepest first.
func (w *writer) sync() error {
	slices.SortFunc(w.dirty, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range slices.Compact(w.dirty) {
		if err := disk.SyncDir(d); err != nil {
			return err
		}
	}
	w.dirty = w.dirty[:0]
	return nil
}

// remove removes the files whose grace ended, and the directories they
// leave empty; it returns how many it removed and those it could not. A
// file that cannot be removed is logged and kept in the state's grace, so
// that the next run tries again.
func (w *writer) remove(gone paths, opts Options) (n int, kept paths) {
	kept = paths{}
	for _, rel := range gone.sorted() {
		name := w.d.path(rel)
		err := disk.Do(fault.Remove, "removing", name, func() error { return os.Remove(name) })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			opts.Log.Warn("removing a file the mirror no longer names failed", "err", err)
			kept[rel] = true
			continue
		}
		if err == nil {
			n++
			w.wrote = true
		}
		for d := filepath.Dir(name); d != string(w.d) && strings.HasPrefix(d, string(w.d)); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	return n, kept
}
