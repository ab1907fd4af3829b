package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// randomDelay sleeps a random time in [0, most) before a run takes its
// lock (--random-delay), so that the timers of a fleet do not all start at
// once; a signal cuts it short with an error wrapping context.Canceled.
func randomDelay(ctx context.Context, most time.Duration, log *slog.Logger) error {
	if most <= 0 {
		return nil
	}
	d := rand.N(most)
	log.Info("sleeping before the run (--random-delay)", "delay", d.String(), "delay_seconds", d.Seconds())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting out --random-delay: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
