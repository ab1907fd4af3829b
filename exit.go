package main

import (
	"context"
	"errors"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/keyring"
	"maas-import-boot-images/mirror"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/source"
)

// Exit codes of SPEC §6.
const (
	exitOK          = 0
	exitInternal    = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitRefused     = 4
	exitNothing     = 5
	exitVerify      = 6
	exitLocked      = 7
	exitStorage     = 8
	exitInterrupted = 130
)

// exitCode maps an error to the exit-code table. It is the only place that
// knows the table; the order matters where an error wraps several causes.
func exitCode(err error) int {
	var (
		sum   *importer.ChecksumError
		space *importer.SpaceError
		fetch *importer.FetchError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, errUsage), errors.Is(err, source.ErrUsage), errors.Is(err, source.ErrConfig),
		errors.Is(err, importer.ErrKeyring), errors.Is(err, mirror.ErrConfig), errors.Is(err, simplestreams.ErrSigningKey):
		return exitUsage
	case errors.Is(err, importer.ErrLocked):
		return exitLocked
	case errors.Is(err, simplestreams.ErrSignature), errors.As(err, &sum), errors.Is(err, importer.ErrVerify):
		return exitVerify
	case errors.Is(err, source.ErrNoSources), errors.Is(err, simplestreams.ErrNothingSelected), errors.Is(err, importer.ErrNothingKept):
		return exitNothing
	case errors.Is(err, source.ErrRefused):
		return exitRefused
	case errors.As(err, &space), errors.Is(err, importer.ErrStorage), errors.Is(err, importer.ErrNoCurrent):
		return exitStorage
	case errors.Is(err, source.ErrUnreachable), errors.As(err, &fetch),
		errors.Is(err, simplestreams.ErrInvalid), errors.Is(err, simplestreams.ErrUnsafePath):
		return exitUnreachable
	}
	return exitInternal
}

// hint returns a second line for errors where one helps.
func hint(err error, code int) string {
	if h := source.Hint(err); h != "" {
		return h
	}
	if h := keyring.Hint(err); h != "" {
		return h
	}
	var (
		space *importer.SpaceError
		lost  *importer.SnapshotError
	)
	switch {
	case errors.Is(err, errUsage):
		return "see 'maas-import-boot-images --help'"
	case errors.Is(err, importer.ErrLocked):
		return "another run is using this directory; use --wait to queue behind it"
	case errors.As(err, &space):
		return "free some space, or run 'maas-import-boot-images cleanup' to drop old snapshots"
	case errors.Is(err, importer.ErrNothingKept):
		return "only snapshots kept with --keep N can be rolled back to; 'maas-import-boot-images status' lists them"
	case errors.As(err, &lost):
		return "roll back to another kept snapshot with --to, or run an import"
	case code == exitVerify && errors.Is(err, simplestreams.ErrSignature):
		return "check the source's keyring (--keyring), or that the mirror is not tampered with"
	}
	return ""
}
