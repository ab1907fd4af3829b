package mirror

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maas-import-boot-images/importer"
	"maas-import-boot-images/simplestreams"
	"maas-import-boot-images/simplestreams/streamtest"
)

// reader is a client of the mirror as clusters are: the index, then
// every products file it names, then every item those name that a cluster
// would fetch, with random pauses between requests.
type reader struct {
	base     string
	verbatim bool
	passes   atomic.Int64 // completed passes
	failures chan string
}

func (r *reader) get(ctx context.Context, rel string) ([]byte, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/"+rel, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false // the test is ending
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		select {
		case r.failures <- fmt.Sprintf("%s: HTTP %d", rel, resp.StatusCode):
		default:
		}
		return nil, false
	}
	return b, err == nil
}

// pass reads the mirror once; in verbatim mode it fetches the newest
// version of each product, as a cluster selecting everything would (the
// metadata names older versions that a mirror of one version lacks).
func (r *reader) pass(ctx context.Context, rnd *rand.Rand) {
	pause := func() { time.Sleep(time.Duration(rnd.IntN(3000)) * time.Microsecond) }
	index := "streams/v1/index.json"
	if r.verbatim {
		index = "streams/v1/index.sjson"
	}
	b, ok := r.get(ctx, index)
	if !ok {
		return
	}
	if r.verbatim {
		b = must(simplestreams.StripSignature(index, b))
	}
	ix := must(simplestreams.ParseIndex(b))
	for _, id := range ix.ContentIDs() {
		pause()
		b, ok := r.get(ctx, ix.Index[id].Path)
		if !ok {
			return
		}
		if r.verbatim {
			b = must(simplestreams.StripSignature(id, b))
		}
		ps := must(simplestreams.ParseProducts(b))
		for name, p := range ps.Products {
			if r.verbatim && (strings.Contains(name, "arm64") || strings.Contains(name, "ppc64el")) {
				continue // bootloaders for arches the mirror does not serve
			}
			versions := ps.NewestVersions(name, 1, nil)
			if !r.verbatim {
				versions = nil
				for v := range p.Versions {
					versions = append(versions, v)
				}
			}
			for _, v := range versions {
				files := must(p.Versions[v].Files(p.Attrs.Inherit(ps.Attrs)))
				for _, f := range files {
					pause()
					if _, ok := r.get(ctx, f.Path); !ok {
						return
					}
				}
			}
		}
	}
	r.passes.Add(1)
}

// TestReadersNeverSee404: while mirror runs publish version after
// version, readers that fetch the index, then the products files, then
// every item they name never get a 404. Between runs the test waits until
// every reader has finished the pass it was in: the one run of grace
// covers a reader that read the previous index, not older ones.
func TestReadersNeverSee404(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes many versions under concurrent readers")
	}
	for _, verbatim := range []bool{true, false} {
		t.Run(fmt.Sprintf("verbatim=%v", verbatim), func(t *testing.T) { readers(t, verbatim) })
	}
}

func readers(t *testing.T, verbatim bool) {
	const versions, nReaders = 12, 6
	up := newServer(t, upstream(t, versionSpec(0)).Dir)
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Rewrite = !verbatim
	mirrorOK(t, source(up.URL), opts)
	srv := streamtest.NewServer(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	failures := make(chan string, 100)
	var wg sync.WaitGroup
	rs := make([]*reader, nReaders)
	for i := range rs {
		rs[i] = &reader{base: srv.URL, verbatim: verbatim, failures: failures}
		wg.Add(1)
		go func(r *reader, seed uint64) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				r.pass(ctx, rnd)
			}
		}(rs[i], uint64(i))
	}
	var passes int64
	for v := 1; v < versions; v++ {
		up.Serve(upstream(t, versionSpec(v)).Dir)
		mirrorOK(t, source(up.URL), opts)
		// Wait until every reader has finished a pass begun after this run.
		for _, r := range rs {
			start := r.passes.Load()
			for r.passes.Load() < start+2 && len(failures) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	cancel()
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("a reader got %s", f)
	}
	for _, r := range rs {
		passes += r.passes.Load()
	}
	t.Logf("%d versions published under %d readers: %d complete passes, no 404", versions, nReaders, passes)
}

// versionSpec is a stream of one version, the i-th, of noble and jammy.
func versionSpec(i int) streamtest.Spec {
	return spec(fmt.Sprintf("2025%04d", 101+i))
}

// TestOldIndexFinishes: a cluster that read the previous index finishes
// its import while a mirror run publishes a new version, and the run
// after that removes the old files only then.
func TestOldIndexFinishes(t *testing.T) {
	up := newServer(t, upstream(t, versionSpec(0)).Dir)
	dir := t.TempDir()
	mirrorOK(t, source(up.URL), testOptions(dir))
	gate, arrived := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := streamtest.NewServer(t, dir, streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		once.Do(func() { close(arrived); <-gate })
		next.ServeHTTP(w, r)
	}))
	done := make(chan error, 1)
	go func() {
		_, err := importer.Run(context.Background(), func(context.Context) ([]simplestreams.BootSource, error) { return source(srv.URL), nil },
			importer.Options{Storage: t.TempDir(), Timeout: 5 * time.Second})
		done <- err
	}()
	select {
	case <-arrived:
	case err := <-done:
		t.Fatalf("the import ended before it fetched a file: %v", err)
	}
	up.Serve(upstream(t, versionSpec(1)).Dir)
	mirrorOK(t, source(up.URL), testOptions(dir)) // publishes version 1 while the import holds version 0's index
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("the cluster that read the old index failed: %v", err)
	}
}
