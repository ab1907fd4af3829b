package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams/streamtest"
	"maas-import-boot-images/source"
	"maas-import-boot-images/source/regiontest"
)

const builtinLine = source.DefaultKeyring + " is not on this machine: using the built-in Ubuntu cloud image keys"

// missingUbuntuKeyring makes the test behave as on a machine without the
// standard Ubuntu keyring, whether or not this one has it.
func missingUbuntuKeyring(t *testing.T) {
	t.Cleanup(keyring.SetUbuntuFileForTest(filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")))
}

// TestBuiltinUbuntuKeysCLI: a sources file or a region answer that names
// the standard Ubuntu keyring, missing here, gets the built-in Ubuntu keys:
// the demo stream (signed by the test key) is refused with exit 6, not
// exit 2, and stderr says which keys were used. --keyring still replaces
// them; any other missing keyring stays exit 2.
func TestBuiltinUbuntuKeysCLI(t *testing.T) {
	missingUbuntuKeyring(t)
	srv := demoServer(t)
	empty := t.TempDir()
	const cluster = "6b2a1c4e-0000-4000-8000-000000000001"
	standard := sourcesFile(t, fmt.Sprintf("- url: %s/\n  keyring: %s\n  selections: [{release: noble}]\n", srv.URL, source.DefaultKeyring))
	otherMissing := filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")
	region := regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true, Sources: []regiontest.Source{{
		URL: srv.URL + "/", KeyringFilename: source.DefaultKeyring, KeyringData: "",
		Selections: []map[string]any{{"os": "ubuntu", "release": "noble", "arches": []string{"amd64"}}}}}})
	testKeyID := streamtest.Key().PrimaryKey.KeyIdString()

	tests := []struct {
		name    string
		args    []string
		code    int
		msg     string // in the error line
		builtin bool   // the info line is logged
	}{
		{"sources file", []string{"--config", standard}, 6, "(signed by key " + testKeyID + "): the signing key is not in the keyring the built-in Ubuntu cloud image keys", true},
		{"region", []string{"--region-url", region.URL(), "--cluster-uuid", cluster}, 6, "(signed by key " + testKeyID + ")", true},
		{"--keyring replaces them", []string{"--config", standard, "--keyring", keyringFile(t)}, 0, "", false},
		{"another missing keyring", []string{"--config", sourcesFile(t, fmt.Sprintf("- url: %s/\n  keyring: %s\n  selections: [{release: noble}]\n", srv.URL, otherMissing))}, 2, otherMissing + " of source " + srv.URL + "/: no such file or directory", false},
		{"--keyring missing", []string{"--config", standard, "--keyring", otherMissing}, 2, otherMissing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), map[string]string{"MAAS_CONFIG_DIR": empty}, append(tt.args, "import", "--storage", t.TempDir())...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			if tt.msg != "" && !strings.Contains(r.stderr, "\nerror: ") && !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr %q: no error line", r.stderr)
			}
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q: want %q", r.stderr, tt.msg)
			}
			if got := strings.Contains(r.stderr, builtinLine); got != tt.builtin {
				t.Errorf("info line about the built-in keys: %v, want %v\nstderr: %s", got, tt.builtin, r.stderr)
			}
		})
	}
}

// TestSourcesSaysWhichKeys: sources prints, above each source, which keys
// it uses, and its YAML and JSON still read back with the file backend.
func TestSourcesSaysWhichKeys(t *testing.T) {
	missingUbuntuKeyring(t)
	srv := demoServer(t)
	missing := filepath.Join(t.TempDir(), "missing.gpg")
	file := sourcesFile(t, fmt.Sprintf(`- url: http://images.maas.io/ephemeral-v3/stable/
  keyring: %s
  selections: [{os: ubuntu, release: noble, arches: [amd64]}]
- url: %s/
  keyring: %s
  selections: [{release: noble}]
- url: http://mirror.example.com/maas/
  keyring: %s
  selections: [{release: noble}]
- url: http://mirror.example.com/streams/v1/index.json
  selections: [{release: noble}]
`, source.DefaultKeyring, srv.URL, keyringFile(t), missing))
	r := cliOK(t, "sources", "--config", file)
	for _, want := range []string{
		"\n# keys: 7FF3F408476CF100 Ubuntu Cloud Image Builder (Canonical Internal Cloud Image Builder) <ubuntu-cloudbuilder-noreply@canonical.com>, " +
			"1A5D6C4C7DB87C81 UEC Image Automatic Signing Key <cdimage@ubuntu.com> (the built-in Ubuntu cloud image keys: " + source.DefaultKeyring +
			" is not on this machine)\n- url: http://images.maas.io/ephemeral-v3/stable/\n  keyring: " + source.DefaultKeyring + "\n",
		"\n# keys: " + streamtest.Key().PrimaryKey.KeyIdString() + " " + streamtest.Key().PrimaryIdentity().Name + " (from " + keyringFile(t) + ")\n- url: " + srv.URL + "/\n",
		"\n# keys: none usable: keyring " + missing + " of source http://mirror.example.com/maas/: no such file or directory\n- url: http://mirror.example.com/maas/\n",
		"\n# keys: none needed, the index streams/v1/index.json is not signed\n- url: http://mirror.example.com/streams/v1/index.json\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sources YAML lacks\n%s\nin\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, builtinLine) {
		t.Errorf("no info line about the built-in keys: %s", r.stderr)
	}
	back := cliOK(t, "sources", "--config", sourcesFile(t, r.stdout))
	trim := func(s string) string { return s[strings.Index(s, "\n")+1:] }
	if trim(back.stdout) != trim(r.stdout) {
		t.Errorf("round trip differs:\n%s\n---\n%s", r.stdout, back.stdout)
	}

	r = cliOK(t, "sources", "--config", file, "-o", "json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 4 || list[0]["keyring"] != source.DefaultKeyring {
		t.Fatalf("sources -o json: %v %s", err, r.stdout)
	}
	if !strings.Contains(r.stderr, builtinLine) {
		t.Errorf("-o json: no info line about the built-in keys: %s", r.stderr)
	}
	saved := filepath.Join(t.TempDir(), "sources.json")
	if err := os.WriteFile(saved, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if back := cliOK(t, "sources", "--config", saved); trim(back.stdout) != trim(cliOK(t, "sources", "--config", file).stdout) {
		t.Errorf("the JSON does not read back the same:\n%s", back.stdout)
	}
}
