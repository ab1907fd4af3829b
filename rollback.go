package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
)

func (r *cmdline) rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "switch current back to a kept snapshot (by default the newest one older than current)",
		UsageText: "maas-import-boot-images rollback [--to SNAPSHOT] [--storage DIR]",
		Flags: concat([]cli.Flag{storageFlag(),
			&cli.StringFlag{Name: "to", Category: catImport, Usage: "switch to the kept snapshot `SNAPSHOT` (see status) instead of the newest older one"},
			&cli.BoolFlag{Name: "wait", Category: catImport, Usage: "wait for a running import instead of failing"},
		}, outputFlags()),
		Action: r.recorded("rollback", "storage", r.action(r.cmdRollback)),
	}
}

// cmdRollback switches current back to a kept snapshot.
func (r *cmdline) cmdRollback(c *cli.Context, o *output) error {
	if c.Args().Present() {
		return usagef("unexpected argument %q (name the snapshot with --to)", c.Args().First())
	}
	res, err := importer.Rollback(c.Context, c.String("storage"), c.String("to"), c.Bool("wait"), o.log)
	if err != nil {
		return err
	}
	r.record("", res.Status, res.Snapshot, 0)
	if o.json {
		return r.writeJSON(res)
	}
	if o.quiet {
		return nil
	}
	if res.Status == importer.StatusUnchanged {
		_, err = fmt.Fprintf(r.stdout, "unchanged: %s is current already\n", res.Snapshot)
		return err
	}
	was := res.Previous
	if was == "" {
		was = "nothing"
	}
	_, err = fmt.Fprintf(r.stdout, "rolled back: current is %s (was %s); its %d files are all in the cache\n", res.Snapshot, was, res.Files)
	return err
}
