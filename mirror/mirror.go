// Package mirror writes a simplestreams mirror of the selected boot images
// into a directory that any HTTP server can serve (SPEC §7): the payload
// as hard links of a content-addressed store at the paths the metadata
// names, and the metadata, upstream's byte for byte or rewritten to list
// exactly what the mirror holds. Publication is safe for readers at every
// moment, and files leave one run after the metadata stops naming them.
package mirror

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/internal/lock"
	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/internal/summary"
	"maas-import-boot-images/metadata"
	"maas-import-boot-images/simplestreams"
)

// Options configure a run. The zero value of each field is a usable
// default, but for Dir.
type Options struct {
	Dir         string // the mirror directory
	MaxVersions int    // complete versions kept per product; 0 → 1
	// Rewrite writes metadata listing exactly what the mirror holds;
	// otherwise upstream's is published byte for byte.
	Rewrite bool
	// Signer, with Rewrite, clear-signs the rewritten metadata (.sjson
	// beside .json) and publishes its public key as KeyringFile.
	Signer             *simplestreams.Signer
	Jobs               int           // downloads at once; 0 → 4
	Segments           int           // ranges of one large file fetched at once; 0 → fetch.DefaultSegments, 1 → one stream
	DryRun             bool          // select and plan; write nothing at all (no lock either)
	Wait               bool          // wait for the lock instead of lock.ErrLocked
	Timeout            time.Duration // HTTP header timeout and body stall timeout; 0 → fetch.DefaultTimeout
	Retries            int           // HTTP retries; negative → none
	InsecureSkipVerify bool          // read .sjson without checking signatures
	NoBootloaders      bool          // mirror no bootloader products
	UserAgent          string
	Log                *slog.Logger   // nil → discard
	Progress           fetch.Progress // nil → none
	Limiter            *rate.Limiter  // caps the download rate of the whole run (fetch.NewLimiter); nil → no cap
}

// DefaultJobs is how many files a run downloads at once by default.
const DefaultJobs = 4

// Statuses of a Result.
const (
	StatusMirrored  = "mirrored"
	StatusUnchanged = "unchanged"
	StatusDryRun    = "dry-run"
	StatusFailed    = "failed"
)

// Metadata modes of a Result.
const (
	MetadataVerbatim  = "verbatim"
	MetadataRewritten = "rewritten"
	MetadataSigned    = "signed"
)

// Result is what a run did, in the shape of import's JSON summary (SPEC
// §6): Storage is the mirror directory.
type Result struct {
	Status   string          `json:"status"`
	Storage  string          `json:"storage"`
	Index    string          `json:"index"`    // the index's path in the mirror
	Metadata string          `json:"metadata"` // verbatim, rewritten or signed
	Images   []summary.Image `json:"images"`
	Products []Product       `json:"products"`
	Files    summary.Counts  `json:"files"`
	Bytes    summary.Counts  `json:"bytes"`
	Removed  int             `json:"removed"` // files whose one run of grace ended
	Duration summary.Seconds `json:"duration_seconds"`
}

// Resolve returns the boot sources of a run; Run calls it once, after it
// holds the lock.
type Resolve func(ctx context.Context) ([]simplestreams.BootSource, error)

func (o *Options) defaults() {
	if o.Jobs <= 0 {
		o.Jobs = DefaultJobs
	}
	if o.MaxVersions <= 0 {
		o.MaxVersions = 1
	}
	o.Log = logs.OrDiscard(o.Log)
}

// Run mirrors what the sources select into opts.Dir.
//
// It takes the lock on Dir/.lock (lock.ErrLocked, or waits with
// opts.Wait; a dry run takes none), resolves the sources, reads and
// verifies their metadata, selects as import does and keeps the newest
// opts.MaxVersions complete versions of every selected product. It
// downloads what Dir/.cache lacks, then publishes: the payload, then the
// products files, then the index, each atomically; then it removes the
// files that neither this run's metadata nor the previous run's names.
// When nothing changed upstream it writes nothing. On any error the
// published mirror is left complete, and the Result, when not nil, has
// status StatusFailed and says how many bytes the run downloaded before it
// failed. Cancelling ctx stops the run promptly with an error wrapping
// context.Canceled.
func Run(ctx context.Context, resolve Resolve, opts Options) (res *Result, err error) {
	start := time.Now()
	opts.defaults()
	if !opts.DryRun {
		unlock, err := lock.Take(ctx, opts.Dir, opts.Wait)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	sources, err := resolve(ctx)
	if err != nil {
		return nil, err
	}
	f := fetch.New(fetch.Options{Timeout: opts.Timeout, Retries: opts.Retries, UserAgent: opts.UserAgent,
		Jobs: opts.Jobs, Segments: opts.Segments, Progress: opts.Progress, Log: opts.Log, Limiter: opts.Limiter})
	defer func() {
		if err != nil {
			res = &Result{Status: StatusFailed, Storage: opts.Dir, Bytes: summary.Counts{Downloaded: f.Received()},
				Duration: summary.Seconds(time.Since(start))}
		}
	}()
	streams, err := metadata.ReadAll(ctx, f, sources, metadata.Options{InsecureSkipVerify: opts.InsecureSkipVerify, KeepRaw: !opts.Rewrite, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	images, bls, err := metadata.Select(streams, opts.NoBootloaders, opts.Log)
	if err != nil {
		return nil, err
	}
	chosen := append(append([]simplestreams.BootImage(nil), images...), bls...)
	p, err := makePlan(streams, keptProducts(streams, chosen, opts.MaxVersions, opts.Log), opts)
	if err != nil {
		return nil, err
	}
	d := dir(opts.Dir)
	res = &Result{Storage: opts.Dir, Index: p.index, Metadata: metadataMode(opts), Images: summary.Images(chosen), Products: p.products}
	missing, nfiles, nbytes := fetch.Missing(d.cache(), p.files)
	res.Files, res.Bytes = nfiles, nbytes
	done := func(status string) (*Result, error) {
		res.Status = status
		res.Duration = summary.Seconds(time.Since(start))
		return res, nil
	}
	if opts.DryRun {
		return done(StatusDryRun)
	}
	if err := d.download(ctx, f, missing, opts); err != nil {
		return nil, err
	}
	res.Bytes.Downloaded = f.Received()
	changed, err := d.publish(ctx, p, opts, res)
	if err != nil {
		return nil, err
	}
	if !changed && len(missing) == 0 {
		opts.Log.Info("nothing changed", "mirror", opts.Dir, "products", len(p.products))
		return done(StatusUnchanged)
	}
	opts.Log.Info("mirrored", "mirror", opts.Dir, "index", p.index, "products", len(p.products), "downloaded_files", res.Files.Downloaded,
		"downloaded_bytes", res.Bytes.Downloaded, "removed", res.Removed)
	return done(StatusMirrored)
}

func metadataMode(opts Options) string {
	switch {
	case !opts.Rewrite:
		return MetadataVerbatim
	case opts.Signer != nil:
		return MetadataSigned
	}
	return MetadataRewritten
}

// download fetches the missing files into the store, opts.Jobs at once,
// after checking that they fit, and makes their names durable.
func (d dir) download(ctx context.Context, f *fetch.Client, missing []fetch.File, opts Options) error {
	if len(missing) == 0 {
		return nil
	}
	var need int64
	for _, fl := range missing {
		need += fl.Size
	}
	if err := checkSpace(string(d), need); err != nil {
		return err
	}
	c := d.cache()
	if err := c.Create(); err != nil {
		return err
	}
	if err := f.GetAll(ctx, missing, c, opts.Jobs); err != nil {
		return err
	}
	return c.Sync()
}
