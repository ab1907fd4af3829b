package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/fault"
)

// LastRunFile is the name, in a storage, of the record of how the last
// run that changes it ended (SPEC §8).
const LastRunFile = ".last-run.json"

// LastRun is how a run ended, as LastRunFile records it.
type LastRun struct {
	Time     time.Time `json:"time"` // when it ended, UTC
	Command  string    `json:"command"`
	Status   string    `json:"status"` // the command's own (imported, unchanged, rolled-back …), or "failed"
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"` // the error line of a failed run
	Snapshot string    `json:"snapshot,omitempty"`
	Duration Seconds   `json:"duration_seconds"`
	// DownloadedBytes is what the run received over the network.
	DownloadedBytes int64 `json:"downloaded_bytes"`
	// LastSuccess is when the last import (or mirror) that succeeded
	// ended, carried over by the runs after it; zero when none is known.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// WriteLastRun records r in storageDir's LastRunFile, atomically. The
// storage must exist: a run that could not make it has nothing to
// record it in.
func WriteLastRun(storageDir string, r LastRun) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return disk.WriteFile(filepath.Join(storageDir, LastRunFile), append(b, '\n'), fault.WriteRecord)
}

// ReadLastRun reads storageDir's LastRunFile: nil and no error when there
// is none.
func ReadLastRun(storageDir string) (*LastRun, error) {
	name := filepath.Join(storageDir, LastRunFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, disk.Wrap("reading", name, err)
	}
	var r LastRun
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a record of a run: %v", name, err)
	}
	return &r, nil
}

// Usage is how many bytes a storage holds on disk.
type Usage struct {
	// Current is what current's tree holds: each file once, however
	// many names it has.
	Current int64 `json:"current_bytes"`
	// Cache is every file of the cache, unfinished downloads included.
	Cache int64 `json:"cache_bytes"`
}

// DiskUsage measures a storage. A storage, current or cache that does not
// exist holds nothing.
func DiskUsage(storageDir string) (Usage, error) {
	s := storage(storageDir)
	var u Usage
	if snap := s.currentSnapshot(); snap != "" {
		seen := map[uint64]bool{}
		err := filepath.WalkDir(s.path(snap), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if ino := cache.Inode(fi); !seen[ino] || ino == 0 {
				seen[ino] = true
				u.Current += fi.Size()
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return u, disk.Wrap("reading", s.path(snap), err)
		}
	}
	var err error
	u.Cache, err = s.cache().Bytes()
	return u, err
}
