package logs

import (
	"bytes"
	"log/slog"
	"testing"
)

func TestOrDiscard(t *testing.T) {
	OrDiscard(nil).Error("goes nowhere") // must not panic
	var b bytes.Buffer
	l := slog.New(slog.NewTextHandler(&b, nil))
	if OrDiscard(l) != l {
		t.Fatal("a logger given is not the logger used")
	}
}
