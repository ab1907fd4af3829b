package main

import (
	"strings"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams/streamtest"
)

// TestLimitRateImport: --limit-rate reaches the downloads of an import:
// 2.3 MiB under a 1 MiB/s cap take at least 2 s. Bad rates are usage
// errors.
func TestLimitRateImport(t *testing.T) {
	s, _ := newStreams(t, streamtest.MAAS(streamtest.Options{Signed: true, KernelSize: 256 << 10, InitrdSize: 512 << 10, SquashfsSize: 768 << 10}))
	sources := streamsSources(t, s)
	start := time.Now()
	r := cliOK(t, "import", "--config", sources, "--storage", t.TempDir(), "--limit-rate", "1M", "--no-bootloaders")
	elapsed := time.Since(start)
	if !strings.Contains(r.stdout, "(2.3 MiB)") {
		t.Fatalf("import printed %q", r.stdout)
	}
	if elapsed < 2*time.Second {
		t.Errorf("2.3 MiB at 1 MiB/s took %v", elapsed)
	}
	for _, rate := range []string{"0", "-1M", "1T", "fast", "20MB"} {
		r := runCLI(t, t.Context(), nil, "import", "--config", sources, "--storage", t.TempDir(), "--limit-rate", rate)
		if r.code != 2 || !strings.Contains(r.stderr, "--limit-rate") || !strings.Contains(r.stderr, "500K, 50M, 1G") {
			t.Errorf("--limit-rate %s: exit %d: %s", rate, r.code, r.stderr)
		}
	}
}
