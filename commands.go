package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/source"
)

// state carries what report needs to know about a run that failed.
type state struct {
	json   bool
	quiet  bool
	parsed bool // the output flags were read (parseOutput ran)
}

type stateKey struct{}

func stateOf(c *cli.Context) *state {
	if st, ok := c.Context.Value(stateKey{}).(*state); ok {
		return st
	}
	return &state{}
}

// output is the parsed output flags of a command.
type output struct {
	json     bool
	quiet    bool
	progress bool
	log      *slog.Logger
}

func parseOutput(c *cli.Context, e env) (*output, error) {
	st := stateOf(c)
	o := &output{quiet: c.Bool("quiet")}
	st.quiet = o.quiet
	st.parsed = true
	switch c.String("output") {
	case "text":
	case "json":
		o.json = true
		st.json = true
	default:
		return nil, usagef("--output must be text or json, not %q", c.String("output"))
	}
	switch p := c.String("progress"); p {
	case "auto":
		o.progress = e.isTTY && !o.quiet && !o.json
	case "always":
		o.progress = !o.quiet
	case "never":
	default:
		return nil, usagef("--progress must be auto, always or never, not %q", p)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usagef("--log-level must be debug, info, warn or error, not %q", c.String("log-level"))
	}
	if o.quiet {
		level = slog.LevelError
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch f := c.String("log-format"); f {
	case "text":
		o.log = slog.New(slog.NewTextHandler(e.stderr, hopts))
	case "json":
		o.log = slog.New(slog.NewJSONHandler(e.stderr, hopts))
	default:
		return nil, usagef("--log-format must be text or json, not %q", f)
	}
	return o, nil
}

func userAgent() string { return "maas-import-boot-images/" + version() }

// resolve picks the backend from the flags and the environment and asks it
// for the boot sources, with --keyring applied.
func resolve(c *cli.Context, e env, o *output) (*source.Config, error) {
	src, err := chooseSource(c, e, o)
	if err != nil {
		return nil, err
	}
	return resolveFrom(c, src)
}

// chooseSource picks the backend from the flags and the environment.
func chooseSource(c *cli.Context, e env, o *output) (source.Source, error) {
	// The key is read here, not through the flag's environment variable,
	// so that --help never shows it as a default value.
	apiKey := c.String("api-key")
	if f := c.String("api-key-file"); f != "" {
		if apiKey != "" {
			return nil, usagef("--api-key and --api-key-file are exclusive")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("reading --api-key-file: %w", err)}
		}
		apiKey = strings.TrimSpace(string(b))
	}
	if apiKey == "" {
		apiKey = e.getenv(envAPIKey)
	}
	src, err := source.Choose(source.Choice{
		Config:      c.String("config"),
		RegionURL:   c.String("region-url"),
		ClusterUUID: c.String("cluster-uuid"),
		APIKey:      apiKey,
		Keyring:     c.String("keyring"),
		Default:     c.Bool("default"),
		Releases:    c.StringSlice("release"),
		Arches:      c.StringSlice("arch"),
		Timeout:     c.Duration("timeout"),
		Retries:     c.Int("retries"),
		UserAgent:   userAgent(),
		Log:         o.log,
		Getenv:      e.getenv,
	})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// resolveFrom asks the backend for the boot sources, with --keyring applied.
func resolveFrom(c *cli.Context, src source.Source) (*source.Config, error) {
	cfg, err := src.Resolve(c.Context)
	if err != nil {
		return nil, err
	}
	if k := c.String("keyring"); k != "" {
		cfg.OverrideKeyring(k)
	}
	return cfg, nil
}

func cmdImport(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	if c.Int("jobs") < 1 {
		return usagef("--jobs must be at least 1")
	}
	if c.Int("keep") < 0 {
		return usagef("--keep must not be negative")
	}
	if c.Args().Present() {
		return usagef("unexpected argument %q", c.Args().First())
	}
	src, err := chooseSource(c, e, o)
	if err != nil {
		return err
	}
	// The storage lock comes before any network access (SPEC §4), so a
	// region is asked only by the run that will use its answer. A local
	// backend is read first: a MAAS 1.5 file may name the storage.
	var cfg *source.Config
	if !source.Remote(src) {
		if cfg, err = resolveFrom(c, src); err != nil {
			return err
		}
	}
	storage := c.String("storage")
	if !c.IsSet("storage") && cfg != nil && cfg.Storage != "" {
		storage = cfg.Storage
	}
	if !c.Bool("dry-run") {
		unlock, err := importer.Lock(c.Context, storage, c.Bool("wait"))
		if err != nil {
			return err
		}
		defer unlock()
	}
	if cfg == nil {
		if cfg, err = resolveFrom(c, src); err != nil {
			return err
		}
	}
	opts := importer.Options{
		Locked:             !c.Bool("dry-run"),
		Storage:            storage,
		Jobs:               c.Int("jobs"),
		Keep:               c.Int("keep"),
		DryRun:             c.Bool("dry-run"),
		Wait:               c.Bool("wait"),
		Timeout:            c.Duration("timeout"),
		Retries:            c.Int("retries"),
		InsecureSkipVerify: c.Bool("insecure-skip-verify"),
		NoBootloaders:      c.Bool("no-bootloaders"),
		UserAgent:          userAgent(),
		Log:                o.log,
	}
	var bars *progressBars
	if o.progress {
		bars = newProgressBars(e.stderr)
		opts.Progress = bars
	}
	res, err := importer.Run(c.Context, cfg.Sources, opts)
	if bars != nil {
		bars.Wait()
	}
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e, res)
	}
	if o.quiet {
		return nil
	}
	printImport(e, res)
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

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func printImport(e env, r *importer.Result) {
	w := e.stdout
	switch r.Status {
	case importer.StatusUnchanged:
		fmt.Fprintf(w, "unchanged: %s is current, %s, %d files (%s)\n",
			r.Snapshot, countImages(r.Images), r.Files.Total, humanBytes(r.Bytes.Total))
	case importer.StatusDryRun:
		fmt.Fprintf(w, "dry run: %s selected\n", countImages(r.Images))
		for _, im := range r.Images {
			fmt.Fprintf(w, "  %s/%s/%s/%s/%s  %s\n", im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.VersionName)
		}
		fmt.Fprintf(w, "would download %d of %d files (%s of %s); nothing was written\n",
			r.Files.Downloaded, r.Files.Total, humanBytes(r.Bytes.Downloaded), humanBytes(r.Bytes.Total))
	default:
		fmt.Fprintf(w, "imported %s: %s, %d of %d files downloaded (%s), %d reused, in %.1fs\n",
			r.Snapshot, countImages(r.Images), r.Files.Downloaded, r.Files.Total, humanBytes(r.Bytes.Downloaded),
			r.Files.Reused, r.Duration.Seconds())
	}
}

func cmdSources(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	cfg, err := resolve(c, e, o)
	if err != nil {
		return err
	}
	format := "yaml"
	if o.json {
		format = "json"
	}
	b, err := source.Marshal(cfg, format, o.log)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

func cmdList(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	l, err := importer.List(c.String("storage"))
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e, l)
	}
	if o.quiet {
		return nil // the exit code says whether current is there
	}
	fmt.Fprintf(e.stdout, "current: %s (last import %s)\n", l.Snapshot, l.LastImport.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OS\tARCH\tSUBARCH\tRELEASE\tLABEL\tVERSION\tSIZE")
	for _, im := range l.Images {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.OS, im.Arch, im.Subarch, im.Release, im.Label, im.VersionName, humanBytes(im.Size))
	}
	return tw.Flush()
}

func cmdVerify(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	res, err := importer.Verify(c.Context, c.String("storage"), c.Bool("repair"), o.log)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e, res)
	}
	if !o.quiet {
		printVerify(e, res)
	}
	return nil
}

func cmdCleanup(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	if c.Int("keep") < 0 {
		return usagef("--keep must not be negative")
	}
	res, err := importer.Cleanup(c.Context, c.String("storage"), c.Int("keep"), c.Bool("dry-run"), c.Bool("wait"), o.log)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e, res)
	}
	if !o.quiet {
		printCleanup(e, res, c.Bool("dry-run"))
	}
	return nil
}

func cmdVersion(c *cli.Context, e env) error {
	o, err := parseOutput(c, e)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(e, map[string]string{"version": version()})
	}
	_, err = fmt.Fprintf(e.stdout, "maas-import-boot-images %s\n", version())
	return err
}

func printVerify(e env, r *importer.VerifyResult) {
	fmt.Fprintf(e.stdout, "ok: %d cache files (%s) verified; %s links only verified files (%d)\n",
		r.CacheFiles, humanBytes(r.Bytes), r.Snapshot, r.TreeFiles)
}

func printCleanup(e env, r *importer.CleanupResult, dryRun bool) {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, s := range r.Snapshots {
		fmt.Fprintf(e.stdout, "%s %s\n", verb, s)
	}
	fmt.Fprintf(e.stdout, "%s %d snapshots and %d cache files (%s)\n", verb, len(r.Snapshots), len(r.CacheFiles), humanBytes(r.Bytes))
}

func writeJSON(e env, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(b, '\n'))
	return err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
