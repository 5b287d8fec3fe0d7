package replicator

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kjournal/kjournal/journal"
)

// TestCompact is the original's BatchSpec, case for case. Actions are written as
//
//	m<offset>                        mark
//	a<offset>:<from>[-<to>]          append of seqNrs from..to
//	d<offset>:<to>[/<origin>]        delete to
//	p<offset>[/<origin>]             purge
//
// and batches as A<offset>[<offsets of the merged appends>], D<offset>:<to>[/<origin>] and
// P<offset>[/<origin>].
func TestCompact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"m0", ""},
		{"m0 m1", ""},
		{"a0:1", "A0[0]"},
		{"a0:1-2", "A0[0]"},
		{"a0:1-2 a1:3-4", "A1[0,1]"},
		{"a0:1 m1", "A0[0]"},
		{"m0 a1:1", "A1[1]"},
		{"a0:1 a1:2", "A1[0,1]"},
		{"m0 a1:1 m2 a3:2 m4", "A3[1,3]"},
		{"d1:1", "D1:1"},
		{"m1 d2:1", "D2:1"},
		{"d1:1 m2", "D1:1"},
		{"d1:1 a2:2", "D1:1 A2[2]"},
		{"a1:2 d2:1", "A1[1] D2:1"},
		{"a1:1-3 d2:1", "A1[1] D2:1"},
		{"a1:1 d2:1 a3:2", "A1[1] D2:1 A3[3]"},
		{"a1:1 d2:1/origin1 a3:2 d4:2/origin2", "A3[3] D4:2/origin2"},
		{"a1:1 d2:1/origin a3:2 d4:2", "A3[3] D4:2"},
		{"a1:1 a2:2 d3:1/origin1 d4:2/origin2", "A2[2] D4:2/origin2"},
		{"a1:1 a2:2 d3:1 d4:2/origin", "A2[2] D4:2/origin"},
		{"d2:1 d3:2", "D3:2"},
		{"d2:2/origin d3:1", "D2:2/origin"},
		{"m2 d3:1/origin m4 d5:2 m6", "D5:2"},
		{"a0:1 d1:1 a2:2 d3:2 a4:3", "A2[2] D3:2 A4[4]"},
		{"a0:1 a1:2 d2:1 a3:3 d4:3 a5:4", "A3[3] D4:3 A5[5]"},
		{"a0:1 a1:2 m2 d3:1 a4:3 a5:4 m6", "A1[1] D3:1 A5[4,5]"},
		{"a0:1 a1:2 a2:3 d3:1/origin a4:4 a5:5 d6:2 a7:6", "A5[2,4,5] D6:2 A7[7]"},
		{"a0:1-2 a1:3-4 a2:5 d3:1 a4:6 a5:7 d6:3 a7:8", "A5[1,2,4,5] D6:3 A7[7]"},
		{"p0", "P0"},
		{"m0 p1", "P1"},
		{"p0 m1", "P0"},
		{"p0/origin m1 p2", "P2"},
		{"p0/origin0 m1 p2/origin", "P2/origin"},
		{"a0:1 p1", "P1"},
		{"p0 a1:1", "P0 A1[1]"},
		{"d0:1 p1", "P1"},
		{"p0 d1:1", "P0 D1:1"},
		{"d0:1 d1:2", "D1:2"},
		{"a0:1-2 a1:3-4 a2:5-6 d3:3 d4:5", "A2[2] D4:5"},
		{"a0:1-6 d1:3 d2:6", "A0[0] D2:6"},
		{"a0:1-4 a1:5-6 d2:3 d3:6", "A1[1] D3:6"},
		{"a0:1-4 a1:5-6 d2:3", "A1[0,1] D2:3"},
		{"d1:10 d2:6", "D1:10"},
		// state in Cassandra: delete_to 384, seq_nr 573
		{"a1797039:574 a1801629:575 m1801632 d1801642:575", "A1801629[1801629] D1801642:575"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := formatBatches(compact(parseActions(t, tc.in))); got != tc.want {
				t.Errorf("compact(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func parseActions(tb testing.TB, s string) []journal.ActionRecord {
	tb.Helper()
	key := journal.Key{Topic: "topic", ID: "id"}
	var out []journal.ActionRecord
	for _, f := range strings.Fields(s) {
		kind, rest := f[0], f[1:]
		rest, origin, _ := strings.Cut(rest, "/")
		offStr, arg, _ := strings.Cut(rest, ":")
		offset, err := strconv.ParseInt(offStr, 10, 64)
		if err != nil {
			tb.Fatalf("action %q: %v", f, err)
		}
		var h journal.ActionHeader
		switch kind {
		case 'm':
			h = &journal.MarkHeader{ID: "id"}
		case 'p':
			h = &journal.PurgeHeader{Origin: origin}
		case 'd':
			to, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				tb.Fatalf("action %q: %v", f, err)
			}
			h = &journal.DeleteHeader{To: journal.SeqNr(to), Origin: origin}
		case 'a':
			fromStr, toStr, ok := strings.Cut(arg, "-")
			if !ok {
				toStr = fromStr
			}
			from, err1 := strconv.ParseInt(fromStr, 10, 64)
			to, err2 := strconv.ParseInt(toStr, 10, 64)
			if err1 != nil || err2 != nil {
				tb.Fatalf("action %q", f)
			}
			h = &journal.AppendHeader{Range: journal.SeqRange{From: journal.SeqNr(from), To: journal.SeqNr(to)}, PayloadType: journal.PayloadBinary}
		default:
			tb.Fatalf("action %q", f)
		}
		out = append(out, journal.ActionRecord{
			Action:          journal.Action{Key: key, Header: h},
			PartitionOffset: journal.PartitionOffset{Offset: offset},
		})
	}
	return out
}

func formatBatches(bs []batch) string {
	var parts []string
	for _, b := range bs {
		var s string
		switch b.Kind {
		case journal.ActionAppend:
			offsets := make([]string, len(b.Appends))
			for i, a := range b.Appends {
				offsets[i] = strconv.FormatInt(a.Offset, 10)
			}
			s = fmt.Sprintf("A%d[%s]", b.Offset, strings.Join(offsets, ","))
		case journal.ActionDelete:
			s = fmt.Sprintf("D%d:%d", b.Offset, b.To)
		case journal.ActionPurge:
			s = fmt.Sprintf("P%d", b.Offset)
		default:
			s = "?" + string(b.Kind)
		}
		if b.Origin != "" {
			s += "/" + b.Origin
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestUncompacted(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		drops    bool
	}{
		{"a0:1 a1:2 d2:2 m3", "A0[0] A1[1] D2:2", true},
		{"a0:1 p1 a2:1", "A0[0] P1 A2[2]", true},
		{"a0:1 a1:2", "A0[0] A1[1]", false},
		{"a0:1-2 d1:1", "A0[0] D1:1", false},
	} {
		recs := parseActions(t, tc.in)
		if got := formatBatches(uncompacted(recs)); got != tc.want {
			t.Errorf("uncompacted(%s) = %q, want %q", tc.in, got, tc.want)
		}
		if got := dropsAppends(recs, compact(recs)); got != tc.drops {
			t.Errorf("dropsAppends(%s) = %v", tc.in, got)
		}
	}
}
