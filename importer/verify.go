package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/simplestreams"
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
	log = logs.OrDiscard(log)
	s := storage(storageDir)
	if _, err := os.Stat(storageDir); err != nil {
		return nil, disk.Wrap("reading", storageDir, err)
	}
	// A storage without a cache (a first import that failed early) has
	// nothing verified to serve: that is a verify problem, not a disk one.
	rep, err := s.cache().Verify(ctx, repair)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{CacheFiles: rep.Files, Bytes: rep.Bytes, Problems: []string{}, Repaired: []string{}}
	for _, m := range rep.Bad {
		res.Problems = append(res.Problems, fmt.Sprintf("cache/%s: content hashes to %s", m.Name, m.Got))
	}
	for _, name := range rep.Removed {
		res.Repaired = append(res.Repaired, "cache/"+name)
		log.Warn("removed a corrupt cache file; the next import fetches it again", "file", s.cache().Path(name))
	}
	good := rep.Good // inode → cache name
	res.Problems = append(res.Problems, s.checkMemberLists(rep.Others, good)...)
	if snap := s.currentSnapshot(); snap != "" {
		res.Snapshot = snap
		problems, err := s.checkTree(snap, good)
		if err != nil {
			return nil, err
		}
		res.TreeFiles = problems.files
		res.Problems = append(res.Problems, problems.list...)
	} else {
		res.Problems = append(res.Problems, "no current tree")
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %d problems in %s: %s", ErrVerify, len(res.Problems), storageDir, strings.Join(res.Problems, "; "))
	}
	return res, nil
}

// checkMemberLists checks the cache files that are not named by their
// content: a bootloader archive's member list that a snapshot links must
// list members that are all there, and is then good; one that no
// snapshot links is garbage that cleanup removes (a run killed while
// cleaning up can leave it without its members). Anything else is a
// problem.
func (s storage) checkMemberLists(others []fs.DirEntry, good map[uint64]string) []string {
	var problems []string
	for _, e := range others {
		name := e.Name()
		archive, ok := strings.CutSuffix(name, ".members")
		if !ok {
			problems = append(problems, fmt.Sprintf("cache/%s: not a file of the cache", name))
			continue
		}
		fi, err := e.Info()
		if err != nil || cache.LinkCount(fi) < 2 {
			continue
		}
		if _, ok := s.manifest(archive); !ok {
			problems = append(problems, fmt.Sprintf("cache/%s: lists members that are not in the cache", name))
			continue
		}
		good[cache.Inode(fi)] = name
	}
	return problems
}

// treeCheck is what checkTree found.
type treeCheck struct {
	files int
	list  []string
}

// checkTree checks that maas.meta parses, that every file of the snapshot
// is a link of a verified cache file (an inode of good), and that its one
// symlink is pxelinux's module directory.
func (s storage) checkTree(snap string, good map[uint64]string) (treeCheck, error) {
	var res treeCheck
	root := s.path(snap)
	if _, err := readMeta(filepath.Join(root, metaName)); err != nil {
		res.list = append(res.list, err.Error())
	}
	err := walkTree(root, func(rel string, d fs.DirEntry) error {
		if !d.Type().IsRegular() {
			res.list = append(res.list, fmt.Sprintf("%s/%s: not a regular file", snap, rel))
			return nil
		}
		res.files++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if ino := cache.Inode(fi); ino == 0 || good[ino] == "" {
			res.list = append(res.list, fmt.Sprintf("%s/%s: not a link of a verified cache file", snap, rel))
		}
		return nil
	}, func(rel string) error {
		res.list = append(res.list, fmt.Sprintf("%s/%s: a symlink that is not pxelinux's module directory", snap, rel))
		return nil
	})
	return res, disk.Wrap("reading", root, err)
}

// walkTree walks the tree of a snapshot at root: file sees every entry
// but directories, maas.meta and symlinks (rel is its path in the tree);
// badLink sees each symlink that is not pxelinux's module directory, the
// one symlink a tree may have (SPEC §4.1). Either's error ends the walk.
func walkTree(root string, file func(rel string, d fs.DirEntry) error, badLink func(rel string) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir() || rel == metaName:
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if fi, serr := os.Stat(p); err != nil || serr != nil || !fi.IsDir() || !isSyslinuxLink(rel, target) {
				return badLink(rel)
			}
			return nil
		}
		return file(rel, d)
	})
}

// meta is maas.meta parsed: os → arch → subarch → release → label → entry.
type meta map[string]map[string]map[string]map[string]map[string]metaEntry

// images lists what maas.meta records, in no particular order.
func (m meta) images() []simplestreams.Image {
	var out []simplestreams.Image
	for osName, arches := range m {
		for arch, subs := range arches {
			for sub, rels := range subs {
				for rel, labels := range rels {
					for label := range labels {
						out = append(out, simplestreams.Image{OS: osName, Arch: arch, Subarch: sub, Release: rel, Label: label})
					}
				}
			}
		}
	}
	return out
}

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
		return nil, disk.Wrap("reading", metaFile, err)
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
						im := ListImage{ImageInfo: ImageInfo{Image: simplestreams.Image{OS: osName, Arch: arch, Subarch: sub, Release: rel, Label: label},
							ContentID: e.ContentID, ProductName: e.ProductName, VersionName: e.VersionName}}
						im.Size = treeSize(s.path(snap, osName, arch, sub, rel, label))
						if _, err := os.Stat(s.path(snap, osName)); err != nil {
							// a bootloader: release is its type
							im.Size = treeSize(s.path(snap, "bootloader", rel, arch))
							im.Bootloader = true
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
