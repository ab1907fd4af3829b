// Command gen writes the generated fixtures of the repository: the test
// OpenPGP keys (only when missing: keys are random), their public keyrings
// (binary keyring.gpg and armored keyring.asc, derived from the keys, so
// deterministic) and the demo stream under testdata/demo (deterministic). Run it from anywhere in the
// repository: go generate ./simplestreams/streamtest
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	keyDir := filepath.Join(root, "simplestreams", "streamtest", "testdata")
	for _, k := range []struct{ file, name string }{
		{"test-key.asc", "maas-import-boot-images test key"},
		{"other-key.asc", "maas-import-boot-images other key"},
	} {
		if err := writeKey(filepath.Join(keyDir, k.file), k.name); err != nil {
			return err
		}
	}
	for _, k := range []struct{ key, prefix string }{{"test-key.asc", "keyring"}, {"other-key.asc", "other-keyring"}} {
		if err := writePublic(filepath.Join(keyDir, k.key), filepath.Join(keyDir, k.prefix)); err != nil {
			return err
		}
	}
	return writeDemo(filepath.Join(root, "testdata", "demo"))
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// writeKey makes a new RSA-2048 signing key unless the file exists.
func writeKey(file, name string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, Time: func() time.Time { return created }}
	e, err := openpgp.NewEntity(name, "throwaway, for tests only", "test@example.invalid", cfg)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		return err
	}
	if err := e.SerializePrivate(w, cfg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, b.Bytes(), 0o644)
}

// writePublic writes the public part of the key in file as prefix.gpg (what
// gpg --export writes) and prefix.asc (gpg --export --armor).
func writePublic(file, prefix string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(el) != 1 {
		return fmt.Errorf("%s: %d keys, want 1", file, len(el))
	}
	var bin, asc bytes.Buffer
	if err := el[0].Serialize(&bin); err != nil {
		return err
	}
	w, err := armor.Encode(&asc, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if _, err := w.Write(bin.Bytes()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	asc.WriteString("\n")
	if err := os.WriteFile(prefix+".gpg", bin.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(prefix+".asc", asc.Bytes(), 0o644)
}
