package mirror

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"maas-import-boot-images/simplestreams"
)

// stateFile records, for the next run, what the published metadata may
// name (Current) and what the metadata published before it named and it
// does not (Grace). A run that publishes N removes the files of Grace that
// N does not name, and records {Current: N, Grace: Current - N}: a file
// leaves one run after the metadata stops naming it (SPEC §7), so that a
// cluster that read the previous index can finish. Before it creates
// anything, a run records {Current: Current + N}, so that a run killed
// half-way leaves no file that a later run does not know about, and none
// that a published file may name is removed early.
const stateFile = ".mirror-state.json"

// stateFormat marks the file's format.
const stateFormat = "maas-import-boot-images mirror state 1"

type state struct {
	Current paths
	Grace   paths
}

// stateJSON is the file's shape: sorted lists, so that the same state is
// the same bytes.
type stateJSON struct {
	Format  string   `json:"format"`
	Current []string `json:"current"`
	Grace   []string `json:"grace"`
}

// paths is a set of paths relative to the mirror.
type paths map[string]bool

func (s paths) sorted() []string { return slices.Sorted(maps.Keys(s)) }

func (s paths) subsetOf(t paths) bool {
	for p := range s {
		if !t[p] {
			return false
		}
	}
	return true
}

func (s paths) union(t paths) paths {
	out := maps.Clone(s)
	if out == nil {
		out = paths{}
	}
	maps.Copy(out, t)
	return out
}

func (s paths) minus(t paths) paths {
	out := paths{}
	for p := range s {
		if !t[p] {
			out[p] = true
		}
	}
	return out
}

// paths returns every path the plan publishes.
func (p *plan) paths() paths {
	out := paths{}
	for rel := range p.payload {
		out[rel] = true
	}
	for _, m := range p.meta {
		out[m.path] = true
	}
	return out
}

// readState reads the state file; a mirror without one has an empty
// state. A path in it that CheckPath refuses, or that is the mirror's own,
// makes the file invalid: it is never used to remove anything.
func (d dir) readState() (state, error) {
	b, err := os.ReadFile(d.path(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return state{Current: paths{}, Grace: paths{}}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("reading %s: %w", d.path(stateFile), err)
	}
	var sj stateJSON
	if err := json.Unmarshal(b, &sj); err != nil || sj.Format != stateFormat {
		return state{}, fmt.Errorf("%w: %s is not a mirror state file (%v): move it away to start afresh", simplestreams.ErrInvalid, d.path(stateFile), err)
	}
	st := state{Current: paths{}, Grace: paths{}}
	for _, list := range []struct {
		names []string
		into  paths
	}{{sj.Current, st.Current}, {sj.Grace, st.Grace}} {
		for _, rel := range list.names {
			if err := checkOwnPath(rel); err != nil {
				return state{}, fmt.Errorf("%s: %w", d.path(stateFile), err)
			}
			list.into[rel] = true
		}
	}
	return st, nil
}

// checkOwnPath accepts a path that the mirror may have published: a
// payload path, or metadata or the published keyring.
func checkOwnPath(rel string) error {
	if rel == KeyringFile {
		return nil
	}
	return checkMirrorPath(rel)
}

func encodeState(st state) []byte {
	b, _ := json.MarshalIndent(stateJSON{Format: stateFormat, Current: st.Current.sorted(), Grace: st.Grace.sorted()}, "", " ")
	return append(b, '\n')
}

// writeState writes the state file unless it says that already.
func (w *writer) writeState(st state) error {
	b := encodeState(st)
	if have, err := os.ReadFile(w.d.path(stateFile)); err == nil && string(have) == string(b) {
		return nil
	}
	if err := w.write(stateFile, b); err != nil {
		return err
	}
	return w.sync()
}
