package source

import (
	"log/slog"
	"strings"

	"maas-import-boot-images/keyring"
	"maas-import-boot-images/simplestreams"
)

// keysComment says which keys a source's signatures are checked with, for
// the comment above it in the sources command's YAML. Reading the keyring
// fails nothing here: the comment says what is wrong.
func keysComment(s simplestreams.BootSource, log *slog.Logger) string {
	if loc, err := simplestreams.Locate(s.URL); err == nil && !loc.Signed() {
		return "keys: none needed, the index " + loc.Index + " is not signed"
	}
	kr, from, err := keyring.Load(s, log)
	if err != nil {
		return "keys: none usable: " + err.Error()
	}
	var keys []string
	for _, k := range kr.Keys() {
		keys = append(keys, strings.TrimSpace(k.KeyID+" "+k.UserID))
	}
	return "keys: " + strings.Join(keys, ", ") + " (" + from + ")"
}
