package importer

import (
	"errors"
	"slices"
	"testing"
)

func TestSnapshotOrder(t *testing.T) {
	names := []string{"snapshot-20250101-000000-10", "snapshot-20241231-235959", "snapshot-20250101-000000-2", "snapshot-20250101-000000"}
	slices.SortFunc(names, func(a, b string) int {
		if snapshotLess(a, b) {
			return -1
		}
		if snapshotLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"snapshot-20241231-235959", "snapshot-20250101-000000", "snapshot-20250101-000000-2", "snapshot-20250101-000000-10"}
	if !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}

func TestRollbackTarget(t *testing.T) {
	const a, b, c = "snapshot-20250101-000000", "snapshot-20250102-000000", "snapshot-20250103-000000"
	tests := []struct {
		cur  string
		kept []string // newest first
		to   string
		want string // "" → ErrNothingKept
	}{
		{b, []string{c, a}, "", a},
		{c, []string{b, a}, "", b},
		{a, []string{c, b}, "", ""},
		{a, []string{c, b}, c, c},
		{a, nil, "", ""},
		{"", []string{c, b}, "", c},
		{b, []string{a}, b, b},
		{b, []string{a}, c, ""},
	}
	for _, tt := range tests {
		got, err := rollbackTarget(tt.cur, tt.kept, tt.to, "/s")
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrNothingKept) {
			t.Errorf("current %s, kept %v, to %q: got %q, %v; want %q", tt.cur, tt.kept, tt.to, got, err, tt.want)
		}
	}
}
