package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/importer"
)

// cmdImport resolves, selects, downloads, publishes and cleans up. The
// importer takes the storage lock before it resolves the sources (SPEC
// §4), so a region is asked only by the run that will use its answer; a
// MAAS 1.5 file, read when the backend is chosen, may name the storage.
func (r *cmdline) cmdImport(c *cli.Context, o *output) error {
	if err := checkRunFlags(c); err != nil {
		return err
	}
	if c.Int("keep") < 0 {
		return usagef("--keep must not be negative")
	}
	limiter, err := limiterOf(c)
	if err != nil {
		return err
	}
	b, err := r.chooseSource(c, o)
	if err != nil {
		return err
	}
	if err := randomDelay(c.Context, c.Duration("random-delay"), o.log); err != nil {
		return err
	}
	storage := c.String("storage")
	if !c.IsSet("storage") && b.Storage != "" {
		storage = b.Storage
		r.record(storage, "", "", 0)
	}
	opts := importer.Options{
		Storage:            storage,
		Jobs:               c.Int("jobs"),
		Segments:           c.Int("segments"),
		Keep:               c.Int("keep"),
		DryRun:             c.Bool("dry-run"),
		Wait:               c.Bool("wait"),
		Timeout:            c.Duration("timeout"),
		Retries:            c.Int("retries"),
		InsecureSkipVerify: c.Bool("insecure-skip-verify"),
		NoBootloaders:      c.Bool("no-bootloaders"),
		UserAgent:          userAgent(),
		Log:                o.log,
		Limiter:            limiter,
	}
	wait := r.bars(o, func(p fetch.Progress) { opts.Progress = p })
	res, err := importer.Run(c.Context, sourcesOf(resolveFrom(c, b)), opts)
	wait()
	if res != nil {
		r.record(storage, res.Status, res.Snapshot, res.Bytes.Downloaded)
	}
	if err != nil {
		return err
	}
	return r.result(o, res, func() { r.printImport(res) })
}

// checkRunFlags checks the flags that import and mirror share.
func checkRunFlags(c *cli.Context) error {
	switch {
	case c.Args().Present():
		return usagef("unexpected argument %q", c.Args().First())
	case c.Int("jobs") < 1:
		return usagef("--jobs must be at least 1")
	case c.Int("segments") < 1:
		return usagef("--segments must be at least 1")
	case c.Duration("random-delay") < 0:
		return usagef("--random-delay must not be negative")
	}
	return nil
}

// countImages says how many images and bootloaders a result holds.
func countImages(images []importer.ImageInfo) string {
	var n, bl int
	for _, im := range images {
		if im.Bootloader {
			bl++
		} else {
			n++
		}
	}
	s := plural(n, "image", "images")
	if bl > 0 {
		s += " and " + plural(bl, "bootloader", "bootloaders")
	}
	return s
}

func (r *cmdline) printImport(res *importer.Result) {
	w := r.stdout
	switch res.Status {
	case importer.StatusUnchanged:
		fmt.Fprintf(w, "unchanged: %s is current, %s, %d files (%s)\n",
			res.Snapshot, countImages(res.Images), res.Files.Total, humanBytes(res.Bytes.Total))
	case importer.StatusDryRun:
		fmt.Fprintf(w, "dry run: %s selected\n", countImages(res.Images))
		for _, im := range res.Images {
			fmt.Fprintf(w, "  %s/%s/%s/%s/%s  %s\n", im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.VersionName)
		}
		fmt.Fprintf(w, "would download %d of %d files (%s of %s); nothing was written\n",
			res.Files.Downloaded, res.Files.Total, humanBytes(res.Bytes.Downloaded), humanBytes(res.Bytes.Total))
	default:
		fmt.Fprintf(w, "imported %s: %s, %d of %d files downloaded (%s), %d reused, in %.1fs\n",
			res.Snapshot, countImages(res.Images), res.Files.Downloaded, res.Files.Total, humanBytes(res.Bytes.Downloaded),
			res.Files.Reused, res.Duration.Seconds())
	}
}
