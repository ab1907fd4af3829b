package importer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"maas-import-boot-images/simplestreams"
)

// storage is the boot-resources directory (SPEC §4).
type storage string

const (
	currentLink    = "current"
	snapshotPrefix = "snapshot-"
	tmpPrefix      = ".tmp-"
	metaName       = "maas.meta"
)

func (s storage) path(elem ...string) string {
	return filepath.Join(append([]string{string(s)}, elem...)...)
}
func (s storage) cache() string { return s.path("cache") }

func (s storage) mkdirs() error {
	for _, d := range []string{string(s), s.cache()} {
		if err := mkdirAll(d); err != nil {
			return fsErr("creating", d, err)
		}
	}
	// The cache must be a directory of the storage, not a link elsewhere.
	if fi, err := os.Lstat(s.cache()); err != nil || !fi.IsDir() {
		return fsErr("checking", s.cache(), errors.New("not a directory (a symlink?): refusing to write through it"))
	}
	return nil
}

// mkdirAll is os.MkdirAll with mode 0755 whatever the umask: tftpd and the
// HTTP boot server, unprivileged, must be able to enter the storage. Only
// the directories it creates are changed.
func mkdirAll(dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// cached reports whether the cache holds the file, trusted by name and size.
func (s storage) cached(fl file) bool {
	fi, err := os.Lstat(filepath.Join(s.cache(), fl.SHA256))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == fl.Size
}

// checkSpace refuses to start downloads that cannot fit.
func (s storage) checkSpace(missing []file) error {
	var need int64
	for _, fl := range missing {
		need += fl.Size
	}
	if need == 0 {
		return nil
	}
	dir := string(s)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st unix.Statfs_t
	if err := statfs(dir, &st); err != nil {
		return fsErr("checking free space of", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need {
		return &SpaceError{Path: string(s), Need: need, Free: free}
	}
	return nil
}

// currentSnapshot returns the snapshot current points at, or "".
func (s storage) currentSnapshot() string {
	target, err := os.Readlink(s.path(currentLink))
	if err != nil || strings.Contains(target, "/") || !strings.HasPrefix(target, snapshotPrefix) {
		return ""
	}
	return target
}

// imageDir is an image's directory relative to a snapshot.
func imageDir(im simplestreams.BootImage) string {
	return filepath.Join(im.OS, im.Arch, im.Subarch, im.Release, im.Label)
}

// unchanged reports whether current already is this tree (nil: a tree
// whose bootloaders are not unpacked yet, never unchanged): the same
// maas.meta, every file present with its size as the same inode as its
// cache file, every symlink pointing where it should. It reads no file
// contents but maas.meta.
func (s storage) unchanged(t *tree, meta []byte) (string, bool) {
	snap := s.currentSnapshot()
	if t == nil || snap == "" {
		return "", false
	}
	old, err := os.ReadFile(s.path(snap, metaName))
	if err != nil || !bytes.Equal(old, meta) {
		return "", false
	}
	for _, l := range t.links {
		fi, err := os.Lstat(filepath.Join(s.path(snap), l.rel))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != l.size {
			return "", false
		}
		ci, err := os.Lstat(filepath.Join(s.cache(), l.cacheName))
		if err != nil || !os.SameFile(fi, ci) {
			return "", false
		}
	}
	for _, sl := range t.symlinks {
		if target, err := os.Readlink(filepath.Join(s.path(snap), sl.rel)); err != nil || target != sl.target {
			return "", false
		}
	}
	return snap, true
}

// publish builds a snapshot of the tree under a temporary name, syncs
// it, renames it into place and switches current to it. On error the
// temporary tree is removed and current is untouched.
func (s storage) publish(ctx context.Context, t *tree, meta []byte) (snap string, err error) {
	tmp := s.path(tmpPrefix + snapshotPrefix + randomSuffix())
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := mkdir(tmp); err != nil {
		return "", err
	}
	dirs := []string{tmp}
	made := map[string]bool{tmp: true}
	for i, l := range t.links {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return "", fmt.Errorf("import interrupted: %w", err)
			}
		}
		dst := filepath.Join(tmp, l.rel)
		// Make the parents, outermost first.
		var parents []string
		for d := filepath.Dir(dst); !made[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
		}
		for j := len(parents) - 1; j >= 0; j-- {
			if err := mkdir(parents[j]); err != nil {
				return "", err
			}
			made[parents[j]] = true
			dirs = append(dirs, parents[j])
		}
		if err := fault("link", dst); err != nil {
			return "", fsErr("linking", dst, err)
		}
		if err := os.Link(filepath.Join(s.cache(), l.cacheName), dst); err != nil {
			return "", fsErr("linking", dst, err)
		}
	}
	for _, sl := range t.symlinks {
		dst := filepath.Join(tmp, sl.rel)
		if err := fault("link", dst); err != nil {
			return "", fsErr("linking", dst, err)
		}
		if err := os.Symlink(sl.target, dst); err != nil {
			return "", fsErr("linking", dst, err)
		}
	}
	metaFile := filepath.Join(tmp, metaName)
	if err := writeSynced(metaFile, meta); err != nil {
		return "", err
	}
	// Directories deepest first, so that each entry is durable before the
	// directory that names it.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return "", err
		}
	}
	snap = s.snapshotName(time.Now().UTC())
	if err := fault("rename-snapshot", tmp); err != nil {
		return "", fsErr("renaming", tmp, err)
	}
	if err := os.Rename(tmp, s.path(snap)); err != nil {
		return "", fsErr("renaming", tmp, err)
	}
	if err := s.switchCurrent(snap); err != nil {
		_ = os.RemoveAll(s.path(snap))
		return "", err
	}
	return snap, nil
}

// switchCurrent points current at snap by renaming a new relative symlink
// over it, then syncs the storage directory.
func (s storage) switchCurrent(snap string) error {
	tmp := s.path(tmpPrefix + currentLink + "-" + randomSuffix())
	if err := fault("symlink", tmp); err != nil {
		return fsErr("creating symlink", tmp, err)
	}
	if err := os.Symlink(snap, tmp); err != nil {
		return fsErr("creating symlink", tmp, err)
	}
	if err := fault("switch", tmp); err != nil {
		_ = os.Remove(tmp)
		return fsErr("switching", s.path(currentLink), err)
	}
	if err := os.Rename(tmp, s.path(currentLink)); err != nil {
		_ = os.Remove(tmp)
		return fsErr("switching", s.path(currentLink), err)
	}
	return syncDir(string(s))
}

// snapshotName is snapshot-YYYYMMDD-HHMMSS, with -2, -3 … on a clash.
func (s storage) snapshotName(t time.Time) string {
	base := snapshotPrefix + t.Format("20060102-150405")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(s.path(name)); os.IsNotExist(err) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mkdir makes a directory with mode 0755 whatever the umask.
func mkdir(dir string) error {
	if err := fault("mkdir", dir); err != nil {
		return fsErr("creating", dir, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fsErr("creating", dir, err)
	}
	return fsErr("chmod", dir, os.Chmod(dir, 0o755))
}

func writeSynced(name string, b []byte) error {
	if err := fault("write-meta", name); err != nil {
		return fsErr("creating", name, err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fsErr("creating", name, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fsErr("writing", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fsErr("chmod", name, err)
	}
	if err := syncFile(f); err != nil {
		f.Close()
		return fsErr("syncing", name, err)
	}
	return fsErr("closing", name, f.Close())
}

// syncFile makes a file's content durable (fsync).
func syncFile(f *os.File) error {
	if err := fault("sync-file", f.Name()); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	if err := fault("sync-dir", dir); err != nil {
		return fsErr("syncing", dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fsErr("opening", dir, err)
	}
	defer d.Close()
	return fsErr("syncing", dir, d.Sync())
}

// removeTemporaries removes what crashed runs left: temporary snapshots
// and symlinks. It runs under the lock.
func (s storage) removeTemporaries(log *slog.Logger) {
	entries, _ := os.ReadDir(string(s))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			log.Info("removing a leftover of an interrupted run", "path", s.path(e.Name()))
			_ = os.RemoveAll(s.path(e.Name()))
		}
	}
}

// CleanupResult lists what a cleanup removed (or would remove).
type CleanupResult struct {
	Snapshots  []string `json:"snapshots"`
	CacheFiles []string `json:"cache_files"`
	Bytes      int64    `json:"bytes"`
}

// cleanup removes snapshots other than current and the newest keep others,
// then cache files that no snapshot links (link count 1), and with parts
// the unfinished downloads. With dryRun it only lists them.
func (s storage) cleanup(keep int, dryRun, parts bool, log *slog.Logger) (*CleanupResult, error) {
	res := &CleanupResult{Snapshots: []string{}, CacheFiles: []string{}}
	cur := s.currentSnapshot()
	entries, err := os.ReadDir(string(s))
	if err != nil {
		return nil, fsErr("reading", string(s), err)
	}
	var snaps []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), snapshotPrefix) && e.Name() != cur {
			snaps = append(snaps, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(snaps)))
	if keep < len(snaps) {
		for _, name := range snaps[keep:] {
			res.Snapshots = append(res.Snapshots, name)
			if !dryRun {
				log.Debug("removing old snapshot", "snapshot", name)
				if err := fault("remove", s.path(name)); err != nil {
					return nil, fsErr("removing", s.path(name), err)
				}
				if err := os.RemoveAll(s.path(name)); err != nil {
					return nil, fsErr("removing", s.path(name), err)
				}
			}
		}
	}
	removed := map[string]bool{}
	for _, n := range res.Snapshots {
		removed[n] = true
	}
	cache, err := os.ReadDir(s.cache())
	if err != nil && !os.IsNotExist(err) {
		return nil, fsErr("reading", s.cache(), err)
	}
	// In a dry run the snapshots are still there: count the links they
	// hold so that their files count as unreferenced too.
	var dying map[uint64]int
	if dryRun && len(removed) > 0 {
		dying = s.linksIn(res.Snapshots)
	}
	for _, e := range cache {
		name := e.Name()
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		isPart := strings.HasSuffix(name, ".part") || strings.HasPrefix(name, tmpPrefix)
		if (isPart && !parts) || (!isPart && int(st.Nlink)-dying[st.Ino] > 1) {
			continue
		}
		res.CacheFiles = append(res.CacheFiles, name)
		res.Bytes += fi.Size()
		if !dryRun {
			if err := os.Remove(filepath.Join(s.cache(), name)); err != nil {
				return nil, fsErr("removing", filepath.Join(s.cache(), name), err)
			}
		}
	}
	return res, nil
}

// linksIn counts, per inode, the regular files under the snapshots.
func (s storage) linksIn(snaps []string) map[uint64]int {
	m := map[uint64]int{}
	for _, snap := range snaps {
		_ = filepath.WalkDir(s.path(snap), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					m[st.Ino]++
				}
			}
			return nil
		})
	}
	return m
}

// Cleanup removes old snapshots and unreferenced cache files of a storage,
// under its lock (waiting for it with wait). With dryRun it lists them and
// changes nothing.
func Cleanup(ctx context.Context, storageDir string, keep int, dryRun, wait bool, log *slog.Logger) (*CleanupResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := storage(storageDir)
	if _, err := os.Stat(storageDir); err != nil {
		return nil, fsErr("reading", storageDir, err)
	}
	if !dryRun {
		unlock, err := Lock(ctx, storageDir, wait)
		if err != nil {
			return nil, err
		}
		defer unlock()
		s.removeTemporaries(log)
	}
	return s.cleanup(keep, dryRun, true, log)
}
