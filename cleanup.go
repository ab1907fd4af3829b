package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
)

// cmdCleanup removes old snapshots and unreferenced cache files.
func (r *cmdline) cmdCleanup(c *cli.Context, o *output) error {
	if c.Int("keep") < 0 {
		return usagef("--keep must not be negative")
	}
	dryRun := c.Bool("dry-run")
	res, err := importer.Cleanup(c.Context, c.String("storage"), c.Int("keep"), dryRun, c.Bool("wait"), o.log)
	if err != nil {
		return err
	}
	r.record("", "cleaned", "", 0)
	if o.json {
		return r.writeJSON(res)
	}
	if o.quiet {
		return nil
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, s := range res.Snapshots {
		fmt.Fprintf(r.stdout, "%s %s\n", verb, s)
	}
	fmt.Fprintf(r.stdout, "%s %d snapshots and %d cache files (%s)\n", verb, len(res.Snapshots), len(res.CacheFiles), humanBytes(res.Bytes))
	return nil
}
