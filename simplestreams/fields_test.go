package simplestreams

import "testing"

// TestFieldIndex: the switch in fieldIndex and the table fields agree.
func TestFieldIndex(t *testing.T) {
	for i, f := range fields {
		if got := fieldIndex(f.name); got != i {
			t.Errorf("fieldIndex(%q): got %d, want %d", f.name, got, i)
		}
		if i != fSize && (&Attrs{}).str(i) == nil {
			t.Errorf("field %s has no string", f.name)
		}
	}
	if got := fieldIndex("content_id"); got != -1 {
		t.Errorf("fieldIndex(content_id): got %d, want -1", got)
	}
}
