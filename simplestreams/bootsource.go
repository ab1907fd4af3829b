package simplestreams

// BootSource is one simplestreams mirror and what to take from it: what a
// backend of package source resolves and what the importer and the mirror
// read.
type BootSource struct {
	URL         string // http(s)://, file:// or an absolute local path
	Keyring     string // path of a keyring file; "" when none
	KeyringData []byte // keyring bytes; wins over Keyring
	Selections  []Selection
}
