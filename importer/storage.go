package importer

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/simplestreams"
)

// storage is the boot-resources directory (SPEC §4).
type storage string

const (
	currentLink    = "current"
	snapshotPrefix = "snapshot-"
	tmpPrefix      = disk.TempPrefix
	metaName       = "maas.meta"
)

func (s storage) path(elem ...string) string {
	return filepath.Join(append([]string{string(s)}, elem...)...)
}
func (s storage) cache() *cache.Dir { return cache.New(s.path("cache")) }

// mkdirs makes the storage and its cache.
func (s storage) mkdirs() error { return s.cache().Create() }

// checkSpace refuses to start downloads that cannot fit.
func (s storage) checkSpace(missing []fetch.File) error {
	var need int64
	for _, fl := range missing {
		need += fl.Size
	}
	return disk.CheckSpace(string(s), need)
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
	c := s.cache()
	for _, l := range t.links {
		fi, err := os.Lstat(filepath.Join(s.path(snap), l.rel))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != l.size {
			return "", false
		}
		ci, err := os.Lstat(c.Path(l.cacheName))
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
	tmp := disk.TempPath(string(s), snapshotPrefix)
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := disk.Mkdir(tmp); err != nil {
		return "", err
	}
	c := s.cache()
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
			if err := disk.Mkdir(parents[j]); err != nil {
				return "", err
			}
			made[parents[j]] = true
			dirs = append(dirs, parents[j])
		}
		src := c.Path(l.cacheName)
		if err := disk.Do(fault.Link, "linking", dst, func() error { return os.Link(src, dst) }); err != nil {
			return "", err
		}
	}
	for _, sl := range t.symlinks {
		dst := filepath.Join(tmp, sl.rel)
		if err := disk.Do(fault.Link, "linking", dst, func() error { return os.Symlink(sl.target, dst) }); err != nil {
			return "", err
		}
	}
	if err := disk.WriteFile(filepath.Join(tmp, metaName), meta, fault.WriteMeta); err != nil {
		return "", err
	}
	// Directories deepest first, so that each entry is durable before the
	// directory that names it.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := disk.SyncDir(dirs[i]); err != nil {
			return "", err
		}
	}
	snap = s.snapshotName(time.Now().UTC())
	if err := disk.Do(fault.RenameSnapshot, "renaming", tmp, func() error { return os.Rename(tmp, s.path(snap)) }); err != nil {
		return "", err
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
	tmp := disk.TempPath(string(s), currentLink+"-")
	if err := disk.Do(fault.Symlink, "creating symlink", tmp, func() error { return os.Symlink(snap, tmp) }); err != nil {
		return err
	}
	cur := s.path(currentLink)
	if err := disk.Do(fault.Switch, "switching", cur, func() error { return os.Rename(tmp, cur) }); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return disk.SyncDir(string(s))
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
	_, snaps, err := s.snapshots() // newest first
	if err != nil {
		return nil, err
	}
	if keep < len(snaps) {
		for _, name := range snaps[keep:] {
			res.Snapshots = append(res.Snapshots, name)
			if !dryRun {
				log.Debug("removing old snapshot", "snapshot", name)
				p := s.path(name)
				if err := disk.Do(fault.Remove, "removing", p, func() error { return os.RemoveAll(p) }); err != nil {
					return nil, err
				}
			}
		}
	}
	// In a dry run the snapshots are still there: count the links they
	// hold so that their files count as unreferenced too.
	var dying map[uint64]int
	if dryRun && len(res.Snapshots) > 0 {
		dying = s.linksIn(res.Snapshots)
	}
	names, size, err := s.cache().RemoveUnreferenced(parts, dryRun, dying)
	if err != nil {
		return nil, err
	}
	res.CacheFiles = append(res.CacheFiles, names...)
	res.Bytes = size
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
			if fi, err := d.Info(); err == nil && cache.Inode(fi) != 0 {
				m[cache.Inode(fi)]++
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
	log = logs.OrDiscard(log)
	s := storage(storageDir)
	if _, err := os.Stat(storageDir); err != nil {
		return nil, disk.Wrap("reading", storageDir, err)
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
