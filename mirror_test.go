package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/importer"
	"maas-import-boot-images/mirror"
	"maas-import-boot-images/simplestreams/streamtest"
)

// mirrorUpstream serves a signed MAAS-shaped stream and returns a sources
// file for it, verified with the test key, selecting everything.
func mirrorUpstream(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := streamtest.Write(dir, streamtest.MAAS(streamtest.Options{Releases: []string{"jammy", "noble"}, Versions: []string{"20250101", "20250709"},
		Arches: []string{"amd64", "arm64"}, Lowlatency: true, Signed: true, Bootloaders: true})); err != nil {
		t.Fatal(err)
	}
	srv := streamtest.NewServer(t, dir)
	return sourcesFile(t, "- url: "+srv.URL+"/\n  keyring_data: "+b64(streamtest.Keyring(streamtest.Key()))+"\n  selections: [{release: '*'}]\n")
}

// serveDir serves a mirror directory as nginx would, and returns a
// sources file pointing at url+suffix with the given keyring file.
func serveDir(t *testing.T, dir, suffix, keyring string) string {
	t.Helper()
	srv := streamtest.NewServer(t, dir)
	content := "- url: " + srv.URL + "/" + suffix + "\n  selections: [{release: '*'}]\n"
	if keyring != "" {
		content = "- url: " + srv.URL + "/" + suffix + "\n  keyring: " + keyring + "\n  selections: [{release: '*'}]\n"
	}
	return sourcesFile(t, content)
}

// treeOf describes the tree that current serves: every regular file by
// its sha256, every symlink by its target, and maas.meta itself.
func treeOf(t *testing.T, storage string) map[string]string {
	t.Helper()
	root := filepath.Join(storage, "current") + "/"
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "-> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportFromMirror: an import from a mirror served over HTTP gives
// the same tree as an import from upstream: verbatim with upstream's
// keyring, rewritten and signed with the mirror's key; an unsigned
// rewrite only with --insecure-skip-verify (or, as MAAS reads one, by
// naming its index.json).
func TestImportFromMirror(t *testing.T) {
	up := mirrorUpstream(t)
	want := filepath.Join(t.TempDir(), "want")
	cliOK(t, "import", "--quiet", "--config", up, "--storage", want)
	upKey := filepath.Join(t.TempDir(), "up.gpg")
	signKey := filepath.Join(t.TempDir(), "sign.asc")
	if os.WriteFile(upKey, streamtest.Keyring(streamtest.Key()), 0o644) != nil || os.WriteFile(signKey, streamtest.ArmoredPrivateKey(streamtest.OtherKey()), 0o600) != nil {
		t.Fatal("writing keys")
	}
	same := func(name string, args ...string) {
		t.Helper()
		storage := filepath.Join(t.TempDir(), "s")
		cliOK(t, append([]string{"import", "--quiet", "--storage", storage}, args...)...)
		if d := cmp.Diff(treeOf(t, want), treeOf(t, storage)); d != "" {
			t.Errorf("%s: the tree from the mirror differs from upstream's (-upstream +mirror):\n%s", name, d)
		}
	}
	fails := func(name string, code int, args ...string) {
		t.Helper()
		r := runCLI(t, context.Background(), nil, append([]string{"import", "--storage", filepath.Join(t.TempDir(), "s")}, args...)...)
		if r.code != code {
			t.Errorf("%s: exit %d, want %d\n%s", name, r.code, code, r.stderr)
		}
	}

	verbatim := filepath.Join(t.TempDir(), "verbatim")
	cliOK(t, "mirror", "--quiet", "--config", up, "--to", verbatim)
	same("verbatim", "--config", serveDir(t, verbatim, "", upKey))

	signed := filepath.Join(t.TempDir(), "signed")
	cliOK(t, "--to", signed, "mirror", "--quiet", "--config", up, "--rewrite", "--sign-key", signKey)
	same("signed", "--config", serveDir(t, signed, "", filepath.Join(signed, mirror.KeyringFile)))
	fails("signed, upstream's keyring", 6, "--config", serveDir(t, signed, "", upKey))

	unsigned := filepath.Join(t.TempDir(), "unsigned")
	cliOK(t, "mirror", "--quiet", "--config", up, "--rewrite", "--to", unsigned)
	src := serveDir(t, unsigned, "", upKey)
	fails("unsigned", 6, "--config", src)
	same("unsigned, --insecure-skip-verify", "--config", src, "--insecure-skip-verify")
	same("unsigned, index.json named", "--config", serveDir(t, unsigned, "streams/v1/index.json", ""))
}

// TestMirrorCLI: the JSON summary, a second run unchanged, the flags'
// usage errors, the lock.
func TestMirrorCLI(t *testing.T) {
	up := mirrorUpstream(t)
	dir := filepath.Join(t.TempDir(), "m")
	r := cliOK(t, "mirror", "--config", up, "--to", dir, "--output", "json", "--max-versions", "2")
	var res mirror.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", r.stdout)
	}
	if res.Status != "mirrored" || res.Storage != dir || res.Metadata != "verbatim" || res.Files.Downloaded == 0 || len(res.Images) != 23 || len(res.Products) != 15 || len(res.Products[len(res.Products)-1].Versions) != 2 {
		t.Errorf("got %+v", res) // 20 images and 3 bootloaders (no open-firmware: no ppc64el image) from 15 products
	}
	for _, key := range []string{`"duration_seconds":`, `"bytes":{"total":`, `"files":{"total":`, `"index":"streams/v1/index.sjson"`} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("JSON lacks %s: %s", key, r.stdout)
		}
	}
	r = cliOK(t, "mirror", "--config", up, "--to", dir, "--max-versions", "2")
	if !strings.HasPrefix(r.stdout, "unchanged: "+dir+" holds ") {
		t.Errorf("second run printed %q", r.stdout)
	}
	key := filepath.Join(t.TempDir(), "public.gpg")
	if err := os.WriteFile(key, streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"mirror", "--config", up}, 2},
		{[]string{"mirror", "--config", up, "--to", dir, "--sign-key", key}, 2},
		{[]string{"mirror", "--config", up, "--to", dir, "--rewrite", "--sign-key", key}, 2},
		{[]string{"mirror", "--config", up, "--to", dir, "--max-versions", "0"}, 2},
		{[]string{"mirror", "--config", up, "--to", dir, "--storage", dir}, 2},
		{[]string{"mirror", "--config", up, "--to", dir, "--release", "noble"}, 2},
	} {
		if r := runCLI(t, context.Background(), nil, tc.args...); r.code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
		}
	}
	unlock, err := importer.Lock(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if r := runCLI(t, context.Background(), nil, "mirror", "--config", up, "--to", dir, "-o", "json"); r.code != 7 || !strings.Contains(r.stdout, `"exit_code":7`) {
		t.Errorf("locked: exit %d, stdout %s", r.code, r.stdout)
	}
}

// TestRandomDelay: --random-delay sleeps less than its bound before the
// run, and says how long; a signal during the sleep exits 130 at once,
// before the lock, so nothing is written.
func TestRandomDelay(t *testing.T) {
	up := mirrorUpstream(t)
	for _, cmd := range []string{"import", "mirror"} {
		dir := filepath.Join(t.TempDir(), "d")
		where := "--storage"
		if cmd == "mirror" {
			where = "--to"
		}
		start := time.Now()
		r := cliOK(t, cmd, "--dry-run", "--random-delay", "400ms", "--log-format", "json", "--config", up, where, dir)
		took := time.Since(start)
		var slept float64 = -1
		for _, line := range strings.Split(r.stderr, "\n") {
			var l struct {
				Msg   string  `json:"msg"`
				Delay float64 `json:"delay_seconds"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && strings.Contains(l.Msg, "--random-delay") {
				slept = l.Delay
			}
		}
		if slept < 0 || slept >= 0.4 || took.Seconds() < slept {
			t.Errorf("%s: slept %.3fs (the run took %v), want a logged time in [0, 0.4)\n%s", cmd, slept, took, r.stderr)
		}
	}

	bin := binary(t)
	dir := filepath.Join(t.TempDir(), "m")
	c := exec.Command(bin, "mirror", "--random-delay", "1h", "--config", up, "--to", dir)
	stderr, _ := c.StderrPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log bytes.Buffer
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "--random-delay") {
			break
		}
	}
	start := time.Now()
	_ = c.Process.Signal(syscall.SIGINT)
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	_ = c.Wait()
	if code := c.ProcessState.ExitCode(); code != 130 || time.Since(start) > 5*time.Second {
		t.Errorf("SIGINT during the delay: exit %d after %v, want 130 at once\n%s", code, time.Since(start), log.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the interrupted run made %s: %v", dir, err)
	}
}

// TestMirrorRecorded: a mirror run records how it ended in
// DIR/.last-run.json, a dot-file the mirror never publishes nor removes,
// and in the metrics file: the images it mirrored, the bytes of the
// payload and of DIR/.cache; a failed run carries over the last success
// and what the published mirror still serves; a dry run writes neither.
func TestMirrorRecorded(t *testing.T) {
	up := mirrorUpstream(t)
	dir := filepath.Join(t.TempDir(), "m")
	file := filepath.Join(t.TempDir(), "m.prom")
	r := cliOK(t, "mirror", "--config", up, "--to", dir, "--metrics-file", file, "-o", "json")
	var res mirror.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", r.stdout)
	}
	run, err := importer.ReadLastRun(dir)
	if err != nil || run == nil || run.Command != "mirror" || run.Status != "mirrored" || run.ExitCode != 0 ||
		run.DownloadedBytes != res.Bytes.Downloaded || run.DownloadedBytes == 0 || !near(float64(run.LastSuccess.UnixNano())/1e9) {
		t.Fatalf("after a mirror: %+v (%v)", run, err)
	}
	p := readProm(t, file)
	var mirrored []string
	for _, im := range res.Images {
		mirrored = append(mirrored, strings.Join([]string{im.OS, im.Arch, im.Subarch, im.Release, im.Label}, "/")+" "+im.VersionName)
	}
	cacheBytes, err := cache.New(filepath.Join(dir, mirror.CacheDir)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, success, code float64) {
		t.Helper()
		if got := p.images(); !sameSet(got, mirrored) || len(got) != 23 {
			t.Errorf("%s: image_info %v, want %v", when, got, mirrored)
		}
		if v := p.value(t, "last_run_success", dir); v != success {
			t.Errorf("%s: last_run_success %v", when, v)
		}
		if v := p.value(t, "last_run_exit_code", dir); v != code {
			t.Errorf("%s: last_run_exit_code %v", when, v)
		}
		if c, b := p.value(t, "cache_bytes", dir), p.value(t, "current_bytes", dir); c != float64(cacheBytes) || b != float64(res.Bytes.Total) {
			t.Errorf("%s: cache_bytes %v, current_bytes %v; want %d, %d", when, c, b, cacheBytes, res.Bytes.Total)
		}
	}
	check("after a mirror", 1, 0)
	if v := p.value(t, "downloaded_bytes", dir); v != float64(res.Bytes.Downloaded) {
		t.Errorf("downloaded_bytes %v, want %d", v, res.Bytes.Downloaded)
	}
	success := p.value(t, "last_success_timestamp_seconds", dir)

	// Unchanged upstream: the record stays, and says so.
	cliOK(t, "mirror", "--config", up, "--to", dir, "--metrics-file", file)
	if run, err := importer.ReadLastRun(dir); err != nil || run == nil || run.Status != "unchanged" {
		t.Errorf("after an unchanged mirror: %+v (%v)", run, err)
	}

	// A failure: exit 3, recorded; the mirror as it was, in the metrics too.
	bad := missingSources(t, demoServer(t))
	if r := runCLI(t, context.Background(), nil, "mirror", "--config", bad, "--to", dir, "--metrics-file", file, "--retries", "0"); r.code != 3 {
		t.Fatalf("failing mirror: exit %d: %s", r.code, r.stderr)
	}
	run, err = importer.ReadLastRun(dir)
	if err != nil || run == nil || run.Status != "failed" || run.ExitCode != 3 || !strings.Contains(run.Error, "HTTP 404") ||
		run.LastSuccess.IsZero() || run.Time.Equal(run.LastSuccess) {
		t.Errorf("after a failed mirror: %+v (%v)", run, err)
	}
	p = readProm(t, file)
	check("after a failure", 0, 3)
	if v := p.value(t, "last_success_timestamp_seconds", dir); v < success {
		t.Errorf("last success %v, want the carried-over %v or later", v, success)
	}

	// A failure before the run resolves anything (a sources file that is
	// not there: exit 2) carries the published mirror over too.
	if r := runCLI(t, context.Background(), nil, "mirror", "--config", filepath.Join(t.TempDir(), "none.yaml"), "--to", dir, "--metrics-file", file); r.code != 2 {
		t.Fatalf("mirror without its sources file: exit %d: %s", r.code, r.stderr)
	}
	p = readProm(t, file)
	check("after an early failure", 0, 2)

	// A dry run writes nothing.
	before, _ := os.ReadFile(file)
	record, _ := os.ReadFile(filepath.Join(dir, importer.LastRunFile))
	cliOK(t, "mirror", "--dry-run", "--config", up, "--to", dir, "--metrics-file", file)
	after, _ := os.ReadFile(file)
	recordAfter, _ := os.ReadFile(filepath.Join(dir, importer.LastRunFile))
	if !bytes.Equal(before, after) || !bytes.Equal(record, recordAfter) {
		t.Error("a dry run rewrote the metrics file or the record")
	}
	// The mirror publishes the record nowhere: no metadata names it.
	err = filepath.WalkDir(filepath.Join(dir, "streams"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(importer.LastRunFile)) {
				t.Errorf("%s names %s", p, importer.LastRunFile)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
