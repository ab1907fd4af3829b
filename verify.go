package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
)

// cmdVerify re-hashes the cache and checks what current links.
func (r *cmdline) cmdVerify(c *cli.Context, o *output) error {
	res, err := importer.Verify(c.Context, c.String("storage"), c.Bool("repair"), o.log)
	if err != nil {
		return err
	}
	r.record("", "verified", res.Snapshot, 0)
	return r.result(o, res, func() {
		fmt.Fprintf(r.stdout, "ok: %d cache files (%s) verified; %s links only verified files (%d)\n",
			res.CacheFiles, humanBytes(res.Bytes), res.Snapshot, res.TreeFiles)
	})
}
