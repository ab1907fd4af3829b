package simplestreams_test

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	ss "maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// TestVerifyReturnsOnlySignedText: text around the signed message is never
// part of what Verify returns, and dash-escaping round-trips.
func TestVerifyReturnsOnlySignedText(t *testing.T) {
	kr := keyring(t, streamtest.KeyringFile())
	dashed := []byte("{\"a\": 1}\n-----BEGIN PGP SIGNATURE-----\n- x\n")
	for name, tt := range map[string]struct{ data, want []byte }{
		"trailing text":  {append(streamtest.ClearSign(body), []byte(`{"format": "index:1.0", "index": {"evil": {}}}`)...), body},
		"leading text":   {append([]byte("evil\n"), streamtest.ClearSign(body)...), body},
		"dash-escaped":   {streamtest.ClearSign(dashed), dashed},
		"two messages":   {append(streamtest.ClearSign(body), streamtest.ClearSign([]byte("second\n"))...), body},
		"crlf body":      {streamtest.ClearSign([]byte("a\r\nb\r\n")), []byte("a\nb\n")},
		"no final break": {streamtest.ClearSign([]byte("x")), []byte("x")},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ss.Verify("f", tt.data, kr)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestVerifyRefusesSHA1: a message signature over SHA-1 is not accepted.
func TestVerifyRefusesSHA1(t *testing.T) {
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, streamtest.Key().PrivateKey, &packet.Config{DefaultHash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	signed := b.Bytes()
	if !bytes.Contains(signed, []byte("Hash: SHA1")) {
		// go-crypto will not sign with SHA-1; GnuPG still does.
		gpg, err := exec.LookPath("gpg")
		if err != nil {
			t.Skip("go-crypto does not sign with SHA-1 and gpg is not installed; skipping")
		}
		home := t.TempDir()
		gpgRun := func(stdin []byte, args ...string) []byte {
			cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
			cmd.Stdin = bytes.NewReader(stdin)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("gpg %v: %v", args, err)
			}
			return out
		}
		priv, err := os.ReadFile(filepath.Join("streamtest", "testdata", "test-key.asc"))
		if err != nil {
			t.Fatal(err)
		}
		gpgRun(priv, "--import")
		signed = gpgRun(body, "--clearsign", "--digest-algo", "SHA1")
		if !bytes.Contains(signed, []byte("Hash: SHA1")) {
			t.Skipf("gpg did not sign with SHA-1:\n%s", signed)
		}
	}
	if _, err := ss.Verify("f", signed, keyring(t, streamtest.KeyringFile())); !errors.Is(err, ss.ErrSignature) {
		t.Errorf("got %v, want ErrSignature", err)
	}
}

// TestSignatureErrorNamesKey: the key id of a signature by an unknown key
// is reported in upper-case hex, and errors.As finds the SignatureError.
func TestSignatureErrorNamesKey(t *testing.T) {
	_, err := ss.Verify("http://m/streams/v1/x.sjson", streamtest.ClearSignWith(streamtest.OtherKey(), body), keyring(t, streamtest.KeyringFile()))
	var se *ss.SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a SignatureError", err)
	}
	want := streamtest.OtherKey().PrimaryKey.KeyIdString()
	if se.File != "http://m/streams/v1/x.sjson" || se.KeyID != want || len(se.KeyID) != 16 || bytes.ContainsAny([]byte(se.KeyID), "abcdef") {
		t.Errorf("got file %q key %q, want key %s", se.File, se.KeyID, want)
	}
	if _, err := ss.Verify("f", streamtest.ClearSign(body), nil); !errors.Is(err, ss.ErrSignature) {
		t.Errorf("nil keyring: got %v, want ErrSignature", err)
	}
}
