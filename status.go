package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/internal/logs"
)

// Answers of status --check.
const (
	checkUpToDate = "up-to-date"
	checkUpdates  = "updates"
)

// statusReport is what status tells, as JSON with --output json.
type statusReport struct {
	Storage string `json:"storage"`
	// Current is what current serves; null before a first import.
	Current *currentStatus `json:"current"`
	// Kept are the other snapshots, newest first: what rollback can
	// switch to.
	Kept []string `json:"kept"`
	// LastRun is how the last run that changes the storage ended; null
	// when none was recorded.
	LastRun *importer.LastRun `json:"last_run"`
	// Check is what an import would change (status --check only).
	Check *checkReport `json:"check,omitempty"`
}

type currentStatus struct {
	Snapshot   string               `json:"snapshot"`
	LastImport time.Time            `json:"last_import"` // the mtime of maas.meta: the last import that published or confirmed it
	Images     []importer.ListImage `json:"images"`
	Bytes      int64                `json:"bytes"` // each file once
	// Problem says why current cannot be read (a damaged tree: verify
	// tells more, the next import rebuilds it); "" when it can.
	Problem string `json:"problem,omitempty"`
}

type checkReport struct {
	Status string          `json:"status"` // up-to-date or updates
	Images []imageChange   `json:"images"` // what would change; empty when up to date
	Files  importer.Counts `json:"files"`  // as import --dry-run counts them
	Bytes  importer.Counts `json:"bytes"`
}

// imageChange is an image that an import would add, update or remove.
type imageChange struct {
	Change string `json:"change"` // new, updated or removed
	importer.ImageInfo
	// CurrentVersion is the version current serves, for an update.
	CurrentVersion string `json:"current_version,omitempty"`
}

func (r *cmdline) statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "what current serves, how the last run ended, and with --check whether an import would change anything",
		Flags: concat([]cli.Flag{storageFlag(),
			&cli.BoolFlag{Name: "check", Category: catImport, Usage: "also resolve the sources and plan as import --dry-run: up-to-date or updates"},
			&cli.BoolFlag{Name: "no-bootloaders", Category: catImport, Usage: "with --check: plan as import --no-bootloaders"},
		}, backendFlags(), networkFlags(), outputFlags()),
		Action: r.action(r.cmdStatus),
	}
}

// cmdStatus tells what current serves and how the last run ended, from
// the storage alone; with --check it also resolves and plans as import
// --dry-run. It exits 0 whenever it can report, also before a first
// import.
func (r *cmdline) cmdStatus(c *cli.Context, o *output) error {
	if c.Args().Present() {
		return usagef("unexpected argument %q", c.Args().First())
	}
	storage := c.String("storage")
	var resolve importer.Resolve
	if c.Bool("check") || c.IsSet("config") {
		// As import does: a MAAS 1.5 file may name the storage.
		b, err := r.chooseSource(c, o)
		if err != nil {
			return err
		}
		if !c.IsSet("storage") && b.Storage != "" {
			storage = b.Storage
		}
		resolve = sourcesOf(resolveFrom(c, b))
	} else if !c.IsSet("storage") {
		// The storage import would use: a MAAS 1.5 bootresources.yaml
		// it reads may name one. Choosing reads local files only; a
		// backend that cannot be chosen leaves the default.
		quiet := *o
		quiet.log = logs.OrDiscard(nil)
		if b, err := r.chooseSource(c, &quiet); err == nil && b.Storage != "" {
			storage = b.Storage
		}
	}
	rep, err := readStatus(storage, o)
	if err != nil {
		return err
	}
	if c.Bool("check") {
		plan, err := importer.Run(c.Context, resolve, importer.Options{Storage: storage, DryRun: true,
			Timeout: c.Duration("timeout"), Retries: c.Int("retries"), InsecureSkipVerify: c.Bool("insecure-skip-verify"),
			NoBootloaders: c.Bool("no-bootloaders"), UserAgent: userAgent(), Log: o.log})
		if err != nil {
			return err
		}
		rep.Check = compare(rep.Current, plan)
	}
	if o.json {
		return r.writeJSON(rep)
	}
	if !o.quiet {
		printStatus(r.stdout, rep)
	}
	return nil
}

// readStatus reads what status tells from the storage: nothing from the
// network.
func readStatus(storage string, o *output) (*statusReport, error) {
	rep := &statusReport{Storage: storage, Kept: []string{}}
	l, err := importer.List(storage)
	switch {
	case errors.Is(err, importer.ErrNoCurrent):
	case err != nil:
		// current is there but cannot be read: still a report, the one
		// an operator runs status for.
		cur, _, serr := importer.Snapshots(storage)
		if serr != nil {
			return nil, err
		}
		o.log.Warn("current cannot be read", "err", err)
		rep.Current = &currentStatus{Snapshot: cur, Images: []importer.ListImage{}, Problem: oneLine(err.Error())}
	default:
		u, err := importer.DiskUsage(storage)
		if err != nil {
			return nil, err
		}
		rep.Current = &currentStatus{Snapshot: l.Snapshot, LastImport: l.LastImport, Images: l.Images, Bytes: u.Current}
	}
	_, kept, err := importer.Snapshots(storage)
	if err != nil {
		return nil, err
	}
	rep.Kept = append(rep.Kept, kept...)
	if rep.LastRun, err = importer.ReadLastRun(storage); err != nil {
		// A record that cannot be read is not worth failing the report.
		o.log.Warn("the record of the last run is unreadable", "err", err)
	}
	return rep, nil
}

// compare says what the import that plan stands for would change in
// current.
func compare(cur *currentStatus, plan *importer.Result) *checkReport {
	ch := &checkReport{Status: checkUpToDate, Images: []imageChange{}, Files: plan.Files, Bytes: plan.Bytes}
	if !plan.UpToDate {
		ch.Status = checkUpdates
	}
	key := func(im importer.ImageInfo) string {
		return strings.Join([]string{im.OS, im.Arch, im.Subarch, im.Release, im.Label}, "/")
	}
	served := map[string]importer.ImageInfo{}
	if cur != nil {
		for _, im := range cur.Images {
			served[key(im.ImageInfo)] = im.ImageInfo
		}
	}
	for _, im := range plan.Images {
		old, ok := served[key(im)]
		delete(served, key(im))
		switch {
		case !ok:
			ch.Images = append(ch.Images, imageChange{Change: "new", ImageInfo: im})
		case old.VersionName != im.VersionName || old.ProductName != im.ProductName:
			ch.Images = append(ch.Images, imageChange{Change: "updated", ImageInfo: im, CurrentVersion: old.VersionName})
		}
	}
	if cur != nil {
		for _, im := range cur.Images {
			if _, gone := served[key(im.ImageInfo)]; gone {
				ch.Images = append(ch.Images, imageChange{Change: "removed", ImageInfo: im.ImageInfo})
			}
		}
	}
	return ch
}

func printStatus(w io.Writer, rep *statusReport) {
	field(w, "storage", "%s\n", rep.Storage)
	if cur := rep.Current; cur != nil && cur.Problem != "" {
		field(w, "current", "%s: cannot be read: %s (run verify; the next import rebuilds it)\n", cur.Snapshot, cur.Problem)
	} else if cur != nil {
		n := make([]importer.ImageInfo, 0, len(cur.Images))
		for _, im := range cur.Images {
			n = append(n, im.ImageInfo)
		}
		field(w, "current", "%s: %s, %s\n", cur.Snapshot, countImages(n), humanBytes(cur.Bytes))
		field(w, "last import", "%s (%s ago)\n", cur.LastImport.UTC().Format(time.RFC3339), ago(cur.LastImport))
	} else {
		field(w, "current", "none: no import has completed here yet\n")
	}
	if len(rep.Kept) > 0 {
		field(w, "kept", "%s (rollback switches to the newest older than current)\n", strings.Join(rep.Kept, ", "))
	} else {
		field(w, "kept", "none (import --keep N keeps N old snapshots to roll back to)\n")
	}
	printLastRun(w, rep.LastRun)
	if ch := rep.Check; ch != nil {
		printCheck(w, ch)
	}
}

func printLastRun(w io.Writer, lr *importer.LastRun) {
	if lr == nil {
		field(w, "last run", "none recorded\n")
		return
	}
	field(w, "last run", "%s %s, %s (exit %d) after %.1fs", lr.Time.UTC().Format(time.RFC3339), lr.Command, lr.Status,
		lr.ExitCode, lr.Duration.Seconds())
	if lr.Error != "" {
		fmt.Fprintf(w, ": %s", lr.Error)
	}
	fmt.Fprintln(w)
	if lr.ExitCode != 0 {
		if lr.LastSuccess.IsZero() {
			field(w, "last success", "none recorded\n")
		} else {
			field(w, "last success", "%s (%s ago)\n", lr.LastSuccess.UTC().Format(time.RFC3339), ago(lr.LastSuccess))
		}
	}
}

func printCheck(w io.Writer, ch *checkReport) {
	if ch.Status == checkUpToDate {
		field(w, "check", "up-to-date: an import would change nothing\n")
		return
	}
	field(w, "check", "updates: an import would download %d of %d files (%s of %s)\n",
		ch.Files.Downloaded, ch.Files.Total, humanBytes(ch.Bytes.Downloaded), humanBytes(ch.Bytes.Total))
	if len(ch.Images) == 0 {
		fmt.Fprintf(w, "  current is incomplete and would be rebuilt\n")
	}
	for _, c := range ch.Images {
		name := strings.Join([]string{c.OS, c.Arch, c.Subarch, c.Release, c.Label}, "/")
		switch c.Change {
		case "updated":
			fmt.Fprintf(w, "  %-8s %s  %s -> %s\n", c.Change, name, c.CurrentVersion, c.VersionName)
		default:
			fmt.Fprintf(w, "  %-8s %s  %s\n", c.Change, name, c.VersionName)
		}
	}
}

// field prints one field of status: its label in a column, then its value.
func field(w io.Writer, label, format string, a ...any) {
	fmt.Fprintf(w, "%-13s "+format, append([]any{label + ":"}, a...)...)
}

// ago is how long ago t was, to the second.
func ago(t time.Time) string {
	return time.Since(t).Truncate(time.Second).String()
}
