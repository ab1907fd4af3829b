package main

import "runtime/debug"

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
