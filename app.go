package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"maas-import-boot-images/fetch"
	"maas-import-boot-images/importer"
	"maas-import-boot-images/source"
)

// env is what a run sees of the process: streams, environment and whether
// stderr is a terminal. Tests run the whole CLI in-process with their own.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	isTTY          bool
}

// cmdline is one run of the command line: each command is a method of it.
type cmdline struct {
	env
	// failed is what report needs to know if the run fails; parseOutput
	// fills it in.
	failed state
	// log is the run's logger once parseOutput has made it.
	log *slog.Logger
	// rec is the recording of a run that records how it ended (recorded).
	rec *recording
}

// state is what report needs to know about a run that failed.
type state struct {
	json   bool
	quiet  bool
	parsed bool // the output flags were read (parseOutput ran)
}

// errUsage marks a bad command line (exit 2).
var errUsage = errors.New("usage")

type usageError struct{ err error }

func (e usageError) Error() string         { return e.err.Error() }
func (e usageError) Unwrap() []error       { return []error{errUsage, e.err} }
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

const (
	envStorage     = "MAAS_BOOT_RESOURCES_STORAGE"
	envAPIKey      = "MAAS_API_KEY"
	envMetricsFile = "MAAS_BOOT_IMAGES_METRICS_FILE"
	envLimitRate   = "MAAS_BOOT_IMAGES_LIMIT_RATE"
)

// Flag groups, shown as categories in --help.
const (
	catSource  = "Boot sources"
	catImport  = "Import"
	catOutput  = "Output"
	catNetwork = "Network"
)

func backendFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"config-file", "sources-file"}, Category: catSource, Usage: "read boot sources from `FILE` (a MAAS 1.5 bootresources.yaml or a 1.6+ sources list)"},
		&cli.StringFlag{Name: "region-url", Category: catSource, Usage: "ask the region controller at `URL` (e.g. http://region:5240/MAAS) [$MAAS_URL, with $CLUSTER_UUID]"},
		&cli.StringFlag{Name: "cluster-uuid", Category: catSource, Usage: "this cluster's `UUID`: use the region's per-cluster endpoint [$CLUSTER_UUID]"},
		&cli.StringFlag{Name: "api-key", Category: catSource, Usage: "MAAS API `KEY` (consumer:token:secret) for the region [$MAAS_API_KEY]"},
		&cli.StringFlag{Name: "api-key-file", Category: catSource, Usage: "read the MAAS API key from `FILE`"},
		&cli.BoolFlag{Name: "default", Category: catSource, Usage: "use the built-in default source (ubuntu noble amd64 from images.maas.io)"},
		&cli.StringSliceFlag{Name: "release", Category: catSource, Usage: "with the default source: import `RELEASE` instead of noble (repeatable)"},
		&cli.StringSliceFlag{Name: "arch", Category: catSource, Usage: "with the default source: import `ARCH` instead of amd64 (repeatable)"},
		&cli.StringFlag{Name: "keyring", Category: catSource, Usage: "verify every source with the keyring `FILE` instead of its own"},
		&cli.BoolFlag{Name: "insecure-skip-verify", Category: catSource, Usage: "read signed metadata WITHOUT checking signatures (warns on every run)"},
	}
}

func storageFlag() cli.Flag {
	return &cli.StringFlag{Name: "storage", Category: catImport, EnvVars: []string{envStorage}, Value: source.DefaultStorage, Usage: "the boot resources `DIR` (TFTP serves DIR/current)"}
}

func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Category: catNetwork, Value: fetch.DefaultTimeout, Usage: "wait at most `DURATION` for each HTTP attempt's answer headers, and for any stall in a body"},
		&cli.IntFlag{Name: "retries", Category: catNetwork, Value: fetch.DefaultRetries, Usage: "retry a failed HTTP attempt `N` times (region and streams alike)"},
	}
}

// runFlags are the flags of a run that fetches: import's and mirror's.
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Category: catImport, Usage: "select and plan, then stop: download nothing, write nothing"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Category: catImport, Value: importer.DefaultJobs, Usage: "download `N` files at once"},
		&cli.IntFlag{Name: "segments", Category: catImport, Value: fetch.DefaultSegments, Usage: "fetch each file over 64 MiB as `K` ranges at once (1: one stream); at most jobs × K connections"},
		&cli.BoolFlag{Name: "wait", Category: catImport, Usage: "wait for another run on this directory to finish instead of failing"},
		&cli.BoolFlag{Name: "no-bootloaders", Category: catImport, Usage: "take no bootloaders (pxelinux, grub …) from the streams"},
		&cli.DurationFlag{Name: "random-delay", Category: catImport, Usage: "first sleep a random time below `DURATION`, so that timers across a fleet do not start together"},
		limitRateFlag(),
		metricsFlag(),
	}
}

func importFlags() []cli.Flag {
	return append(runFlags(),
		&cli.IntFlag{Name: "keep", Category: catImport, Value: 0, Usage: "keep `N` old snapshots besides current"})
}

// catMirror groups the flags of mirror.
const catMirror = "Mirror"

func mirrorFlags() []cli.Flag {
	return append(runFlags(),
		&cli.StringFlag{Name: "to", Category: catMirror, Usage: "write the mirror into `DIR`, for any HTTP server to serve as it is"},
		&cli.IntFlag{Name: "max-versions", Category: catMirror, Value: 1, Usage: "keep the newest `N` complete versions of every selected product"},
		&cli.BoolFlag{Name: "rewrite", Category: catMirror, Usage: "write metadata that lists exactly what the mirror holds, instead of upstream's byte for byte"},
		&cli.StringFlag{Name: "sign-key", Category: catMirror, Usage: "with --rewrite: clear-sign the metadata with the armored OpenPGP private key `FILE` (no passphrase); its public key goes to DIR/mirror-keyring.gpg"},
	)
}

// metricsFlag is --metrics-file, for the runs that write the metrics
// file (import, mirror); recorded reads it.
func metricsFlag() cli.Flag {
	return &cli.StringFlag{Name: "metrics-file", Category: catOutput, EnvVars: []string{envMetricsFile},
		Usage: "after every run, successful or not, write Prometheus metrics to `FILE` for node_exporter's textfile collector (e.g. /var/lib/prometheus/node-exporter/maas-boot-images.prom)"}
}

// limitRateFlag is --limit-rate, for the runs that download (import,
// mirror); limiterOf reads it.
func limitRateFlag() cli.Flag {
	return &cli.StringFlag{Name: "limit-rate", Category: catNetwork, EnvVars: []string{envLimitRate},
		Usage: "cap the download rate of all jobs together at `RATE` bytes per second; suffixes K, M, G are powers of 1024, as in curl (500K, 50M, 1G)"}
}

// limiterOf reads --limit-rate: nil when it is not given.
func limiterOf(c *cli.Context) (*rate.Limiter, error) {
	if c.String("limit-rate") == "" {
		return nil, nil
	}
	n, err := fetch.ParseRate(c.String("limit-rate"))
	if err != nil {
		return nil, usagef("--limit-rate: %v", err)
	}
	return fetch.NewLimiter(n), nil
}

func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Category: catOutput, Value: "text", Usage: "result `FORMAT`: text or json (json: one object on stdout, nothing else)"},
		&cli.StringFlag{Name: "progress", Category: catOutput, Value: "auto", Usage: "show progress bars `WHEN`: auto (when stderr is a terminal), always or never"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Category: catOutput, Usage: "print nothing but errors (for cron)"},
		&cli.StringFlag{Name: "log-level", Category: catOutput, Value: "info", Usage: "log `LEVEL`: debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Category: catOutput, Value: "text", Usage: "log lines on stderr in `FORMAT`: text or json"},
	}
}

func concat(groups ...[]cli.Flag) []cli.Flag { return slices.Concat(groups...) }

// newApp builds the command line. Actions return errors; run maps them to
// exit codes, so nothing here exits.
func newApp(r *cmdline) *cli.App {
	importAll := concat(backendFlags(), []cli.Flag{storageFlag()}, importFlags(), networkFlags(), outputFlags())
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	commands := r.commands(importAll)
	for _, c := range commands {
		c.OnUsageError = onUsage
	}
	app := &cli.App{
		Name:    "maas-import-boot-images",
		Usage:   "keep a MAAS cluster controller's boot images current",
		Version: version(),
		Description: `Resolves the cluster's boot sources (a sources file, the region controller,
or a narrow built-in default), reads their signed simplestreams metadata,
downloads and verifies the newest selected images into DIR/cache, publishes a
complete snapshot of the boot tree and switches DIR/current to it atomically.

Without a command, import runs. Flags may come before or after the command.
Without a source flag: $MAAS_URL and $CLUSTER_UUID name the region, else
bootresources.yaml in $MAAS_CONFIG_DIR (default /etc/maas) is read if present,
else the built-in default is used; stderr says which.`,
		Writer:          r.stdout,
		ErrWriter:       r.stderr,
		Flags:           importAll,
		Action:          r.recorded("import", "storage", r.action(r.cmdImport)),
		OnUsageError:    onUsage,
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Commands:        commands,
	}
	return withDocs(app)
}

// commands is the command table; import's flags are importAll.
func (r *cmdline) commands(importAll []cli.Flag) []*cli.Command {
	return []*cli.Command{
		{
			Name:   "import",
			Usage:  "resolve, select, download, publish, clean up (the default)",
			Flags:  importAll,
			Action: r.recorded("import", "storage", r.action(r.cmdImport)),
		},
		{
			Name:      "sources",
			Usage:     "print the resolved boot sources as a 1.6+ sources list (YAML, or JSON with --output json)",
			UsageText: "maas-import-boot-images sources [--config FILE | --region-url URL ... | --default] > sources.yaml",
			Flags:     concat(backendFlags(), networkFlags(), outputFlags()),
			Action:    r.action(r.cmdSources),
		},
		{
			Name:   "list",
			Usage:  "list the images in current: os, arch, subarch, release, label, version, size",
			Flags:  concat([]cli.Flag{storageFlag()}, outputFlags()),
			Action: r.action(r.cmdList),
		},
		{
			Name:  "verify",
			Usage: "re-hash every cache file and check that current links only verified files",
			Flags: concat([]cli.Flag{storageFlag(),
				&cli.BoolFlag{Name: "repair", Category: catImport, Usage: "delete cache files whose content does not match their name (the next import fetches them again)"},
			}, outputFlags()),
			Action: r.recorded("verify", "storage", r.action(r.cmdVerify)),
		},
		{
			Name:  "cleanup",
			Usage: "remove old snapshots and unreferenced cache files",
			Flags: concat([]cli.Flag{storageFlag(),
				&cli.BoolFlag{Name: "dry-run", Category: catImport, Usage: "list what would be removed, remove nothing"},
				&cli.IntFlag{Name: "keep", Category: catImport, Usage: "keep `N` old snapshots besides current"},
				&cli.BoolFlag{Name: "wait", Category: catImport, Usage: "wait for a running import instead of failing"},
			}, outputFlags()),
			Action: r.recorded("cleanup", "storage", r.action(r.cmdCleanup)),
		},
		r.rollbackCommand(),
		r.statusCommand(),
		{
			Name:      "mirror",
			Usage:     "write a simplestreams mirror of the selected images into DIR, for other clusters (or a MAAS 3.5+ region) to read",
			UsageText: "maas-import-boot-images mirror --to DIR [--config FILE | --region-url URL ... | --default] [--rewrite [--sign-key FILE]]",
			Flags:     concat(backendFlags(), mirrorFlags(), networkFlags(), outputFlags()),
			Action:    r.recorded("mirror", "to", r.action(r.cmdMirror)),
		},
		{
			Name:   "version",
			Usage:  "print the version",
			Flags:  outputFlags(),
			Action: r.action(r.cmdVersion),
		},
	}
}

// run executes one command line and returns the process's exit code.
func run(ctx context.Context, args []string, e env) int {
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	r := &cmdline{env: e}
	app := newApp(r)
	err := app.RunContext(ctx, commandFirst(app, args))
	code := exitCode(err)
	r.finishRecording(code, err)
	if err == nil {
		return 0
	}
	if !r.failed.parsed {
		// A flag that did not parse stops urfave/cli before --output is
		// read: the failure object is still owed to a script that asked
		// for JSON.
		r.failed.json = asksForJSON(args)
	}
	r.report(err, code)
	return code
}

// asksForJSON says whether a command line asks for --output json, the
// last --output or -o winning as it does when the flags parse.
func asksForJSON(args []string) bool {
	json := false
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "o" && name != "output") {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				break
			}
			value = args[i+1]
		}
		json = value == "json"
	}
	return json
}

// commandFirst moves the command word to the front of the arguments, so that
// flags may come before or after it: every command defines the flags it
// takes, and urfave/cli only parses a command's flags after its name.
func commandFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// The flags of every command: a command's own flag (mirror's --to)
	// may come before the command too.
	takesValue := map[string]bool{}
	flags := slices.Clone(app.Flags)
	for _, c := range app.Commands {
		flags = append(flags, c.Flags...)
	}
	for _, f := range flags {
		if _, isBool := f.(*cli.BoolFlag); isBool {
			continue
		}
		for _, n := range f.Names() {
			takesValue[n] = true
		}
	}
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] {
				i++ // skip the flag's value
			}
			continue
		}
		if i == 0 || app.Command(a) == nil {
			return args
		}
		out := []string{args[0], a}
		out = append(out, rest[:i]...)
		return append(out, rest[i+1:]...)
	}
	return args
}
