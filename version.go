package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildVersion is set at link time: -ldflags "-X main.buildVersion=1.2.3".
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "0.0.0-dev+" + s.Value[:12]
			}
		}
	}
	return "0.0.0-dev"
}

// cmdVersion prints the version.
func (r *cmdline) cmdVersion(c *cli.Context, o *output) error {
	if o.json {
		return r.writeJSON(map[string]string{"version": version()})
	}
	_, err := fmt.Fprintf(r.stdout, "maas-import-boot-images %s\n", version())
	return err
}
