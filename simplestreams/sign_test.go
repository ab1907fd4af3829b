package simplestreams_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

var body = []byte("{\"format\": \"index:1.0\",\n \"index\": {}}\n")

func keyring(t *testing.T, data []byte) *ss.Keyring {
	t.Helper()
	kr, err := ss.ParseKeyring("keyring.gpg", data)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestVerify(t *testing.T) {
	key := streamtest.Key()
	signed := streamtest.ClearSign(body)
	tampered := bytes.Replace(signed, []byte("index:1.0"), []byte("index:1.1"), 1)
	keyID := strings.ToUpper(key.PrimaryKey.KeyIdString())
	tests := []struct {
		name    string
		keyring []byte
		data    []byte
		ok      bool
	}{
		{"binary keyring", streamtest.Keyring(key), signed, true},
		{"armored keyring", streamtest.ArmoredKeyring(key), signed, true},
		{"other key", streamtest.Keyring(streamtest.OtherKey()), signed, false},
		{"tampered byte", streamtest.Keyring(key), tampered, false},
		{"unsigned", streamtest.Keyring(key), body, false},
		{"signed by the other key", streamtest.Keyring(key), streamtest.ClearSignWith(streamtest.OtherKey(), body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ss.Verify("http://m/streams/v1/index.sjson", tt.data, keyring(t, tt.keyring))
			if tt.ok {
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("got %q, %v; want the body", got, err)
				}
				return
			}
			var se *ss.SignatureError
			if !errors.As(err, &se) || !errors.Is(err, ss.ErrSignature) {
				t.Fatalf("got %v, want a SignatureError", err)
			}
			if !strings.Contains(err.Error(), "http://m/streams/v1/index.sjson") {
				t.Errorf("error %q does not name the file", err)
			}
			if tt.name == "other key" && !strings.Contains(err.Error(), keyID) {
				t.Errorf("error %q does not name the key %s", err, keyID)
			}
		})
	}
}

func TestParseKeyringErrors(t *testing.T) {
	keybox := append([]byte{0, 0, 0, 32, 1, 1, 0, 0}, []byte("KBXf\x00\x00\x00\x00")...)
	for name, data := range map[string][]byte{
		"keybox": keybox, "empty": nil, "garbage": []byte("not a key"),
		"armored garbage": []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"),
	} {
		_, err := ss.ParseKeyring("/k/"+name, data)
		if !errors.Is(err, ss.ErrSignature) || !strings.Contains(err.Error(), "/k/"+name) {
			t.Errorf("%s: got %v, want a SignatureError naming the file", name, err)
		}
		if name == "keybox" && !strings.Contains(err.Error(), "gpg --export") {
			t.Errorf("keybox: error %q does not say how to export", err)
		}
	}
}

// TestVerifyExpiredRevoked signs with keys whose validity ended.
func TestVerifyExpiredRevoked(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return past }, KeyLifetimeSecs: 3600}
	expired, err := openpgp.NewEntity("expired", "", "e@example.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// signed while the key was valid, verified now that it is not
	signedThen := clearSignAt(t, expired, past.Add(time.Minute))
	if _, err := ss.Verify("f", signedThen, keyring(t, streamtest.Keyring(expired))); !errors.Is(err, ss.ErrSignature) {
		t.Errorf("expired key: got %v, want ErrSignature", err)
	}

	revoked, err := openpgp.NewEntity("revoked", "", "r@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	signed := streamtest.ClearSignWith(revoked, body)
	if err := revoked.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Verify("f", signed, keyring(t, streamtest.Keyring(revoked))); !errors.Is(err, ss.ErrSignature) {
		t.Errorf("revoked key: got %v, want ErrSignature", err)
	}
}

func clearSignAt(t *testing.T, e *openpgp.Entity, when time.Time) []byte {
	t.Helper()
	old := streamtest.SigningTime
	streamtest.SigningTime = when
	defer func() { streamtest.SigningTime = old }()
	return streamtest.ClearSignWith(e, body)
}

// TestGnuPGInterop: GnuPG's clear signatures verify here, and ours under gpgv.
func TestGnuPGInterop(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg is not installed (apt-get install gnupg); skipping the interoperability test")
	}
	home := t.TempDir()
	priv, err := os.ReadFile("streamtest/testdata/test-key.asc")
	if err != nil {
		t.Fatal(err)
	}
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	run(priv, "--import")
	signed := run(body, "--clearsign", "--digest-algo", "SHA256")
	got, err := ss.Verify("gpg.sjson", signed, keyring(t, streamtest.Keyring(streamtest.Key())))
	// GnuPG does not count the last line break as signed text.
	if err != nil || !bytes.Equal(got, bytes.TrimSuffix(body, []byte("\n"))) {
		t.Fatalf("verifying GnuPG's signature: got %q, %v", got, err)
	}
	// gpg's own export verifies too, and its keybox is refused clearly.
	exported := run(nil, "--export")
	if _, err := ss.Verify("gpg.sjson", signed, keyring(t, exported)); err != nil {
		t.Errorf("with gpg --export: %v", err)
	}
	if kbx, err := os.ReadFile(filepath.Join(home, "pubring.kbx")); err == nil {
		if _, err := ss.ParseKeyring("pubring.kbx", kbx); err == nil || !strings.Contains(err.Error(), "gpg --export") {
			t.Errorf("a real keybox: got %v, want the export hint", err)
		}
	}

	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		t.Skip("gpgv is not installed; skipping the other direction")
	}
	dir := t.TempDir()
	kr := filepath.Join(dir, "keyring.gpg")
	msg := filepath.Join(dir, "index.sjson")
	os.WriteFile(kr, streamtest.Keyring(streamtest.Key()), 0o644)
	os.WriteFile(msg, streamtest.ClearSign(body), 0o644)
	if out, err := exec.Command(gpgv, "--keyring", kr, msg).CombinedOutput(); err != nil {
		t.Fatalf("gpgv rejects our signature: %v\n%s", err, out)
	}
	os.WriteFile(msg, bytes.Replace(streamtest.ClearSign(body), []byte("index:1.0"), []byte("index:1.1"), 1), 0o644)
	if err := exec.Command(gpgv, "--keyring", kr, msg).Run(); err == nil {
		t.Fatal("gpgv accepts a tampered message: the check above proves nothing")
	}
}

func TestStripSignature(t *testing.T) {
	got, err := ss.StripSignature("x", streamtest.ClearSignWith(streamtest.OtherKey(), body))
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := ss.StripSignature("x", body); !errors.Is(err, ss.ErrInvalid) {
		t.Errorf("unsigned: got %v, want ErrInvalid", err)
	}
}
