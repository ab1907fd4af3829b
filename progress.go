package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"maas-import-boot-images/importer"
)

// progressBars shows, on a terminal, one line for the whole run (bytes
// done of total, rate, ETA) above one bar per download, named after its
// image ("noble/amd64/ga-24.04 squashfs"). It is safe for concurrent use.
type progressBars struct {
	p *mpb.Progress

	mu      sync.Mutex
	run     *mpb.Bar // the whole run: made by Plan, or by the first Start
	planned bool     // Plan gave the totals; otherwise each Start adds its file
	total   int64
	files   atomic.Int64
}

var _ importer.Progress = (*progressBars)(nil)

// lineWidth is the width of a line when w is not a terminal (a terminal's
// own width wins); barWidth that of the bar itself.
const (
	lineWidth = 120
	barWidth  = 32
)

// newProgressBars draws on w. mpb itself stops refreshing when w is not a
// terminal; the caller has already decided that bars are wanted there
// (--progress always, or auto on a terminal), so they refresh regardless.
func newProgressBars(w io.Writer) *progressBars {
	return &progressBars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(lineWidth), mpb.WithAutoRefresh())}
}

// Plan is told, before the downloads, how many files and bytes they are;
// the whole-run line starts then.
func (b *progressBars) Plan(files int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.run != nil {
		return
	}
	b.planned = true
	b.files.Store(int64(files))
	b.run = b.addRunBar(bytes)
}

// addRunBar adds the whole-run line; bytes 0 is not known yet.
func (b *progressBars) addRunBar(bytes int64) *mpb.Bar {
	name := decor.Any(func(decor.Statistics) string { return fmt.Sprintf("all %d files", b.files.Load()) }, decor.WCSyncSpaceR)
	return b.p.AddBar(bytes,
		mpb.BarPriority(-1), // on top
		mpb.BarWidth(barWidth),
		mpb.PrependDecorators(name),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f"),
			decor.Name(" "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f"),
			decor.Name(" ETA "),
			decor.AverageETA(decor.ET_STYLE_GO),
		),
	)
}

func (b *progressBars) Start(name string, size int64) importer.FileProgress {
	b.mu.Lock()
	if b.run == nil {
		b.run = b.addRunBar(0)
	}
	if !b.planned {
		b.total += size
		b.files.Add(1)
		b.run.SetTotal(b.total, false)
	}
	run := b.run
	b.mu.Unlock()
	bar := b.p.AddBar(size,
		mpb.BarWidth(barWidth),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f"),
			decor.Name(" "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f"),
		),
		mpb.BarRemoveOnComplete(),
	)
	return &fileBar{bar: bar, run: run}
}

// Wait ends the whole-run line, as far as it got, and waits for the bars
// to finish drawing.
func (b *progressBars) Wait() {
	b.mu.Lock()
	if b.run != nil && !b.run.Completed() {
		b.run.Abort(false)
	}
	b.mu.Unlock()
	b.p.Wait()
}

type fileBar struct{ bar, run *mpb.Bar }

func (f *fileBar) Add(n int) {
	f.bar.IncrBy(n)
	f.run.IncrBy(n)
}

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
