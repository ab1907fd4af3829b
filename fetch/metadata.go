package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maas-import-boot-images/internal/redact"
	"net/http"
	"os"
)

// MaxMetadata caps an index or products file: real ones are a few MiB.
const MaxMetadata = 64 << 20

// Metadata reads an index or products file from an http(s) URL or a local
// path, at most MaxMetadata bytes, under the retry policy. Errors are
// *Error (a longer file is one, never tried again), or ctx's when it is
// done.
func (c *Client) Metadata(ctx context.Context, loc string) ([]byte, error) {
	if !isURL(loc) {
		fh, err := os.Open(loc)
		if err != nil {
			return nil, &Error{URL: loc, Err: err}
		}
		defer fh.Close()
		return readCapped(fh, loc)
	}
	var b []byte
	err := c.do(ctx, loc, func() (bool, error) {
		resp, err := c.request(ctx, loc, 0, nil)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, &Error{URL: redact.URL(loc), Status: resp.StatusCode}
		}
		b, err = readCapped(resp.Body, redact.URL(loc))
		if err != nil && !errors.As(err, new(*tooLargeError)) {
			err = &retryable{err: err}
		}
		return false, err
	})
	return b, err
}

// tooLargeError: a metadata file is larger than MaxMetadata.
type tooLargeError struct{ Loc string }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d MiB: not simplestreams metadata", e.Loc, MaxMetadata>>20)
}

// readCapped reads r to its end, at most MaxMetadata bytes. Read errors
// are returned as they are.
func readCapped(r io.Reader, loc string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMetadata {
		return nil, &Error{URL: loc, Err: &tooLargeError{loc}}
	}
	return b, nil
}
