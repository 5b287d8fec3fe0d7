package main

import "testing"

// TestUpToDate fails when codes_gen.go or PROTOCOL.md's table is stale with respect to codes.json.
func TestUpToDate(t *testing.T) {
	if err := run("../../codes.json", "../../codes_gen.go", "../../PROTOCOL.md", true); err != nil {
		t.Fatal(err)
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"BAD_FRAME": "BadFrame", "INVALID_ID": "InvalidID", "INVALID_SEQ_NR": "InvalidSeqNr"} {
		if got := GoName(in); got != want {
			t.Errorf("GoName(%s) = %s, want %s", in, got, want)
		}
	}
}
