package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/mirror"
	"maas-import-boot-images/simplestreams"
)

// cmdMirror writes a simplestreams mirror of what the sources select
// (SPEC §7). Like import, the run takes the directory's lock before it
// resolves the sources.
func (r *cmdline) cmdMirror(c *cli.Context, o *output) error {
	// Until the run says what it mirrored, a failure leaves the published
	// mirror as it was: the metrics file carries its images over.
	dir := c.String("to")
	r.recordInventory(func() (inventory, error) {
		return mirrorInventory(dir, &mirror.Result{Status: mirror.StatusFailed})
	})
	opts, err := mirrorOptions(c)
	if err != nil {
		return err
	}
	b, err := r.chooseSource(c, o)
	if err != nil {
		return err
	}
	opts.Log = o.log
	if err := randomDelay(c.Context, c.Duration("random-delay"), o.log); err != nil {
		return err
	}
	wait := r.bars(o, func(p fetch.Progress) { opts.Progress = p })
	res, err := mirror.Run(c.Context, mirror.Resolve(sourcesOf(resolveFrom(c, b))), opts)
	wait()
	if res != nil {
		r.record("", res.Status, "", res.Bytes.Downloaded)
		r.recordInventory(func() (inventory, error) { return mirrorInventory(opts.Dir, res) })
	}
	if err != nil {
		return err
	}
	return r.result(o, res, func() { r.printMirror(res) })
}

// mirrorOptions checks mirror's own flags and reads the signing key.
func mirrorOptions(c *cli.Context) (mirror.Options, error) {
	opts := mirror.Options{
		Dir:                c.String("to"),
		MaxVersions:        c.Int("max-versions"),
		Rewrite:            c.Bool("rewrite"),
		Jobs:               c.Int("jobs"),
		Segments:           c.Int("segments"),
		DryRun:             c.Bool("dry-run"),
		Wait:               c.Bool("wait"),
		Timeout:            c.Duration("timeout"),
		Retries:            c.Int("retries"),
		InsecureSkipVerify: c.Bool("insecure-skip-verify"),
		NoBootloaders:      c.Bool("no-bootloaders"),
		UserAgent:          userAgent(),
	}
	if err := checkRunFlags(c); err != nil {
		return opts, err
	}
	limiter, err := limiterOf(c)
	if err != nil {
		return opts, err
	}
	opts.Limiter = limiter
	switch {
	case opts.Dir == "":
		return opts, usagef("mirror needs --to DIR, the directory to write the mirror into")
	case opts.MaxVersions < 1:
		return opts, usagef("--max-versions must be at least 1")
	case c.IsSet("sign-key") && !opts.Rewrite:
		return opts, usagef("--sign-key signs rewritten metadata: give --rewrite too (verbatim metadata keeps upstream's signatures)")
	}
	if f := c.String("sign-key"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return opts, usageError{fmt.Errorf("reading --sign-key: %w", err)}
		}
		if opts.Signer, err = simplestreams.ParseSigningKey(f, b); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func (r *cmdline) printMirror(res *mirror.Result) {
	w := r.stdout
	what := fmt.Sprintf("%s from %s", countImages(res.Images), plural(len(res.Products), "product", "products"))
	switch res.Status {
	case mirror.StatusUnchanged:
		fmt.Fprintf(w, "unchanged: %s holds %s, %d files (%s); index %s\n",
			res.Storage, what, res.Files.Total, humanBytes(res.Bytes.Total), res.Index)
	case mirror.StatusDryRun:
		fmt.Fprintf(w, "dry run: %s selected\n", what)
		for _, p := range res.Products {
			fmt.Fprintf(w, "  %s %v\n", p.Name, p.Versions)
		}
		fmt.Fprintf(w, "would download %d of %d files (%s of %s); nothing was written\n",
			res.Files.Downloaded, res.Files.Total, humanBytes(res.Bytes.Downloaded), humanBytes(res.Bytes.Total))
	default:
		fmt.Fprintf(w, "mirrored %s into %s (%s metadata, index %s): %d of %d files downloaded (%s), %d reused, %d removed, in %.1fs\n",
			what, res.Storage, res.Metadata, res.Index, res.Files.Downloaded, res.Files.Total, humanBytes(res.Bytes.Downloaded),
			res.Files.Reused, res.Removed, res.Duration.Seconds())
	}
}
