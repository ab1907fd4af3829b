package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/urfave/cli/v2"
)

// The man page and the bash completion script are written by the binary
// itself, from the same command definitions that --help prints, so that
// neither can drift from it; packaging/build-deb runs the hidden docs
// command to put them in the package.

// withDocs turns on shell completion for app and adds the hidden docs
// command to it.
func withDocs(app *cli.App) *cli.App {
	app.EnableBashCompletion = true
	app.BashComplete = bashComplete(true)
	for _, c := range app.Commands {
		c.BashComplete = bashComplete(false)
	}
	// urfave/cli completes nothing once "--" is on the command line: it
	// runs the command. A TAB must never start an import or a cleanup.
	before := app.Before
	app.Before = func(c *cli.Context) error {
		if a := c.Args().Slice(); len(a) > 0 && a[len(a)-1] == "--generate-bash-completion" {
			return usagef("nothing to complete after \"--\"")
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
	app.Commands = append(app.Commands, docsCommand())
	return app
}

// docsCommand is "docs man" and "docs bash-completion", hidden from --help,
// the man page and completion: they are for packaging/build-deb.
func docsCommand() *cli.Command {
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	return &cli.Command{
		Name:         "docs",
		Hidden:       true,
		Usage:        "write the man page or the bash completion script (for packaging)",
		OnUsageError: onUsage,
		Subcommands: []*cli.Command{{
			Name:         "man",
			Usage:        "write the man page (roff, section 8) on stdout",
			OnUsageError: onUsage,
			Action: func(c *cli.Context) error {
				page, err := manPage(c.App)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.App.Writer, page)
				return err
			},
		}, {
			Name:         "bash-completion",
			Usage:        "write the bash completion script on stdout",
			OnUsageError: onUsage,
			Action: func(c *cli.Context) error {
				_, err := fmt.Fprint(c.App.Writer, bashScript(c.App))
				return err
			},
		}},
	}
}

// manPage renders app's commands and flags as urfave/cli documents them,
// followed by the sections a section 8 page owes its reader, as roff. app
// must be set up (app.Setup, which RunContext calls), so that its help and
// version flags are there as in --help.
func manPage(app *cli.App) (string, error) {
	md, err := app.ToMarkdown()
	if err != nil {
		return "", fmt.Errorf("writing the man page: %w", err)
	}
	title := fmt.Sprintf("%% %s 8\n\n", app.Name)
	return string(md2man.Render([]byte(title + md + manSections))), nil
}

// manSections are the man page's sections that are not about flags.
const manSections = `
# EXIT STATUS

**0**
: imported, or nothing changed

**1**
: unexpected internal error (please report it)

**2**
: usage or configuration error: bad flag, unreadable or invalid sources file, missing keyring

**3**
: a source or the region could not be reached, or answered garbage (incl. unsafe paths in a stream)

**4**
: the region refused this cluster: unknown cluster UUID, bad credentials

**5**
: nothing to import: no boot sources, or no image matches the selections; **rollback**: no kept snapshot to switch to

**6**
: verification failed: signature, checksum or size

**7**
: another run holds the lock on this storage or mirror directory (use **--wait** to queue)

**8**
: local storage problem: not enough space, permission, I/O error; **rollback**: the kept snapshot lost a file

**130**
: interrupted (SIGINT/SIGTERM); the tree is left as it was

# ENVIRONMENT

**MAAS_URL**, **CLUSTER_UUID**
: without a source flag, the region controller to ask and this cluster's UUID (as in /etc/maas/maas_cluster.conf); **CLUSTER_UUID** also fills in **--cluster-uuid**

**MAAS_API_KEY**
: the region's API key, as **--api-key**

**MAAS_BOOT_RESOURCES_STORAGE**
: the boot resources directory, as **--storage**

**MAAS_CONFIG_DIR**
: where bootresources.yaml is looked for without a source flag (default /etc/maas)

**MAAS_BOOT_IMAGES_METRICS_FILE**
: the Prometheus textfile-collector file that **import** and **mirror** rewrite after every run, as **--metrics-file**

**MAAS_BOOT_IMAGES_LIMIT_RATE**
: the cap on the download rate of all jobs together, as **--limit-rate**

# FILES

*/var/lib/maas/boot-resources*
: the default storage: **current** is the tree TFTP serves, **cache** the verified files

*/var/lib/maas/boot-resources/.last-run.json*
: how the last **import**, **rollback**, **cleanup** or **verify --repair** on the storage ended, as **status** shows it (a mirror directory has its own)

*/var/lib/prometheus/node-exporter/maas-boot-images.prom*
: the metrics file the systemd service writes, for node_exporter's textfile collector

*/etc/maas/bootresources.yaml*
: the MAAS 1.5 sources file, read without a source flag or **MAAS_URL**

*/etc/maas/maas_cluster.conf*, */etc/default/maas-import-boot-images*
: the environment of the systemd service maas-import-boot-images.service, which the timer maas-import-boot-images.timer starts every six hours

# SEE ALSO

**systemctl**(1), **systemd.timer**(5), **journalctl**(1)
`

// bashComplete answers --generate-bash-completion for the app (root) or
// one of its commands. Like urfave/cli's own completer it reads the command
// line from os.Args, which RunContext does not pass on to it.
func bashComplete(root bool) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		words := os.Args[1:]
		if n := len(words); n > 0 && words[n-1] == "--generate-bash-completion" {
			words = words[:n-1]
		}
		var commands []*cli.Command
		if root {
			commands = c.Command.Subcommands
		}
		for _, w := range completions(words, c.Command.Flags, commands) {
			fmt.Fprintln(c.App.Writer, w)
		}
	}
}

// completions lists the candidates for the last of words, the word being
// completed (the script always passes it, empty or not): every visible flag
// when it starts with "-", else the visible commands, if any. The shell
// filters them by what was typed.
func completions(words []string, flags []cli.Flag, commands []*cli.Command) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	var out []string
	if strings.HasPrefix(words[len(words)-1], "-") {
		for _, f := range flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			out = append(out, dashed(f.Names())...)
		}
		return out
	}
	for _, c := range commands {
		if !c.Hidden {
			out = append(out, c.Names()...)
		}
	}
	return out
}

// dashed writes flag names as typed: --name, or -n for a one-letter name.
func dashed(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return out
}

// valueFlags lists, as typed, every visible flag of app and its commands
// that takes a value: the word after one is a value, completed as a file
// name by the shell.
func valueFlags(app *cli.App) []string {
	all := slices.Clone(app.Flags)
	for _, c := range app.Commands {
		all = append(all, c.Flags...)
	}
	var out []string
	for _, f := range all {
		d, ok := f.(cli.DocGenerationFlag)
		v, _ := f.(cli.VisibleFlag)
		if ok && d.TakesValue() && v != nil && v.IsVisible() {
			out = append(out, dashed(f.Names())...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// bashScript is the bash completion script for app. It asks the binary for
// commands and flags (--generate-bash-completion), passing the word being
// completed even when it is empty ("-" for "--", which would end the
// flags). After a flag that takes a value, and in a --flag=value word, it
// completes file names instead. It never runs the binary once "--" has
// been typed, since urfave/cli then runs the command rather than
// completing it.
func bashScript(app *cli.App) string {
	fn := "_" + strings.ReplaceAll(app.Name, "-", "_")
	return fmt.Sprintf(`# bash completion for %[1]s
# Written by "%[1]s docs bash-completion" from the command definitions.

%[2]s() {
    local cur prev words cword w
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n =: cur prev words cword
    else
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    fi
    local IFS=$'\n' values=" %[3]s "
    COMPREPLY=()
    if [[ $cur == -*=* || $cur == = || $prev == = || $values == *" $prev "* ]]; then
        cur=${cur#-*=} cur=${cur#=}
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
    fi
    for w in "${words[@]:1:cword-1}"; do
        [[ $w == -- ]] && return
    done
    w=$cur
    [[ $w == -- ]] && w=-
    mapfile -t COMPREPLY < <(compgen -W "$("${words[0]}" "${words[@]:1:cword-1}" "$w" --generate-bash-completion 2>/dev/null)" -- "$cur")
}
complete -F %[2]s %[1]s
`, app.Name, fn, strings.Join(valueFlags(app), " "))
}
