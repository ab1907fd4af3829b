package fetch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/time/rate"
)

// maxBurst caps a limiter's burst: what a run may read at once beyond the
// rate. A body is read in chunks of at most the burst.
const maxBurst = 16 << 20

// NewLimiter returns the limiter of a download rate cap of bytesPerSecond
// over everything that shares it (Options.Limiter), or nil for no cap
// (bytesPerSecond <= 0). Its burst is a quarter of a second's worth of
// bytes (at least 1, at most 16 MiB): small enough that the first second
// of a run is not much faster than the cap, large enough that readers
// woken late on a busy machine still get the whole rate.
func NewLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := min(max(bytesPerSecond/4, 1), maxBurst)
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(burst))
}

// ParseRate reads a download rate as curl's --limit-rate does: bytes per
// second, or with a suffix K, M or G (either case; powers of 1024), as in
// 500K, 50M, 1.5G. It must be positive.
func ParseRate(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), 1.0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			num = num[:n-1]
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f != f || f*mult < 1 || f*mult > 1<<50 {
		return 0, fmt.Errorf("%q is not a rate: give bytes per second, or a number with K, M or G (powers of 1024), e.g. 500K, 50M, 1G", s)
	}
	return int64(f * mult), nil
}

// waitFor waits until the limiter lets n more bytes through; n is at most
// its burst. It returns ctx's error when ctx ends first.
func waitFor(ctx context.Context, lim *rate.Limiter, n int) error {
	err := lim.WaitN(ctx, n)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return errors.Join(errors.New("rate limit"), err)
	}
	return nil
}
