package journal_test

import (
	"testing"

	"github.com/kjournal/kjournal/journal"
)

func appendH(from, to journal.SeqNr) *journal.AppendHeader {
	return &journal.AppendHeader{Range: journal.SeqRange{From: from, To: to}, PayloadType: journal.PayloadJSON}
}
func deleteH(to journal.SeqNr) *journal.DeleteHeader { return &journal.DeleteHeader{To: to} }

var (
	purgeH = &journal.PurgeHeader{}
	markH  = &journal.MarkHeader{ID: "m"}
)

func TestHeadInfo_Fold(t *testing.T) {
	empty := journal.HeadInfo{}
	app := func(offset int64, seqNr, deleteTo journal.SeqNr) journal.HeadInfo {
		return journal.HeadInfo{Kind: journal.HeadAppend, Offset: offset, SeqNr: seqNr, DeleteTo: deleteTo}
	}
	del := func(to journal.SeqNr) journal.HeadInfo {
		return journal.HeadInfo{Kind: journal.HeadDelete, DeleteTo: to}
	}
	purge := journal.HeadInfo{Kind: journal.HeadPurge}
	purged := func(h journal.HeadInfo) journal.HeadInfo { h.Purged = true; return h }

	cases := []struct {
		name   string
		state  journal.HeadInfo
		action journal.ActionHeader
		offset int64
		want   journal.HeadInfo
	}{
		// The original's HeadInfoSpec examples (research §3.5).
		{"empty+append", empty, appendH(1, 2), 0, app(0, 2, 0)},
		{"append+delete beyond", app(0, 2, 0), deleteH(3), 1, app(0, 2, 2)},
		{"append+smaller delete keeps max", app(0, 2, 2), deleteH(1), 2, app(0, 2, 2)},
		{"delete+append from 1", del(10), appendH(1, 2), 1, app(1, 2, 0)},
		{"delete+append from 2", del(10), appendH(2, 3), 1, app(1, 3, 1)},
		{"delete+delete keeps max", del(2), deleteH(1), 1, del(2)},
		// The rest of the table.
		{"empty+delete", empty, deleteH(5), 0, del(5)},
		{"empty+purge", empty, purgeH, 0, purge},
		{"empty+mark", empty, markH, 0, empty},
		{"append+append keeps first offset", app(3, 2, 1), appendH(3, 4), 9, app(3, 4, 1)},
		{"append+purge", app(3, 2, 1), purgeH, 9, purge},
		{"append+mark", app(3, 2, 1), markH, 9, app(3, 2, 1)},
		{"delete+bigger delete", del(2), deleteH(7), 1, del(7)},
		{"delete+purge", del(2), purgeH, 1, purge},
		{"delete+mark", del(2), markH, 1, del(2)},
		{"purge+purge", purge, purgeH, 1, purge},
		{"purge+mark", purge, markH, 1, purge},
		// Our fix: what follows a Purge remembers it, so Cassandra's stale rows are ignored.
		{"purge+append is purged", purge, appendH(1, 2), 5, purged(app(5, 2, 0))},
		{"purge+delete is purged", purge, deleteH(4), 5, purged(del(4))},
		{"purged append+delete stays purged", purged(app(5, 3, 0)), deleteH(2), 6, purged(app(5, 3, 2))},
		{"purged delete+append stays purged", purged(del(4)), appendH(5, 6), 7, purged(app(7, 6, 4))},
		{"purged append+purge resets", purged(app(5, 3, 0)), purgeH, 6, purge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.state.Fold(c.action, c.offset); got != c.want {
				t.Errorf("%v + %T@%d = %v, want %v", c.state, c.action, c.offset, got, c.want)
			}
		})
	}
}

func TestHeadInfo_HighestSeqNr(t *testing.T) {
	cases := []struct {
		name     string
		h        journal.HeadInfo
		eventual journal.SeqNr
		want     journal.SeqNr
	}{
		{"empty uses cassandra", journal.HeadInfo{}, 7, 7},
		{"empty without row", journal.HeadInfo{}, 0, 0},
		{"append", journal.HeadInfo{Kind: journal.HeadAppend, SeqNr: 9}, 7, 9},
		{"delete keeps pointer", journal.HeadInfo{Kind: journal.HeadDelete, DeleteTo: 3}, 7, 7},
		{"delete on unknown journal", journal.HeadInfo{Kind: journal.HeadDelete, DeleteTo: 3}, 0, 3},
		{"purged delete ignores cassandra", journal.HeadInfo{Kind: journal.HeadDelete, DeleteTo: 3, Purged: true}, 7, 3},
		{"purge", journal.HeadInfo{Kind: journal.HeadPurge}, 7, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.h.HighestSeqNr(c.eventual); got != c.want {
				t.Errorf("%v.HighestSeqNr(%d) = %d, want %d", c.h, c.eventual, got, c.want)
			}
		})
	}
}
