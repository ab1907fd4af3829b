package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/logs"
)

// ErrNothingKept: there is no kept snapshot to roll back to (exit 5).
var ErrNothingKept = errors.New("no kept snapshot to roll back to")

// StatusRolledBack is the status of a rollback that switched current.
const StatusRolledBack = "rolled-back"

// RollbackResult is what Rollback did.
type RollbackResult struct {
	Status   string `json:"status"` // StatusRolledBack, or StatusUnchanged when it was current already
	Storage  string `json:"storage"`
	Snapshot string `json:"snapshot"` // what current serves now
	Previous string `json:"previous"` // what it served before; "" when there was no current
	Files    int    `json:"files"`    // the files of the snapshot, each checked against the cache
}

// SnapshotError: a kept snapshot lost a file, so that switching to it
// would serve a tree that is not the one it was (exit 8).
type SnapshotError struct {
	Snapshot string
	Problem  string
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("snapshot %s cannot be served again: %s", e.Snapshot, e.Problem)
}

func (e *SnapshotError) Unwrap() error { return ErrStorage }

// Rollback switches current atomically to a kept snapshot: the one named
// to, or by default the newest one older than current (the newest of all
// when there is no current). It takes the storage lock (ErrLocked, or
// waits with wait) and first checks that every file the snapshot links is
// in the cache, as the same file with its size (*SnapshotError
// otherwise). No kept snapshot, or none named to, is ErrNothingKept.
// Either error changes nothing. Rolling back to current changes nothing
// and is StatusUnchanged. The next import moves forward again.
func Rollback(ctx context.Context, storageDir, to string, wait bool, log *slog.Logger) (*RollbackResult, error) {
	log = logs.OrDiscard(log)
	s := storage(storageDir)
	if to != "" && !isSnapshotName(to) {
		return nil, fmt.Errorf("%w: %q is not a snapshot name (snapshot-YYYYMMDD-HHMMSS)", ErrNothingKept, to)
	}
	if _, err := os.Stat(storageDir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNothingKept, storageDir)
	} else if err != nil {
		return nil, disk.Wrap("reading", storageDir, err)
	}
	unlock, err := Lock(ctx, storageDir, wait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.removeTemporaries(log)
	cur, kept, err := s.snapshots()
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{Status: StatusRolledBack, Storage: storageDir, Previous: cur}
	if res.Snapshot, err = rollbackTarget(cur, kept, to, storageDir); err != nil {
		return nil, err
	}
	if res.Snapshot == cur {
		res.Status = StatusUnchanged
		return res, nil
	}
	if res.Files, err = s.checkKept(res.Snapshot); err != nil {
		return nil, err
	}
	if err := s.switchCurrent(res.Snapshot); err != nil {
		return nil, err
	}
	log.Info("rolled back", "current", res.Snapshot, "was", cur)
	return res, nil
}

// rollbackTarget picks the snapshot to roll back to among the kept ones
// (newest first).
func rollbackTarget(cur string, kept []string, to, storageDir string) (string, error) {
	if to != "" {
		if to == cur || slices.Contains(kept, to) {
			return to, nil
		}
		return "", fmt.Errorf("%w: %s has no snapshot %s (kept: %s)", ErrNothingKept, storageDir, to, keptList(kept))
	}
	for _, k := range kept {
		if cur == "" || snapshotLess(k, cur) {
			return k, nil
		}
	}
	if len(kept) > 0 {
		return "", fmt.Errorf("%w: %s keeps no snapshot older than %s (kept: %s; name one with --to)", ErrNothingKept, storageDir, cur, keptList(kept))
	}
	return "", fmt.Errorf("%w: %s keeps no snapshot besides current (import with --keep N to keep N)", ErrNothingKept, storageDir)
}

func keptList(kept []string) string {
	if len(kept) == 0 {
		return "none"
	}
	return strings.Join(kept, ", ")
}

// checkKept checks a kept snapshot before it is served again: maas.meta
// parses and each image it names has its directory; every regular file is
// a link of a file of the cache (the same inode, so the same size); the
// only symlink is pxelinux's module directory. It returns how many files
// it checked. It reads no file contents but maas.meta.
func (s storage) checkKept(snap string) (int, error) {
	root := s.path(snap)
	m, err := readMeta(filepath.Join(root, metaName))
	if err != nil {
		return 0, &SnapshotError{snap, err.Error()}
	}
	for _, im := range m.images() {
		_, errImage := os.Stat(filepath.Join(root, im.OS, im.Arch, im.Subarch, im.Release, im.Label))
		_, errBootloader := os.Stat(filepath.Join(root, "bootloader", im.Release, im.Arch))
		if errImage != nil && errBootloader != nil {
			return 0, &SnapshotError{snap, fmt.Sprintf("maas.meta names %s/%s/%s/%s/%s, which it lacks", im.OS, im.Arch, im.Subarch, im.Release, im.Label)}
		}
	}
	inCache, err := s.cacheInodes()
	if err != nil {
		return 0, err
	}
	files := 0
	err = walkTree(root, func(rel string, d fs.DirEntry) error {
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if size, ok := inCache[cache.Inode(fi)]; !d.Type().IsRegular() || !ok || size != fi.Size() {
			return &SnapshotError{snap, rel + " is no longer a file of the cache (removed, or replaced by verify --repair)"}
		}
		files++
		return nil
	}, func(rel string) error {
		return &SnapshotError{snap, rel + " is a symlink that is not pxelinux's module directory"}
	})
	var se *SnapshotError
	if errors.As(err, &se) {
		return 0, err
	}
	return files, disk.Wrap("reading", root, err)
}

// cacheInodes maps the inode of every regular file of the cache to its
// size.
func (s storage) cacheInodes() (map[uint64]int64, error) {
	dir := s.cache().Root()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, disk.Wrap("reading", dir, err)
	}
	out := make(map[uint64]int64, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && cache.Inode(fi) != 0 {
			out[cache.Inode(fi)] = fi.Size()
		}
	}
	return out, nil
}

// snapshots returns the snapshot current points at ("" when none) and
// the other complete snapshots, newest first. A storage that does not
// exist has none.
func (s storage) snapshots() (cur string, kept []string, err error) {
	entries, err := os.ReadDir(string(s))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, disk.Wrap("reading", string(s), err)
	}
	cur = s.currentSnapshot()
	for _, e := range entries {
		if e.IsDir() && isSnapshotName(e.Name()) && e.Name() != cur {
			kept = append(kept, e.Name())
		}
	}
	slices.SortFunc(kept, func(a, b string) int {
		if snapshotLess(b, a) {
			return -1
		}
		if snapshotLess(a, b) {
			return 1
		}
		return 0
	})
	return cur, kept, nil
}

// Snapshots returns the snapshot that current points at ("" when there
// is none) and the other snapshots of the storage, newest first: those
// that rollback can switch to. A storage that does not exist has none.
func Snapshots(storageDir string) (current string, kept []string, err error) {
	return storage(storageDir).snapshots()
}

// isSnapshotName says whether name is a snapshot's, as snapshotName makes
// them: nothing that could leave the storage.
func isSnapshotName(name string) bool {
	return strings.HasPrefix(name, snapshotPrefix) && !strings.ContainsAny(name, `/\`) && name != "." && name != ".."
}

// snapshotLess orders snapshot names by time, and a clash's -2, -3 … by
// number after the name without one.
func snapshotLess(a, b string) bool {
	ab, an := splitSnapshot(a)
	bb, bn := splitSnapshot(b)
	if ab != bb {
		return ab < bb
	}
	return an < bn
}

// splitSnapshot splits snapshot-YYYYMMDD-HHMMSS-N into its time part and
// N (1 when absent).
func splitSnapshot(name string) (string, int) {
	const timeLen = len(snapshotPrefix + "20060102-150405")
	if len(name) > timeLen+1 && name[timeLen] == '-' {
		if n, err := strconv.Atoi(name[timeLen+1:]); err == nil {
			return name[:timeLen], n
		}
	}
	return name, 1
}
