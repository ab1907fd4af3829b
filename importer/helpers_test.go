package importer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// mirror serves a streamtest tree that tests rewrite in place, through a
// fault hook when one is set.
type mirror struct {
	t    *testing.T
	dir  string
	srv  *streamtest.Server
	tree *streamtest.Tree
}

func newMirror(t *testing.T, spec streamtest.Spec) *mirror {
	t.Helper()
	m := &mirror{t: t, dir: t.TempDir()}
	m.write(spec)
	m.srv = streamtest.NewServer(t, m.dir)
	return m
}

// write (re)writes the stream.
func (m *mirror) write(spec streamtest.Spec) {
	m.t.Helper()
	tree, err := streamtest.Write(m.dir, spec)
	if err != nil {
		m.t.Fatal(err)
	}
	m.tree = tree
}

func (m *mirror) setFault(h streamtest.Hook) { m.srv.SetHook(h) }

// payloadRequests lists the paths of payload requests, with " range" when
// ranged.
func (m *mirror) payloadRequests() []string {
	var paths []string
	for _, r := range m.srv.Requests() {
		if !streamtest.IsPayload(r.Path) {
			continue
		}
		if r.Range != "" {
			r.Path += " range"
		}
		paths = append(paths, r.Path)
	}
	return paths
}

// served returns the payload bytes written to clients.
func (m *mirror) served() int64 {
	var n int64
	for _, r := range m.srv.Requests() {
		if streamtest.IsPayload(r.Path) {
			n += r.Bytes
		}
	}
	return n
}

func (m *mirror) resetRequests() {
	m.srv.Reset()
}

func (m *mirror) source(sels ...simplestreams.Selection) simplestreams.BootSource {
	if len(sels) == 0 {
		sels = []simplestreams.Selection{{}}
	}
	return simplestreams.BootSource{URL: m.srv.URL + "/", KeyringData: streamtest.Keyring(streamtest.Key()), Selections: sels}
}

func testOptions(storage string) Options {
	return Options{Storage: storage, Timeout: 2 * time.Second, Retries: 3}
}

func run(t *testing.T, srcs []simplestreams.BootSource, opts Options) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Run(ctx, given(srcs), opts)
}

// given resolves to srcs.
func given(srcs []simplestreams.BootSource) Resolve {
	return func(context.Context) ([]simplestreams.BootSource, error) { return srcs, nil }
}

func mustRun(t *testing.T, srcs []simplestreams.BootSource, opts Options) *Result {
	t.Helper()
	res, err := run(t, srcs, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

// treeState snapshots what a reader of the storage sees: current's target
// and the list of entries, to assert that a failed run changed nothing.
func treeState(t *testing.T, storage string) string {
	t.Helper()
	var b strings.Builder
	target, _ := os.Readlink(filepath.Join(storage, "current"))
	b.WriteString("current -> " + target + "\n")
	_ = filepath.WalkDir(storage, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(storage, p)
		if strings.HasPrefix(rel, "cache"+string(filepath.Separator)) {
			// A failed run may leave verified downloads and .part files
			// (with their segment states) for the next run to reuse;
			// nothing else.
			name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(rel), ".segs"), ".part"), ".members")
			if len(name) != 64 {
				b.WriteString("stray " + rel + "\n")
			}
			return nil
		}
		if rel == ".lock" {
			return nil
		}
		b.WriteString(rel + "\n")
		return nil
	})
	return b.String()
}
