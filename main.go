// Command maas-import-boot-images keeps a MAAS cluster (rack) controller's
// boot images current: it resolves the boot sources, reads signed
// simplestreams metadata, downloads and verifies the selected images and
// publishes a complete boot tree atomically.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, env{
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		isTTY:  isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}
