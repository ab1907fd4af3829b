package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"maas-import-boot-images/internal/logs"
	"maas-import-boot-images/simplestreams"
)

// fileSource reads a MAAS 1.5 bootresources.yaml or a MAAS 1.6+ sources
// list (SPEC §2.1).
type fileSource struct {
	path string
	log  *slog.Logger
}

var _ Source = (*fileSource)(nil)

// NewFile returns the backend that reads the sources file at path. log
// (nil: discard) gets the warnings: a never-customised 1.5 file,
// keyring_data overriding keyring.
func NewFile(path string, log *slog.Logger) Source {
	log = logs.OrDiscard(log)
	return &fileSource{path: path, log: log}
}

// Resolve reads and checks the file; errors wrap ErrConfig, or
// ErrNoSources for a file that lists none.
func (f *fileSource) Resolve(ctx context.Context) (*Config, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, &Error{Msg: "reading sources file " + f.path, Kind: ErrConfig, Err: unwrapPathError(err)}
	}
	return parseFile(f.path, data, f.log)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// maxFile caps a sources file.
const maxFile = 16 << 20

// fileDecoder walks a YAML document strictly, naming the file and line in
// every error.
type fileDecoder struct {
	name string
	dir  string
}

func (d *fileDecoder) errf(n *yaml.Node, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if n != nil && n.Line > 0 {
		msg = fmt.Sprintf("%s: line %d: %s", d.name, n.Line, msg)
	} else {
		msg = d.name + ": " + msg
	}
	return &Error{Msg: msg, Kind: ErrConfig}
}

func parseFile(name string, data []byte, log *slog.Logger) (*Config, error) {
	log = logs.OrDiscard(log)
	d := &fileDecoder{name: name, dir: filepath.Dir(name)}
	if len(data) > maxFile {
		return nil, d.errf(nil, "larger than %d MiB", maxFile>>20)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, d.errf(nil, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, d.errf(nil, "the file is empty")
	}
	// One document: sources after a second "---" would be dropped silently.
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, d.errf(nil, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, d.errf(&next, "a second YAML document: a sources file holds one")
	}
	root := doc.Content[0]
	cfg := &Config{Origin: "file " + name}
	var err error
	switch root.Kind {
	case yaml.MappingNode:
		cfg.Sources, cfg.Storage, err = d.legacy(root, log)
	case yaml.SequenceNode:
		cfg.Sources, err = d.list(root, log)
	case yaml.ScalarNode:
		if root.Tag == "!!null" {
			return nil, d.errf(root, "the file is empty")
		}
		fallthrough
	default:
		return nil, d.errf(root, "want a MAAS 1.5 mapping with boot: or a MAAS 1.6+ list of sources")
	}
	if err != nil {
		return nil, err
	}
	if len(cfg.Sources) == 0 {
		return nil, &Error{Msg: name + " lists no boot sources", Kind: ErrNoSources}
	}
	return cfg, nil
}

// mapping checks that n is a mapping with only the allowed keys, each once.
func (d *fileDecoder) mapping(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "%s: want a mapping, got %s", what, kind(n))
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, d.errf(k, "%s: keys must be strings", what)
		}
		if _, dup := out[k.Value]; dup {
			return nil, d.errf(k, "%s: duplicate key %q", what, k.Value)
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		if !ok {
			return nil, d.errf(k, "%s: unknown key %q (allowed: %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		out[k.Value] = v
	}
	return out, nil
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "null"
	}
	return fmt.Sprintf("%q", n.Value)
}

func isNull(n *yaml.Node) bool { return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") }

// str reads a scalar; null is "".
func (d *fileDecoder) str(n *yaml.Node, key string) (string, error) {
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", d.errf(n, "%s: want a string, got %s", key, kind(n))
	}
	if strings.ContainsRune(n.Value, 0) {
		return "", d.errf(n, "%s: contains NUL", key)
	}
	return n.Value, nil
}

// strList reads a list of strings or one string; null is nil (any).
func (d *fileDecoder) strList(n *yaml.Node, key string) ([]string, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		s, err := d.str(n, key)
		return []string{s}, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, "%s: want a list of strings, got %s", key, kind(n))
	}
	out := []string{}
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || isNull(c) {
			return nil, d.errf(c, "%s: want a list of strings, got an item that is %s", key, kind(c))
		}
		s, err := d.str(c, key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// yaml11Bool reads a YAML 1.1 boolean, as MAAS's parser accepted them.
func (d *fileDecoder) yaml11Bool(n *yaml.Node, key string) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on", "y":
			return true, nil
		case "false", "no", "off", "n":
			return false, nil
		}
	}
	return false, d.errf(n, "%s: want true or false, got %s", key, kind(n))
}

// location makes a path or URL without a scheme relative to the file.
func (d *fileDecoder) location(v string) string {
	if v == "" || strings.Contains(v, "://") || filepath.IsAbs(v) {
		return v
	}
	abs, err := filepath.Abs(filepath.Join(d.dir, v))
	if err != nil {
		return filepath.Join(d.dir, v)
	}
	if strings.HasSuffix(v, "/") {
		abs += "/"
	}
	return abs
}

func (d *fileDecoder) legacy(root *yaml.Node, log *slog.Logger) ([]simplestreams.BootSource, string, error) {
	top, err := d.mapping(root, "top level", "boot")
	if err != nil {
		return nil, "", err
	}
	boot, ok := top["boot"]
	if !ok {
		return nil, "", d.errf(root, "a MAAS 1.5 file needs boot:")
	}
	m, err := d.mapping(boot, "boot", "storage", "configure_me", "sources")
	if err != nil {
		return nil, "", err
	}
	storage := DefaultStorage
	if n, ok := m["storage"]; ok && !isNull(n) {
		if storage, err = d.str(n, "storage"); err != nil {
			return nil, "", err
		}
		storage = d.location(storage)
	}
	if n, ok := m["configure_me"]; ok && !isNull(n) {
		b, err := d.yaml11Bool(n, "configure_me")
		if err != nil {
			return nil, "", err
		}
		if b {
			log.Warn("the sources file was never customised (configure_me is true); edit it and set configure_me: false", "file", d.name)
		}
	}
	srcs, ok := m["sources"]
	if !ok || isNull(srcs) {
		return nil, storage, nil
	}
	if srcs.Kind != yaml.SequenceNode {
		return nil, "", d.errf(srcs, "sources: want a list, got %s", kind(srcs))
	}
	var out []simplestreams.BootSource
	for _, n := range srcs.Content {
		s, err := d.source(n, "path", log, "path", "keyring", "selections")
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
	}
	return out, storage, nil
}

func (d *fileDecoder) list(root *yaml.Node, log *slog.Logger) ([]simplestreams.BootSource, error) {
	var out []simplestreams.BootSource
	for _, n := range root.Content {
		s, err := d.source(n, "url", log, "url", "keyring", "keyring_data", "selections")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (d *fileDecoder) source(n *yaml.Node, urlKey string, log *slog.Logger, allowed ...string) (simplestreams.BootSource, error) {
	m, err := d.mapping(n, "source", allowed...)
	if err != nil {
		return simplestreams.BootSource{}, err
	}
	var s simplestreams.BootSource
	u, err := d.str(m[urlKey], urlKey)
	if err != nil {
		return s, err
	}
	if u == "" {
		return s, d.errf(n, "source without %s", urlKey)
	}
	s.URL = d.location(u)
	k, err := d.str(m["keyring"], "keyring")
	if err != nil {
		return s, err
	}
	s.Keyring = d.location(k)
	if kd, ok := m["keyring_data"]; ok && !isNull(kd) {
		v, err := d.str(kd, "keyring_data")
		if err != nil {
			return s, err
		}
		if v == "" {
			return s, d.errf(kd, "keyring_data is empty: remove it, or give the keyring")
		}
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
		if err != nil {
			return s, d.errf(kd, "keyring_data is not valid base64: %v", err)
		}
		if s.Keyring != "" {
			log.Warn("keyring_data wins over keyring", "file", d.name, "url", s.URL, "ignored_keyring", s.Keyring)
			s.Keyring = ""
		}
		s.KeyringData = b
	}
	if sels, ok := m["selections"]; ok && !isNull(sels) {
		if sels.Kind != yaml.SequenceNode {
			return s, d.errf(sels, "selections: want a list, got %s", kind(sels))
		}
		for _, sn := range sels.Content {
			keys := []string{"os", "release", "arches", "subarches", "labels"}
			if urlKey == "path" {
				keys = keys[1:] // MAAS 1.5 selections have no os
			}
			sel, err := d.selection(sn, keys...)
			if err != nil {
				return s, err
			}
			s.Selections = append(s.Selections, sel)
		}
	}
	return s, nil
}

func (d *fileDecoder) selection(n *yaml.Node, allowed ...string) (simplestreams.Selection, error) {
	var sel simplestreams.Selection
	m, err := d.mapping(n, "selection", allowed...)
	if err != nil {
		return sel, err
	}
	if sel.OS, err = d.str(m["os"], "os"); err != nil {
		return sel, err
	}
	if sel.Release, err = d.str(m["release"], "release"); err != nil {
		return sel, err
	}
	if sel.Arches, err = d.strList(m["arches"], "arches"); err != nil {
		return sel, err
	}
	if sel.Subarches, err = d.strList(m["subarches"], "subarches"); err != nil {
		return sel, err
	}
	if sel.Labels, err = d.strList(m["labels"], "labels"); err != nil {
		return sel, err
	}
	return sel, nil
}
