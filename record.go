package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/importer"
	"maas-import-boot-images/internal/summary"
	"maas-import-boot-images/metrics"
	"maas-import-boot-images/mirror"
)

// recording is a run that records how it ended (SPEC §8): in
// <storage>/.last-run.json and, with --metrics-file, in the metrics file.
// recorded starts it once the flags parse; the command fills in what it
// did; run finishes it with the exit code, whatever the ending.
type recording struct {
	command     string
	storage     string // where .last-run.json goes; the metrics' storage label
	metricsFile string // "" → none
	start       time.Time
	// What the command did, set by record as it goes.
	status     string // on success: the command's own status (imported, unchanged …)
	snapshot   string
	downloaded int64 // bytes received over the network, also by a run that failed
	// inventory says what the storage serves, for the metrics file; nil
	// → current and the cache of an import's storage (storageInventory).
	inventory func() (inventory, error)
}

// inventory is what a storage serves, for the metrics file.
type inventory struct {
	images       []summary.Image
	currentBytes int64
	cacheBytes   int64
	carry        bool // images and currentBytes are not known: the metrics file carries them over
}

// recorded makes action a recorded run of command, whose storage is
// the value of the flag storageFlag: every ending of it after the flags
// parse (a usage error, a failure, SIGINT/SIGTERM, a success) is recorded
// by run. A dry run, and verify without --repair, write nothing and
// record nothing.
func (r *cmdline) recorded(command, storageFlag string, action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Bool("dry-run") || (command == "verify" && !c.Bool("repair")) {
			return action(c)
		}
		r.rec = &recording{command: command, storage: c.String(storageFlag), start: time.Now()}
		if ownFlag(c, "metrics-file") {
			r.rec.metricsFile = c.String("metrics-file")
		}
		return action(c)
	}
}

// ownFlag says whether the command running defines the flag name itself:
// urfave/cli looks up a flag it lacks in the commands above it, where the
// top level's --metrics-file (and its environment variable) would be
// found for any command.
func ownFlag(c *cli.Context, name string) bool {
	if c.Command == nil {
		return false
	}
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// record notes what a recorded command did; a no-op in a run that is not
// recorded. storage, when not "", replaces the storage the flags named
// (a MAAS 1.5 file may name it).
func (r *cmdline) record(storage, status, snapshot string, downloaded int64) {
	if r.rec == nil {
		return
	}
	if storage != "" {
		r.rec.storage = storage
	}
	r.rec.status, r.rec.snapshot, r.rec.downloaded = status, snapshot, downloaded
}

// recordInventory says how the recorded run's storage is inventoried for
// the metrics file, when that is not as an import's storage; a no-op in a
// run that is not recorded.
func (r *cmdline) recordInventory(inv func() (inventory, error)) {
	if r.rec != nil {
		r.rec.inventory = inv
	}
}

// finishRecording records how a recorded run ended: .last-run.json in
// its storage when that directory exists (a run that could not make it
// has nowhere to record), and the metrics file when asked for. A failure
// to write either is logged and does not change the run's exit code.
func (r *cmdline) finishRecording(code int, err error) {
	rec := r.rec
	if rec == nil {
		return
	}
	log := r.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(r.stderr, nil))
	}
	end := time.Now()
	run := importer.LastRun{Time: end.UTC().Truncate(time.Millisecond), Command: rec.command, Status: rec.status, ExitCode: code,
		Snapshot: rec.snapshot, Duration: importer.Seconds(end.Sub(rec.start)), DownloadedBytes: rec.downloaded}
	if err != nil {
		run.Status, run.Error = importer.StatusFailed, failureLine(err, code)
	}
	if code == exitOK && (rec.command == "import" || rec.command == "mirror") {
		run.LastSuccess = run.Time
	} else if prev, perr := importer.ReadLastRun(rec.storage); perr == nil && prev != nil {
		run.LastSuccess = prev.LastSuccess
	}
	if fi, serr := os.Stat(rec.storage); serr == nil && fi.IsDir() {
		if werr := importer.WriteLastRun(rec.storage, run); werr != nil {
			log.Warn("the run was not recorded", "err", werr)
		}
	}
	if rec.metricsFile == "" {
		return
	}
	if rec.storage == "" {
		// mirror without --to: no directory to report on.
		log.Warn("metrics file not written: the run names no directory", "file", rec.metricsFile)
		return
	}
	if werr := writeMetrics(rec, run, log); werr != nil {
		log.Error("metrics file not written", "file", rec.metricsFile, "err", werr)
	}
}

// writeMetrics writes the metrics file of a recorded run that ended as
// run says. What the storage serves is written as far as it can be read;
// what cannot be is logged.
func writeMetrics(rec *recording, run importer.LastRun, log *slog.Logger) error {
	inv := rec.inventory
	if inv == nil {
		inv = func() (inventory, error) { return storageInventory(rec.storage) }
	}
	in, err := inv()
	if err != nil {
		log.Warn("the metrics file lacks what the storage serves", "err", err)
	}
	images := make([]metrics.Image, 0, len(in.images))
	for _, im := range in.images {
		images = append(images, metrics.Image{OS: im.OS, Arch: im.Arch, Subarch: im.Subarch, Release: im.Release,
			Label: im.Label, Version: im.VersionName})
	}
	return metrics.Write(rec.metricsFile, metrics.Run{Storage: rec.storage, End: run.Time, Duration: time.Duration(run.Duration),
		ExitCode: run.ExitCode, Downloaded: run.DownloadedBytes, Images: images, CurrentBytes: in.currentBytes, CacheBytes: in.cacheBytes,
		Carry: in.carry})
}

// mirrorInventory is what a mirror serves after a run that ended with
// res: the images it mirrored and their bytes when it succeeded; when it
// failed, the published mirror is as it was, and the metrics file carries
// over what it said before. The cache is measured either way.
func mirrorInventory(dir string, res *mirror.Result) (inventory, error) {
	in := inventory{carry: res.Status == mirror.StatusFailed}
	if !in.carry {
		in.images, in.currentBytes = res.Images, res.Bytes.Total
	}
	var err error
	in.cacheBytes, err = cache.New(filepath.Join(dir, mirror.CacheDir)).Bytes()
	return in, err
}

// storageInventory is what an import's storage serves: the images of
// current (none before a first import) and the bytes of current and the
// cache.
func storageInventory(storage string) (inventory, error) {
	var in inventory
	l, err := importer.List(storage)
	if errors.Is(err, importer.ErrNoCurrent) {
		err = nil
	}
	if l != nil {
		for _, im := range l.Images {
			in.images = append(in.images, im.ImageInfo)
		}
	}
	u, uerr := importer.DiskUsage(storage)
	in.currentBytes, in.cacheBytes = u.Current, u.Cache
	return in, errors.Join(err, uerr)
}
