// Package fault is the one seam through which tests make a local write
// step fail: every package that writes to the storage names its steps with
// the typed constants below and calls Check before each, so that a test
// can only name a step that exists.
package fault

// Step is one kind of local write step.
type Step int

// The local write steps, in roughly the order an import takes them.
const (
	CreatePart     Step = iota + 1 // creating or reopening a download's .part file
	Write                          // writing a chunk of a file being created
	SyncFile                       // syncing a finished file before its rename
	Rename                         // renaming a finished file to its name
	SyncDir                        // syncing a directory after renames in it
	Mkdir                          // making a directory of a snapshot
	Link                           // linking a file (hard or symbolic) into a snapshot
	WriteMeta                      // creating maas.meta or a bootloader member list
	Put                            // creating a file the cache stores by its content (a bootloader member)
	RenameSnapshot                 // renaming a finished snapshot into place
	Symlink                        // creating the new current symlink
	Switch                         // renaming the new symlink over current
	Remove                         // removing an old snapshot
	PartState                      // writing the state file of a segmented download beside its .part
	WriteRecord                    // writing the record of how a run ended (.last-run.json)
)

var names = map[Step]string{
	CreatePart: "create-part", Write: "write", SyncFile: "sync-file", Rename: "rename",
	SyncDir: "sync-dir", Mkdir: "mkdir", Link: "link", WriteMeta: "write-meta", Put: "put",
	RenameSnapshot: "rename-snapshot", Symlink: "symlink", Switch: "switch", Remove: "remove",
	PartState: "part-state", WriteRecord: "write-record",
}

func (s Step) String() string {
	if n, ok := names[s]; ok {
		return n
	}
	return "unknown step"
}

// hook is nil outside tests.
var hook func(step Step, path string) error

// Check runs the test hook, if one is set, before step on path: a non-nil
// error is the failure the step must report as its own. Without a hook it
// returns nil at the cost of one comparison.
func Check(step Step, path string) error {
	if hook == nil {
		return nil
	}
	return hook(step, path)
}

// Set makes every later Check call f, until the returned function restores
// the previous hook. It is for tests only, and not safe to call while a
// write may run: set it before the run and restore it after. f itself is
// called from concurrent downloads and must be safe for concurrent use.
func Set(f func(step Step, path string) error) (restore func()) {
	prev := hook
	hook = f
	return func() { hook = prev }
}
