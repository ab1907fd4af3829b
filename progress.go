package main

import (
	"io"
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"maas-import-boot-images/importer"
)

// progressBars shows one mpb bar per download on a terminal.
type progressBars struct{ p *mpb.Progress }

var _ importer.Progress = (*progressBars)(nil)

// newProgressBars draws on w. mpb itself stops refreshing when w is not a
// terminal; the caller has already decided that bars are wanted there
// (--progress always, or auto on a terminal), so they refresh regardless.
func newProgressBars(w io.Writer) *progressBars {
	return &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithAutoRefresh())}
}

func (b *progressBars) Start(name string, size int64) importer.FileProgress {
	bar := b.p.AddBar(size,
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f"),
			decor.Name(" "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f"),
		),
		mpb.BarRemoveOnComplete(),
	)
	return &fileBar{bar: bar}
}

// Wait waits for the bars to finish drawing.
func (b *progressBars) Wait() { b.p.Wait() }

type fileBar struct{ bar *mpb.Bar }

func (f *fileBar) Add(n int) { f.bar.IncrBy(n) }

func (f *fileBar) Done(err error) {
	if err != nil {
		f.bar.Abort(true)
		return
	}
	f.bar.SetTotal(-1, true)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
