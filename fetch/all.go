package fetch

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"maas-import-boot-images/cache"
	"maas-import-boot-images/internal/redact"
	"maas-import-boot-images/internal/summary"
)

// Missing returns the files of list that the store lacks, and counts all
// of them: how many files and bytes there are, how many are to be
// downloaded and how many the store already has.
func Missing(into *cache.Dir, list []File) (missing []File, files, bytes summary.Counts) {
	for _, f := range list {
		files.Total++
		bytes.Total += f.Size
		if !into.Has(f.SHA256, f.Size) {
			missing = append(missing, f)
			files.Downloaded++
			bytes.Downloaded += f.Size
		}
	}
	files.Reused = files.Total - files.Downloaded
	bytes.Reused = bytes.Total - bytes.Downloaded
	return missing, files, bytes
}

// Planner is a Progress that wants to know the whole run: GetAll tells
// it, once before the downloads start, how many files and bytes they are.
type Planner interface{ Plan(files int, bytes int64) }

// GetAll gets every file into the store, jobs at once (at least one); the
// first failure stops the others. It does not sync the store's directory.
// When ctx ends, the error wraps context.Canceled.
func (c *Client) GetAll(ctx context.Context, files []File, into *cache.Dir, jobs int) error {
	if p, ok := c.opts.Progress.(Planner); ok && len(files) > 0 {
		var bytes int64
		for _, f := range files {
			bytes += f.Size
		}
		p.Plan(len(files), bytes)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(jobs, 1))
	for _, f := range files {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			c.opts.Log.Debug("downloading", "url", redact.URL(f.URL), "size", f.Size)
			return c.Get(gctx, f, into)
		})
	}
	err := g.Wait()
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		return fmt.Errorf("interrupted: %w", context.Canceled)
	}
	return err
}
