package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
)

// cmdList lists the images in current.
func (r *cmdline) cmdList(c *cli.Context, o *output) error {
	l, err := importer.List(c.String("storage"))
	if err != nil {
		return err
	}
	if o.json {
		return r.writeJSON(l)
	}
	if o.quiet {
		return nil // the exit code says whether current is there
	}
	fmt.Fprintf(r.stdout, "current: %s (last import %s)\n", l.Snapshot, l.LastImport.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(r.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OS\tARCH\tSUBARCH\tRELEASE\tLABEL\tVERSION\tSIZE")
	for _, im := range l.Images {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.VersionName, humanBytes(im.Size))
	}
	return tw.Flush()
}
