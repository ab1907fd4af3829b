package source

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
	"maas-import-boot-images/source/regiontest"
)

// checkUbuntuKeys fails unless kr holds exactly the built-in Ubuntu keys
// (which package keyring pins by fingerprint).
func checkUbuntuKeys(t *testing.T, kr *simplestreams.Keyring) {
	t.Helper()
	ubuntu, err := keyring.Ubuntu()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kr.Keys(), ubuntu.Keys(); !slices.Equal(got, want) {
		t.Fatalf("got keys %+v, want exactly the Ubuntu keys %+v", got, want)
	}
}

// missingUbuntuKeyring makes this test behave as on a machine without
// DefaultKeyring, whether or not this one has it.
func missingUbuntuKeyring(t *testing.T) {
	t.Cleanup(keyring.SetUbuntuFileForTest(filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")))
}

func logTo(b *strings.Builder) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// checkFallbackLogged fails unless logs hold the info line of the built-in
// keys, naming the missing file.
func checkFallbackLogged(t *testing.T, logs string) {
	t.Helper()
	if !strings.Contains(logs, "level=INFO") || !strings.Contains(logs, DefaultKeyring+" is not on this machine: using the built-in Ubuntu cloud image keys") {
		t.Errorf("no info line about the built-in keys: %q", logs)
	}
}

// TestBuiltinUbuntuKeys: a source whose keyring is DefaultKeyring, on a
// machine without that file, gets the built-in keys with an info line —
// from the default backend and from a sources file alike — while the file
// wins when it is there, and any other missing keyring is an error.
func TestBuiltinUbuntuKeys(t *testing.T) {
	missingUbuntuKeyring(t)
	def, err := NewDefault(nil, nil).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	file, err := NewFile(writeTestFile(t, "sources.yaml", "- url: http://mirror.example.com/maas/\n  keyring: "+DefaultKeyring+"\n  selections: [{release: noble}]\n"), nil).Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]simplestreams.BootSource{"default": def.Sources[0], "file": file.Sources[0]} {
		t.Run(name, func(t *testing.T) {
			if src.Keyring != DefaultKeyring {
				t.Fatalf("keyring %q: the source must keep naming %s", src.Keyring, DefaultKeyring)
			}
			var logs strings.Builder
			kr, from, err := keyring.Load(src, logTo(&logs))
			if err != nil {
				t.Fatal(err)
			}
			checkUbuntuKeys(t, kr)
			checkFallbackLogged(t, logs.String())
			if from != "the built-in Ubuntu cloud image keys: "+DefaultKeyring+" is not on this machine" {
				t.Errorf("from %q", from)
			}
		})
	}

	// The file, when this machine has it, is read instead.
	present := filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")
	if err := os.WriteFile(present, streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		t.Fatal(err)
	}
	restore := keyring.SetUbuntuFileForTest(present)
	var logs strings.Builder
	kr, from, err := keyring.Load(def.Sources[0], logTo(&logs))
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if keys := kr.Keys(); len(keys) != 1 || keys[0].KeyID != streamtest.Key().PrimaryKey.KeyIdString() || from != "from "+DefaultKeyring || logs.Len() != 0 {
		t.Errorf("with the file present: keys %+v, from %q, logs %q; want the file's one key, quietly", keys, from, logs.String())
	}

	// Any other missing keyring stays an error, even one of the same name.
	for _, other := range []string{filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg"), DefaultKeyring + ".bak"} {
		var logs strings.Builder
		_, _, err := keyring.Load(simplestreams.BootSource{URL: "http://mirror.example.com/maas/", Keyring: other}, logTo(&logs))
		if !errors.Is(err, keyring.ErrUnreadable) || !strings.Contains(err.Error(), other) || logs.Len() != 0 {
			t.Errorf("keyring %s missing: got %v (logs %q), want ErrUnreadable naming it", other, err, logs.String())
		}
	}
	// keyring_data still wins.
	kr, from, err = keyring.Load(simplestreams.BootSource{URL: "http://x/", Keyring: DefaultKeyring, KeyringData: streamtest.Keyring(streamtest.Key())}, nil)
	if err != nil || len(kr.Keys()) != 1 || from != "from keyring_data" {
		t.Errorf("keyring_data: %v, %q", err, from)
	}
}

// TestRegionStandardKeyring: a region source that names DefaultKeyring with
// an empty keyring_data (what MAAS answers for images.maas.io) resolves on
// a machine without that file, and uses the built-in keys; another missing
// keyring_filename is still refused.
func TestRegionStandardKeyring(t *testing.T) {
	missingUbuntuKeyring(t)
	const cluster = "6b2a1c4e-0000-4000-8000-000000000001"
	answer := func(keyring string) []regiontest.Source {
		return []regiontest.Source{{URL: "http://images.maas.io/ephemeral-v3/stable/", KeyringFilename: keyring, KeyringData: "",
			Selections: []map[string]any{{"os": "ubuntu", "release": "noble", "arches": []string{"amd64"}}}}}
	}
	r := regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true, Sources: answer(DefaultKeyring)})
	s, err := NewRegion(RegionOptions{URL: r.URL(), ClusterUUID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Resolve(context.Background())
	if err != nil {
		t.Fatalf("a region naming %s, missing here: %v", DefaultKeyring, err)
	}
	src := cfg.Sources[0]
	if src.Keyring != DefaultKeyring || src.KeyringData != nil {
		t.Fatalf("got %+v, want the keyring %s", src, DefaultKeyring)
	}
	var logs strings.Builder
	kr, _, err := keyring.Load(src, logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	checkUbuntuKeys(t, kr)
	checkFallbackLogged(t, logs.String())

	other := filepath.Join(t.TempDir(), "ubuntu-cloudimage-keyring.gpg")
	r = regiontest.New(t, regiontest.Options{Cluster: cluster, Embed: true, Sources: answer(other)})
	s, err = NewRegion(RegionOptions{URL: r.URL(), ClusterUUID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(context.Background()); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), other) {
		t.Errorf("a region naming %s, missing here: got %v, want ErrConfig", other, err)
	}
}

// TestMarshalSaysWhichKeys: the YAML of the sources command says above
// each source which keys it uses, and still reads back the same; the JSON
// stays a plain list that reads back too.
func TestMarshalSaysWhichKeys(t *testing.T) {
	missingUbuntuKeyring(t)
	dir := t.TempDir()
	testKeys := filepath.Join(dir, "test-keys.gpg")
	if err := os.WriteFile(testKeys, streamtest.Keyring(streamtest.Key()), 0o644); err != nil {
		t.Fatal(err)
	}
	notAKeyring := filepath.Join(dir, "empty.gpg")
	if err := os.WriteFile(notAKeyring, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.gpg")
	sel := []simplestreams.Selection{{OS: "ubuntu", Release: "noble"}}
	cfg := &Config{Origin: "a test", Sources: []simplestreams.BootSource{
		{URL: "http://images.maas.io/ephemeral-v3/stable/", Keyring: DefaultKeyring, Selections: sel},
		{URL: "http://mirror.example.com/a/", Keyring: testKeys, Selections: sel},
		{URL: "http://mirror.example.com/b/", KeyringData: streamtest.Keyring(streamtest.Key()), Selections: sel},
		{URL: "http://mirror.example.com/c/", Keyring: missing, Selections: sel},
		{URL: "http://mirror.example.com/d/", Keyring: notAKeyring, Selections: sel},
		{URL: "http://mirror.example.com/e/", Selections: sel},
		{URL: "http://mirror.example.com/f/streams/v1/index.json", Selections: sel},
	}}
	testKey := streamtest.Key().PrimaryKey.KeyIdString() + " " + streamtest.Key().PrimaryIdentity().Name
	want := []string{
		"# keys: 7FF3F408476CF100 Ubuntu Cloud Image Builder (Canonical Internal Cloud Image Builder) <ubuntu-cloudbuilder-noreply@canonical.com>, " +
			"1A5D6C4C7DB87C81 UEC Image Automatic Signing Key <cdimage@ubuntu.com> " +
			"(the built-in Ubuntu cloud image keys: " + DefaultKeyring + " is not on this machine)",
		"# keys: " + testKey + " (from " + testKeys + ")",
		"# keys: " + testKey + " (from keyring_data)",
		"# keys: none usable: keyring " + missing + " of source http://mirror.example.com/c/: no such file or directory",
		"# keys: none usable: verifying " + notAKeyring + ": the keyring has no keys",
		"# keys: none usable: source http://mirror.example.com/e/ is signed but has no keyring (give one with --keyring)",
		"# keys: none needed, the index streams/v1/index.json is not signed",
	}
	var logs strings.Builder
	out, err := Marshal(cfg, "yaml", logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	for i, w := range want {
		// Each comment is the line right above its source.
		j := slices.Index(lines, w)
		if j < 0 || j+1 >= len(lines) || lines[j+1] != "- url: "+cfg.Sources[i].URL {
			t.Errorf("source %d: no line %q right above it in:\n%s", i, w, out)
		}
	}
	checkFallbackLogged(t, logs.String())
	for _, format := range []string{"yaml", "json"} {
		out, err := Marshal(cfg, format, nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := NewFile(writeTestFile(t, "saved."+format, string(out)), nil).Resolve(context.Background())
		if err != nil {
			t.Fatalf("%s does not read back: %v\n%s", format, err, out)
		}
		if len(back.Sources) != len(cfg.Sources) || back.Sources[0].Keyring != DefaultKeyring || back.Sources[1].Keyring != testKeys {
			t.Errorf("%s read back as %+v", format, back.Sources)
		}
		if format == "json" && strings.Contains(string(out), "keys:") {
			t.Errorf("the JSON carries a comment: %s", out)
		}
	}
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
