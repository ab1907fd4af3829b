package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// VerifyResult is what Verify found.
type VerifyResult struct {
	Snapshot   string   `json:"snapshot"`
	CacheFiles int      `json:"cache_files"`
	Bytes      int64    `json:"bytes"`
	TreeFiles  int      `json:"tree_files"`
	Problems   []string `json:"problems"`
	Repaired   []string `json:"repaired"`
}

// Verify re-hashes every cache file and checks that every file of current
// is a link of a verified cache file and that maas.meta parses. Problems
// make the error wrap ErrVerify (exit 6). With repair, cache files whose
// content does not match their name are deleted, so that the next import
// fetches them again and rebuilds current.
func Verify(ctx context.Context, storageDir string, repair bool, log *slog.Logger) (*VerifyResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := storage(storageDir)
	res := &VerifyResult{Problems: []string{}, Repaired: []string{}}
	if _, err := os.Stat(storageDir); err != nil {
		return nil, fsErr("reading", storageDir, err)
	}
	// A storage without a cache (a first import that failed early) has
	// nothing verified to serve: that is a verify problem, not a disk one.
	entries, err := os.ReadDir(s.cache())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fsErr("reading", s.cache(), err)
	}
	good := map[uint64]string{} // inode → sha256
	buf := make([]byte, 1<<20)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := e.Name()
		if strings.HasSuffix(name, ".part") || strings.HasPrefix(name, tmpPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(s.cache(), name)
		if strings.HasSuffix(name, ".members") {
			// A bootloader archive's member list. One that no snapshot
			// links is garbage that cleanup removes (a run killed while
			// cleaning up can leave it without its members); one that a
			// snapshot links must list members that are all there.
			fi, err := e.Info()
			if err != nil {
				continue
			}
			st, _ := fi.Sys().(*syscall.Stat_t)
			if st == nil || st.Nlink < 2 {
				continue
			}
			if _, ok := s.manifest(strings.TrimSuffix(name, ".members")); !ok {
				res.Problems = append(res.Problems, fmt.Sprintf("cache/%s: lists members that are not in the cache", name))
				continue
			}
			good[st.Ino] = name
			continue
		}
		got, size, ino, err := hashFile(p, buf)
		if err != nil {
			return nil, fsErr("reading", p, err)
		}
		res.CacheFiles++
		res.Bytes += size
		if got == name {
			good[ino] = name
			continue
		}
		res.Problems = append(res.Problems, fmt.Sprintf("cache/%s: content hashes to %s", name, got))
		if repair {
			if err := os.Remove(p); err != nil {
				return nil, fsErr("removing", p, err)
			}
			res.Repaired = append(res.Repaired, "cache/"+name)
			log.Warn("removed a corrupt cache file; the next import fetches it again", "file", p)
		}
	}
	if snap := s.currentSnapshot(); snap != "" {
		res.Snapshot = snap
		root := s.path(snap)
		if _, err := readMeta(filepath.Join(root, metaName)); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case d.IsDir() || rel == metaName:
				return nil
			case d.Type()&fs.ModeSymlink != 0:
				// Only pxelinux's module directory (SPEC §4.1).
				target, err := os.Readlink(p)
				if fi, serr := os.Stat(p); err != nil || serr != nil || !fi.IsDir() || !isSyslinuxLink(rel, target) {
					res.Problems = append(res.Problems, fmt.Sprintf("%s/%s: a symlink that is not pxelinux's module directory", snap, rel))
				}
				return nil
			case !d.Type().IsRegular():
				res.Problems = append(res.Problems, fmt.Sprintf("%s/%s: not a regular file", snap, rel))
				return nil
			}
			res.TreeFiles++
			fi, err := d.Info()
			if err != nil {
				return err
			}
			st, _ := fi.Sys().(*syscall.Stat_t)
			if st == nil || good[st.Ino] == "" {
				res.Problems = append(res.Problems, fmt.Sprintf("%s/%s: not a link of a verified cache file", snap, rel))
			}
			return nil
		})
		if err != nil {
			return nil, fsErr("reading", root, err)
		}
	} else {
		res.Problems = append(res.Problems, "no current tree")
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %d problems in %s: %s", ErrVerify, len(res.Problems), storageDir, strings.Join(res.Problems, "; "))
	}
	return res, nil
}

func hashFile(p string, buf []byte) (sum string, size int64, ino uint64, err error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", 0, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", 0, 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return hex.EncodeToString(h.Sum(nil)), size, ino, nil
}

// meta is maas.meta parsed: os → arch → subarch → release → label → entry.
type meta map[string]map[string]map[string]map[string]map[string]metaEntry

func readMeta(p string) (meta, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a maas.meta: %v", p, err)
	}
	return m, nil
}

// Listing is what list shows of current.
type Listing struct {
	Storage    string      `json:"storage"`
	Snapshot   string      `json:"snapshot"`
	LastImport time.Time   `json:"last_import"`
	Images     []ListImage `json:"images"`
}

// ListImage is one image of current, with the size of its files.
type ListImage struct {
	ImageInfo
	Size int64 `json:"size"`
}

// List reads current's maas.meta. A storage without current is
// ErrNoCurrent.
func List(storageDir string) (*Listing, error) {
	s := storage(storageDir)
	snap := s.currentSnapshot()
	if snap == "" {
		return nil, fmt.Errorf("%w in %s: run an import first", ErrNoCurrent, storageDir)
	}
	metaFile := s.path(snap, metaName)
	fi, err := os.Stat(metaFile)
	if err != nil {
		return nil, fsErr("reading", metaFile, err)
	}
	m, err := readMeta(metaFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	l := &Listing{Storage: storageDir, Snapshot: snap, LastImport: fi.ModTime().UTC(), Images: []ListImage{}}
	for osName, arches := range m {
		for arch, subs := range arches {
			for sub, rels := range subs {
				for rel, labels := range rels {
					for label, e := range labels {
						im := ListImage{ImageInfo: ImageInfo{OS: osName, Arch: arch, Subarch: sub, Release: rel, Label: label,
							ContentID: e.ContentID, ProductName: e.ProductName, VersionName: e.VersionName}}
						im.Size = treeSize(s.path(snap, osName, arch, sub, rel, label))
						if _, err := os.Stat(s.path(snap, osName)); err != nil {
							// a bootloader: release is its type
							im.Size = treeSize(s.path(snap, "bootloader", rel, arch))
						}
						l.Images = append(l.Images, im)
					}
				}
			}
		}
	}
	sort.Slice(l.Images, func(i, j int) bool {
		a, b := l.Images[i], l.Images[j]
		return strings.Join([]string{a.OS, a.Arch, a.Subarch, a.Release, a.Label}, "\x00") <
			strings.Join([]string{b.OS, b.Arch, b.Subarch, b.Release, b.Label}, "\x00")
	})
	return l, nil
}

func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
