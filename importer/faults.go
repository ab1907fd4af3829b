package importer

// injectFault, when a test sets it, makes the named local write step fail
// with the error it returns: the steps are create-part, write, sync-file,
// rename-cache, sync-dir, mkdir, link, write-meta, rename-snapshot,
// symlink, switch, extract and remove (cleanup). It is nil outside tests.
var injectFault func(op, path string) error

func fault(op, path string) error {
	if injectFault == nil {
		return nil
	}
	return injectFault(op, path)
}
