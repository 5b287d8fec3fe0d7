package replicator

import "github.com/kjournal/kjournal/journal"

// batch is one write to Cassandra for one journal: the original's Batch (Appends, Delete or
// Purge). compact turns the actions of a journal seen in one round into as few of them as the
// original does.
type batch struct {
	// Kind is ActionAppend, ActionDelete or ActionPurge.
	Kind journal.ActionKind
	// Offset is the batch's position: the youngest Append merged into it, or the Delete or Purge.
	Offset int64
	// Appends are the Append actions of an Appends batch, oldest first.
	Appends []journal.ActionRecord
	// To is a Delete's delete-to.
	To journal.SeqNr
	// Origin and Version are a Delete's or Purge's.
	Origin, Version string
}

// compact is the original's Batch.of: it takes the actions of one journal in offset order and
// returns the batches to apply, in offset order. It walks from the youngest action to the oldest,
// looking at the batch that follows each action in time ("next", the oldest batch so far) and at
// the nearest later Delete:
//
//   - Mark: ignored.
//   - Purge: dropped when next is a Purge (the younger purge wins), else a new batch. So nothing
//     before the last Purge survives: every older action sees a Purge as its next.
//   - Delete(to): dropped when next is a Purge; when next is Appends, kept unless a later Delete
//     deletes at least as much; when next is a Delete, dropped if it deletes less, else it replaces
//     that Delete (the older one, deleting more, wins with its own offset).
//   - Append: dropped when next is a Purge; when next is Appends, merged into it unless a later
//     Delete covers all its events; when next is a Delete (or nothing), a new Appends. So the last
//     Append before a Delete is always kept, and the journal's seq_nr advances.
func compact(records []journal.ActionRecord) []batch {
	// out holds the batches youngest first while we build them; out[len(out)-1] is "next".
	var out []batch
	next := func() *batch {
		if len(out) == 0 {
			return nil
		}
		return &out[len(out)-1]
	}
	laterDelete := func() *batch {
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].Kind == journal.ActionDelete {
				return &out[i]
			}
		}
		return nil
	}
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		n := next()
		switch h := r.Header.(type) {
		case *journal.PurgeHeader:
			if n != nil && n.Kind == journal.ActionPurge {
				continue
			}
			out = append(out, batch{Kind: journal.ActionPurge, Offset: r.Offset, Origin: h.Origin, Version: h.Version})
		case *journal.DeleteHeader:
			d := batch{Kind: journal.ActionDelete, Offset: r.Offset, To: h.To, Origin: h.Origin, Version: h.Version}
			switch {
			case n == nil:
				out = append(out, d)
			case n.Kind == journal.ActionPurge:
			case n.Kind == journal.ActionAppend:
				if ld := laterDelete(); ld == nil || ld.To < h.To {
					out = append(out, d)
				}
			case n.Kind == journal.ActionDelete:
				if h.To >= n.To {
					*n = d
				}
			}
		case *journal.AppendHeader:
			switch {
			case n == nil, n.Kind == journal.ActionDelete:
				out = append(out, batch{Kind: journal.ActionAppend, Offset: r.Offset, Appends: []journal.ActionRecord{r}})
			case n.Kind == journal.ActionPurge:
			case n.Kind == journal.ActionAppend:
				if ld := laterDelete(); ld == nil || ld.To < h.Range.To {
					n.Appends = append(n.Appends, r) // youngest first for now
				}
			}
		}
	}
	// Oldest first, and each Appends' records oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	for i := range out {
		as := out[i].Appends
		for a, b := 0, len(as)-1; a < b; a, b = a+1, b-1 {
			as[a], as[b] = as[b], as[a]
		}
	}
	return out
}

// uncompacted returns every action of records as a batch of its own, in offset order (Marks
// ignored): what compact returns when it merges and drops nothing. The replicator applies a
// journal's actions this way when compaction would drop Appends of a journal that has no
// metajournal row (see applyKey).
func uncompacted(records []journal.ActionRecord) []batch {
	var out []batch
	for _, r := range records {
		switch h := r.Header.(type) {
		case *journal.AppendHeader:
			out = append(out, batch{Kind: journal.ActionAppend, Offset: r.Offset, Appends: []journal.ActionRecord{r}})
		case *journal.DeleteHeader:
			out = append(out, batch{Kind: journal.ActionDelete, Offset: r.Offset, To: h.To, Origin: h.Origin, Version: h.Version})
		case *journal.PurgeHeader:
			out = append(out, batch{Kind: journal.ActionPurge, Offset: r.Offset, Origin: h.Origin, Version: h.Version})
		}
	}
	return out
}

// dropsAppends reports whether batches (compacted from records) left out an Append of records.
func dropsAppends(records []journal.ActionRecord, batches []batch) bool {
	n := 0
	for _, r := range records {
		if r.Header.Kind() == journal.ActionAppend {
			n++
		}
	}
	for _, b := range batches {
		n -= len(b.Appends)
	}
	return n > 0
}
