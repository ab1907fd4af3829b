package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maas-import-boot-images/fetch"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// output is the parsed output flags of a command.
type output struct {
	json     bool
	quiet    bool
	progress bool
	log      *slog.Logger
}

// parseOutput reads the output flags, and notes in r.failed how a failure
// of this run is to be reported.
func (r *cmdline) parseOutput(c *cli.Context) (*output, error) {
	o := &output{quiet: c.Bool("quiet")}
	r.failed.quiet = o.quiet
	r.failed.parsed = true
	switch c.String("output") {
	case "text":
	case "json":
		o.json = true
		r.failed.json = true
	default:
		return nil, usagef("--output must be text or json, not %q", c.String("output"))
	}
	switch p := c.String("progress"); p {
	case "auto":
		o.progress = r.isTTY && !o.quiet && !o.json
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
		o.log = slog.New(slog.NewTextHandler(r.stderr, hopts))
	case "json":
		o.log = slog.New(slog.NewJSONHandler(r.stderr, hopts))
	default:
		return nil, usagef("--log-format must be text or json, not %q", f)
	}
	r.log = o.log
	return o, nil
}

// action makes a command's action: it reads the output flags first, since
// every command takes them and a failure is reported by them.
func (r *cmdline) action(cmd func(*cli.Context, *output) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		o, err := r.parseOutput(c)
		if err != nil {
			return err
		}
		return cmd(c, o)
	}
}

// bars starts progress bars on stderr when o asks for them, handing them
// to set, and returns what waits for them to finish drawing.
func (r *cmdline) bars(o *output, set func(fetch.Progress)) (wait func()) {
	if !o.progress {
		return func() {}
	}
	b := newProgressBars(r.stderr)
	set(b)
	return b.Wait
}

// result prints a run's result: the JSON object with --output json,
// nothing with --quiet, else the text that text prints.
func (r *cmdline) result(o *output, res any, text func()) error {
	switch {
	case o.json:
		return r.writeJSON(res)
	case !o.quiet:
		text()
	}
	return nil
}

// report prints a failed run: one error line and maybe a hint on stderr, and
// with --output json the failure object on stdout.
func (r *cmdline) report(err error, code int) {
	msg := failureLine(err, code)
	fmt.Fprintf(r.stderr, "error: %s\n", msg)
	if h := hint(err, code); h != "" {
		fmt.Fprintf(r.stderr, "hint: %s\n", h)
	}
	if r.failed.json {
		_ = r.writeJSON(map[string]any{"status": "failed", "error": msg, "exit_code": code})
	}
}

// failureLine is the one line that tells a failure.
func failureLine(err error, code int) string {
	if code == exitInterrupted {
		return "interrupted; the boot tree is as it was"
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (r *cmdline) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = r.stdout.Write(append(b, '\n'))
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
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
