package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runOut runs a command line in-process and returns its stdout.
func runOut(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	if code := run(context.Background(), append([]string{"maas-import-boot-images"}, args...), e); code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// helpFlagLine is an option line of --help: three spaces, then the flag's
// names, each maybe with its value ("--jobs N, -j N"), two spaces, usage.
var helpFlagLine = regexp.MustCompile(`^   (-.*?)(  |$)`)

// helpLists reads --help output: the commands it lists and the flags of
// its options section, each flag as its names joined by ",".
func helpLists(help string) (commands, flags []string) {
	section := ""
	for _, line := range strings.Split(help, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = line
			continue
		}
		switch {
		case section == "COMMANDS:" && strings.HasPrefix(line, "   "):
			commands = append(commands, strings.Fields(line)[0])
		case strings.HasSuffix(section, "OPTIONS:"):
			m := helpFlagLine.FindStringSubmatch(line)
			if m == nil {
				continue // a category heading
			}
			var names []string
			for _, n := range strings.Split(m[1], ", ") {
				names = append(names, strings.Fields(n)[0])
			}
			flags = append(flags, strings.Join(names, ","))
		}
	}
	slices.Sort(flags)
	return commands, flags
}

// manFlagLine is a flag paragraph of the man page, after roff's font
// escapes are removed: "--config, --config-file=...: usage".
var manFlagLine = regexp.MustCompile(`^(-[a-z-]*(, -[a-z-]*)*)(=""|:)`)

// manLists reads the man page's roff source: the sections in order, and
// the flags of each, as helpLists gives them.
func manLists(roff string) (sections []string, flags map[string][]string) {
	plain := strings.NewReplacer(`\fB`, "", `\fP`, "", `\fR`, "", `\fI`, "", `\-`, "-").Replace(roff)
	flags = map[string][]string{}
	section := ""
	for _, line := range strings.Split(plain, "\n") {
		if title, ok := strings.CutPrefix(line, ".SH "); ok {
			section = strings.Trim(title, `"`)
			sections = append(sections, section)
			continue
		}
		if m := manFlagLine.FindStringSubmatch(line); m != nil {
			flags[section] = append(flags[section], strings.ReplaceAll(m[1], ", ", ","))
		}
	}
	for _, f := range flags {
		slices.Sort(f)
	}
	return sections, flags
}

// TestManPageMatchesHelp: the man page lists every command that --help
// lists, in the same order, and for the app and each command exactly the
// flags its --help shows.
func TestManPageMatchesHelp(t *testing.T) {
	man := runOut(t, "docs", "man")
	if !strings.HasPrefix(man, ".nh\n.TH maas-import-boot-images 8") {
		t.Errorf("the man page does not start as a section 8 page:\n%.200s", man)
	}
	sections, manFlags := manLists(man)
	commands, globalFlags := helpLists(runOut(t, "--help"))
	if len(commands) < 6 || slices.Contains(commands, "docs") {
		t.Fatalf("--help lists commands %v: want the six commands, and docs hidden", commands)
	}
	if diff := cmp.Diff(globalFlags, manFlags["GLOBAL OPTIONS"]); diff != "" {
		t.Errorf("GLOBAL OPTIONS: --help vs man page (-help +man):\n%s", diff)
	}
	i := slices.Index(sections, "COMMANDS")
	j := slices.Index(sections, "EXIT STATUS")
	if i < 0 || j < i {
		t.Fatalf("man page sections %v: want COMMANDS, the commands, EXIT STATUS", sections)
	}
	if diff := cmp.Diff(commands, sections[i+1:j]); diff != "" {
		t.Errorf("commands: --help vs man page (-help +man):\n%s", diff)
	}
	for _, c := range commands {
		_, flags := helpLists(runOut(t, c, "--help"))
		if len(flags) == 0 {
			t.Errorf("%s --help shows no flags", c)
		}
		if diff := cmp.Diff(flags, manFlags[c]); diff != "" {
			t.Errorf("%s: --help vs man page (-help +man):\n%s", c, diff)
		}
	}
	for _, want := range []string{"EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"} {
		if !slices.Contains(sections, want) {
			t.Errorf("the man page has no %s section", want)
		}
	}
}

// TestEnvironmentDocumented: every environment variable that --help names
// (a flag's [$VAR], or the description's $VAR) has a commented example in
// the package's /etc/default file and an entry in the man page's
// ENVIRONMENT section.
func TestEnvironmentDocumented(t *testing.T) {
	help := runOut(t, "--help")
	for _, c := range []string{"import", "sources"} {
		help += runOut(t, c, "--help")
	}
	vars := regexp.MustCompile(`\$([A-Z][A-Z_]+)`).FindAllStringSubmatch(help, -1)
	if len(vars) < 4 {
		t.Fatalf("--help names %d environment variables; want MAAS_URL, CLUSTER_UUID and more", len(vars))
	}
	defaults, err := os.ReadFile("packaging/default")
	if err != nil {
		t.Fatal(err)
	}
	man := runOut(t, "docs", "man")
	env := man[strings.Index(man, ".SH ENVIRONMENT"):]
	env = env[:strings.Index(env[1:], ".SH ")+1]
	for _, v := range vars {
		if !regexp.MustCompile(`(?m)^#` + v[1] + `=`).Match(defaults) {
			t.Errorf("packaging/default has no #%s= example", v[1])
		}
		if !strings.Contains(env, `\fB`+v[1]+`\fP`) {
			t.Errorf("the man page's ENVIRONMENT lacks %s", v[1])
		}
	}
}

// TestManPageRenders formats the page with man(1), where it is installed,
// and checks that groff has nothing to say about it.
func TestManPageRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed (apt-get install man-db)")
	}
	page := filepath.Join(t.TempDir(), "maas-import-boot-images.8")
	if err := os.WriteFile(page, []byte(runOut(t, "docs", "man")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	if len(out) == 0 {
		t.Fatal("man rendered nothing")
	}
}

// TestBashCompletion drives the completion function of the script the
// binary writes, as bash calls it on TAB, against the built binary: without
// the bash-completion package, and with it where it is installed.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	bin := binary(t)
	script := filepath.Join(t.TempDir(), "completion.bash")
	if err := os.WriteFile(script, []byte(runOut(t, "docs", "bash-completion")), 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "sources.yaml"), "")
	if err := os.Mkdir(filepath.Join(work, "boot-resources"), 0o755); err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{"plain": ""}
	if lib := "/usr/share/bash-completion/bash_completion"; fileExists(lib) {
		modes["bash-completion"] = lib
	}
	for mode, lib := range modes {
		t.Run(mode, func(t *testing.T) {
			for _, tt := range completionCases() {
				got := complete(t, bash, lib, script, filepath.Dir(bin), work, tt.line)
				if tt.exact {
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("%q: (-want +got):\n%s", tt.line, diff)
					}
					continue
				}
				for _, w := range tt.want {
					if !slices.Contains(got, w) {
						t.Errorf("%q: %q not offered; got %q", tt.line, w, got)
					}
				}
				for _, w := range tt.never {
					if slices.Contains(got, w) {
						t.Errorf("%q: %q offered; got %q", tt.line, w, got)
					}
				}
			}
		})
	}
}

// TestCompletionAfterDoubleDash: once "--" is on the command line,
// urfave/cli runs the command instead of completing it. A TAB must never
// start an import or a cleanup: it is a usage error, and the storage
// stays untouched.
func TestCompletionAfterDoubleDash(t *testing.T) {
	storage := t.TempDir()
	for _, args := range [][]string{
		{"--storage", storage, "--", "--generate-bash-completion"},
		{"import", "--storage", storage, "--", "--generate-bash-completion"},
		{"cleanup", "--storage", storage, "--", "x", "--generate-bash-completion"},
	} {
		var stdout, stderr bytes.Buffer
		e := env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		code := run(context.Background(), append([]string{"maas-import-boot-images"}, args...), e)
		if code != exitUsage {
			t.Errorf("%q: exit %d, stderr %q; want exit %d", args, code, stderr.String(), exitUsage)
		}
	}
	if ents, err := os.ReadDir(storage); err != nil || len(ents) > 0 {
		t.Errorf("storage after the completions: %v, %v; want it empty", ents, err)
	}
}

type completionCase struct {
	line        string // the command line up to the cursor
	want, never []string
	exact       bool // want is all of it, sorted
}

func completionCases() []completionCase {
	commands := []string{"import", "sources", "list", "verify", "cleanup", "version"}
	hidden := []string{"docs", "help", "--generate-bash-completion"}
	return []completionCase{
		{line: "maas-import-boot-images ", want: commands, never: hidden},
		{line: "maas-import-boot-images ver", want: []string{"verify", "version"}, exact: true},
		{line: "maas-import-boot-images --quiet ", want: commands, never: hidden},
		{line: "maas-import-boot-images -o json ", want: commands},
		{line: "maas-import-boot-images --", want: []string{"--storage", "--region-url", "--config-file", "--dry-run", "--help", "--version"}, never: hidden},
		{line: "maas-import-boot-images --stor", want: []string{"--storage"}, exact: true},
		{line: "maas-import-boot-images verify --re", want: []string{"--repair"}, exact: true},
		{line: "maas-import-boot-images --quiet cleanup --dry", want: []string{"--dry-run"}, exact: true},
		{line: "maas-import-boot-images list -", want: []string{"--storage", "--output", "-o", "--quiet"}, never: []string{"--region-url", "--dry-run"}},
		{line: "maas-import-boot-images import ", exact: true},
		{line: "maas-import-boot-images --config ", want: []string{"boot-resources", "sources.yaml"}, exact: true},
		{line: "maas-import-boot-images import --storage bo", want: []string{"boot-resources"}, exact: true},
		{line: "maas-import-boot-images import --storage=bo", want: []string{"boot-resources"}, exact: true},
		{line: "maas-import-boot-images -- ", exact: true},
	}
}

// complete runs bash's side of one completion: COMP_WORDS, COMP_CWORD,
// COMP_LINE and COMP_POINT as bash sets them for line, then the function;
// it returns COMPREPLY.
func complete(t *testing.T, bash, lib, script, binDir, dir, line string) []string {
	t.Helper()
	prog := `
COMP_WORDBREAKS=$' \t\n"'"'"'><=;|&(:'
COMP_LINE=$1 COMP_POINT=${#1}
read -r -a COMP_WORDS <<<"$COMP_LINE"
COMP_CWORD=${#COMP_WORDS[@]}
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
`
	if strings.Contains(line, "=") {
		// bash splits "--storage=bo" at the "=", a word of its own.
		prog += `
words=()
for w in "${COMP_WORDS[@]}"; do
  if [[ $w == *=* ]]; then words+=("${w%%=*}" "=" "${w#*=}"); else words+=("$w"); fi
done
COMP_WORDS=("${words[@]}") COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
`
	}
	if lib != "" {
		prog = "source " + lib + "\n" + prog
	}
	prog += "source " + script + "\n_maas_import_boot_images\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog, "bash", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%q: bash: %v\n%s", line, err, stderr.String())
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) == 1 && got[0] == "" {
		return nil
	}
	slices.Sort(got) // file names come in directory order
	return got
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
