package main

import (
	"net/http"
	"testing"
	"time"

	"maas-import-boot-images/simplestreams/streamtest"
)

// missingSources writes a sources file for a stream that srv does not
// have (HTTP 404).
func missingSources(t *testing.T, srv *streamtest.Server) string {
	return sourcesFile(t, "- url: "+srv.URL+"/nowhere/\n  keyring: "+keyringFile(t)+"\n  selections: [{release: noble}]\n")
}

// dripPayloads makes s send every payload file a byte every 100 ms from
// now on; the channel gets a token (when it has room) for each payload
// request.
func dripPayloads(s *streamtest.Server) <-chan struct{} {
	payloads := make(chan struct{}, 1)
	s.SetHook(streamtest.Payloads(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		select {
		case payloads <- struct{}{}:
		default:
		}
		streamtest.Drip(1, 100*time.Millisecond)(w, r, next)
	}))
	return payloads
}
