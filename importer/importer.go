// Package importer mirrors the selected boot images into a storage
// directory: a content-addressed cache, complete snapshots of the boot
// tree, and a current symlink switched atomically (SPEC §4, §5).
package importer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/time/rate"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/disk"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/internal/summary"
	"maas-import-boot-images/metadata"
	"maas-import-boot-images/simplestreams"
)

// Options configure a run. The zero value of each field is a usable default.
type Options struct {
	Storage            string        // the boot-resources directory
	Jobs               int           // downloads at once; 0 → 4
	Segments           int           // ranges of one large file fetched at once; 0 → fetch.DefaultSegments, 1 → one stream
	SegmentThreshold   int64         // files larger than this are fetched in segments; 0 → fetch.DefaultSegmentThreshold
	Keep               int           // old snapshots kept besides current
	DryRun             bool          // select and plan; write nothing at all (no lock either)
	Wait               bool          // wait for the lock instead of ErrLocked
	Timeout            time.Duration // HTTP header timeout and body stall timeout; 0 → fetch.DefaultTimeout
	Retries            int           // HTTP retries; negative → none
	InsecureSkipVerify bool          // read .sjson without checking signatures
	NoBootloaders      bool          // import no bootloader products
	UserAgent          string
	Log                *slog.Logger  // nil → discard
	Progress           Progress      // nil → none
	Limiter            *rate.Limiter // caps the download rate of the whole run (fetch.NewLimiter); nil → no cap
}

// DefaultJobs is how many files an import downloads at once by default.
const DefaultJobs = 4

// Progress receives download progress (fetch.Progress). One that is also
// a fetch.Planner is told, once before the downloads start, how many files
// and bytes they are, so that it can show the whole run.
type Progress = fetch.Progress

// FileProgress follows one download (fetch.FileProgress).
type FileProgress = fetch.FileProgress

// Statuses of a Result.
const (
	StatusImported  = "imported"
	StatusUnchanged = "unchanged"
	StatusDryRun    = "dry-run"
	StatusFailed    = "failed"
)

// Result is what a run did, in the shape of SPEC §6's JSON summary.
type Result struct {
	Status   string      `json:"status"`
	Storage  string      `json:"storage"`
	Snapshot string      `json:"snapshot"`
	Images   []ImageInfo `json:"images"`
	Files    Counts      `json:"files"`
	Bytes    Counts      `json:"bytes"`
	Duration Seconds     `json:"duration_seconds"`
	// UpToDate is, for a dry run, whether an import would change nothing:
	// current serves this selection already, complete.
	UpToDate bool `json:"-"`
}

// Seconds is a duration written as fractional seconds in JSON.
type Seconds = summary.Seconds

// Counts counts distinct files (by sha256) or their bytes.
type Counts = summary.Counts

// ImageInfo describes one image of a run.
type ImageInfo = summary.Image

// defaults fills in the importer's own defaults; the HTTP ones are the
// fetch package's.
func (o *Options) defaults() {
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs
	}
	o.Log = logs.OrDiscard(o.Log)
}

// newClient is the HTTP client of a run.
func newClient(opts Options) *fetch.Client {
	return fetch.New(fetch.Options{Timeout: opts.Timeout, Retries: opts.Retries, UserAgent: opts.UserAgent,
		Jobs: opts.Jobs, Segments: opts.Segments, SegmentThreshold: opts.SegmentThreshold, Progress: opts.Progress, Log: opts.Log,
		Limiter: opts.Limiter})
}

// Resolve returns the boot sources of a run. Run calls it once, after it
// holds the storage lock, so that a backend that asks another machine (the
// region) is asked only by the run that will use its answer.
type Resolve func(ctx context.Context) ([]simplestreams.BootSource, error)

// Run imports the images that the sources select into opts.Storage.
//
// It takes the storage lock (ErrLocked, or waits with opts.Wait; a dry run
// takes none), resolves the sources, reads and verifies every source's
// metadata, selects the images, downloads what the
// cache lacks, publishes a new snapshot and switches current to it, then
// cleans up. When the selection and current agree, nothing is written but
// the mtime of current/maas.meta. On any error current is left as it was,
// and the Result, when not nil, has status StatusFailed and says how many
// bytes the run downloaded before it failed. Cancelling ctx stops the run
// promptly with an error wrapping context.Canceled.
func Run(ctx context.Context, resolve Resolve, opts Options) (res *Result, err error) {
	start := time.Now()
	opts.defaults()
	st := storage(opts.Storage)
	if !opts.DryRun {
		unlock, err := Lock(ctx, opts.Storage, opts.Wait)
		if err != nil {
			return nil, err
		}
		defer unlock()
		st.removeTemporaries(opts.Log)
	}
	sources, err := resolve(ctx)
	if err != nil {
		return nil, err
	}
	f := newClient(opts)
	defer func() {
		if err != nil {
			res = &Result{Status: StatusFailed, Storage: opts.Storage, Bytes: Counts{Downloaded: f.Received()},
				Duration: Seconds(time.Since(start))}
		}
	}()
	streams, err := metadata.ReadAll(ctx, f, sources, metadata.Options{InsecureSkipVerify: opts.InsecureSkipVerify, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	images, bls, err := metadata.Select(streams, opts.NoBootloaders, opts.Log)
	if err != nil {
		return nil, err
	}
	locs := make([]simplestreams.Location, len(streams))
	for i, s := range streams {
		locs[i] = s.Location
	}
	all := append(append([]simplestreams.BootImage(nil), images...), bls...)
	files, err := planFiles(all, locs)
	if err != nil {
		return nil, err
	}
	res = &Result{Storage: opts.Storage, Images: summary.Images(all)}
	missing, nfiles, nbytes := fetch.Missing(st.cache(), files)
	res.Files, res.Bytes = nfiles, nbytes
	done := func(status string) (*Result, error) {
		res.Status = status
		res.Duration = Seconds(time.Since(start))
		return res, nil
	}
	meta := encodeMeta(all)
	snap, t, same, err := st.upToDate(ctx, missing, images, bls, meta)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		res.UpToDate = same
		return done(StatusDryRun)
	}
	if same {
		logWarnings(opts.Log, t)
		res.Snapshot = snap
		now := time.Now()
		metaFile := filepath.Join(opts.Storage, snap, "maas.meta")
		if err := os.Chtimes(metaFile, now, now); err != nil {
			return nil, disk.Wrap("touching", metaFile, err)
		}
		// Nothing else is written, not even by cleanup (SPEC §4):
		// old snapshots go after the next switch, or by `cleanup`.
		opts.Log.Info("nothing changed", "current", snap, "images", len(all))
		return done(StatusUnchanged)
	}
	snap, err = st.build(ctx, f, missing, images, bls, meta, opts)
	if err != nil {
		return nil, err
	}
	res.Snapshot = snap
	res.Bytes.Downloaded = f.Received()
	opts.Log.Info("imported", "snapshot", snap, "images", len(images), "bootloaders", len(bls), "downloaded_files", res.Files.Downloaded, "downloaded_bytes", res.Bytes.Downloaded)
	st.cleanupAfter(opts, true)
	return done(StatusImported)
}

// upToDate reports whether current already serves this selection,
// complete (storage.unchanged), and returns it and its tree if so. It
// writes nothing.
func (st storage) upToDate(ctx context.Context, missing []fetch.File, images, bls []simplestreams.BootImage, meta []byte) (string, *tree, bool, error) {
	if len(missing) > 0 {
		return "", nil, false, nil
	}
	members, ok, err := st.bootloaderMembers(ctx, bls, false)
	if err != nil || !ok {
		return "", nil, false, err
	}
	t, err := st.snapshotTree(images, bls, members)
	if err != nil {
		return "", nil, false, err
	}
	snap, same := st.unchanged(t, meta)
	return snap, t, same, nil
}

// build downloads the missing files into the cache, unpacks the
// bootloaders, and publishes the snapshot of the images and bootloaders.
func (st storage) build(ctx context.Context, f *fetch.Client, missing []fetch.File, images, bls []simplestreams.BootImage, meta []byte, opts Options) (string, error) {
	if err := st.checkSpace(missing); err != nil {
		return "", err
	}
	if err := st.mkdirs(); err != nil {
		return "", err
	}
	if err := f.GetAll(ctx, missing, st.cache(), opts.Jobs); err != nil {
		return "", err
	}
	members, _, err := st.bootloaderMembers(ctx, bls, true)
	if err != nil {
		return "", err
	}
	t, err := st.snapshotTree(images, bls, members)
	if err != nil {
		return "", err
	}
	logWarnings(opts.Log, t)
	if err := st.storeGenerated(t); err != nil {
		return "", err
	}
	// Each file, downloaded, unpacked from a bootloader archive or
	// generated, was synced before its rename; one sync of the directory
	// makes all the renames durable before the snapshot links them.
	if len(missing) > 0 || len(bls) > 0 {
		if err := st.cache().Sync(); err != nil {
			return "", err
		}
	}
	return st.publish(ctx, t, meta)
}

// cleanupAfter cleans up after a successful run. A failure to remove old
// files does not undo the import that current already serves: it is
// logged, and the next run or the cleanup command tries again.
func (s storage) cleanupAfter(opts Options, parts bool) {
	if _, err := s.cleanup(opts.Keep, false, parts, opts.Log); err != nil {
		opts.Log.Warn("cleaning up after the import failed; current is complete", "err", err)
	}
}

func logWarnings(log *slog.Logger, t *tree) {
	for _, w := range t.warnings {
		log.Warn(w)
	}
}

// fileLabel names a file for people: the image (or bootloader) that
// needs it and its base name, as in "noble/amd64/ga-24.04 squashfs" or
// "bootloader/uefi/amd64 shim-signed.tar.xz".
func fileLabel(im simplestreams.BootImage, it simplestreams.File) string {
	if im.Bootloader != "" {
		return path.Join("bootloader", im.Bootloader, im.Arch) + " " + path.Base(it.Path)
	}
	return path.Join(im.Release, im.Arch, im.Subarch) + " " + path.Base(it.Path)
}

// planFiles turns images into distinct files by sha256. Two items with the
// same sha256 but a different size are refused.
func planFiles(images []simplestreams.BootImage, locs []simplestreams.Location) ([]fetch.File, error) {
	seen := map[string]int{}
	var files []fetch.File
	for _, im := range images {
		for _, it := range im.Items {
			if i, ok := seen[it.SHA256]; ok {
				if files[i].Size != it.Size {
					return nil, fmt.Errorf("%w: %s is listed with sizes %d and %d", simplestreams.ErrInvalid, it.SHA256, files[i].Size, it.Size)
				}
				continue
			}
			u, err := locs[im.Source].Resolve(it.Path)
			if err != nil {
				return nil, err
			}
			seen[it.SHA256] = len(files)
			files = append(files, fetch.File{SHA256: it.SHA256, SHA512: it.SHA512, Size: it.Size, URL: u, Name: fileLabel(im, it)})
		}
	}
	return files, nil
}
