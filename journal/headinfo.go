package journal

import "fmt"

// HeadKind is the state of a HeadInfo.
type HeadKind uint8

const (
	// HeadEmpty: nothing unreplicated that matters; Cassandra alone answers.
	HeadEmpty HeadKind = iota
	// HeadAppend: unreplicated events exist (and maybe deletes).
	HeadAppend
	// HeadDelete: only deletes are unreplicated; the events are in Cassandra.
	HeadDelete
	// HeadPurge: the journal was purged and nothing came after.
	HeadPurge
)

func (k HeadKind) String() string {
	switch k {
	case HeadEmpty:
		return "empty"
	case HeadAppend:
		return "append"
	case HeadDelete:
		return "delete"
	case HeadPurge:
		return "purge"
	}
	return fmt.Sprintf("HeadKind(%d)", uint8(k))
}

// HeadInfo folds the unreplicated actions of one journal (those after pointer2 in its partition, up to
// a marker) into what a read needs to know before it may emit a single event: is there a Delete or a
// Purge Cassandra does not know of yet, and where do the unreplicated events start.
//
// The fold follows the original's table (research §3.5) with one addition: Purged. The original folds
// Purge followed by Append into a plain Append, so a read goes to Cassandra first, where the not yet
// purged rows are still present, and resurrects them. Purged records that a Purge precedes the state,
// so reads ignore Cassandra altogether.
type HeadInfo struct {
	Kind HeadKind
	// Offset is the Kafka offset of the first unreplicated Append (HeadAppend only).
	Offset int64
	// SeqNr is the last seqNr of the newest unreplicated Append (HeadAppend only).
	SeqNr SeqNr
	// DeleteTo is the highest unreplicated delete (0 = none), for HeadAppend and HeadDelete.
	DeleteTo SeqNr
	// Purged reports that a Purge precedes the state: Cassandra's content for the journal is stale.
	Purged bool
}

// Fold returns h after the action with header a at offset. Unknown header types leave h unchanged.
func (h HeadInfo) Fold(a ActionHeader, offset int64) HeadInfo {
	switch a := a.(type) {
	case *AppendHeader:
		switch h.Kind {
		case HeadEmpty:
			return HeadInfo{Kind: HeadAppend, Offset: offset, SeqNr: a.Range.To}
		case HeadAppend:
			h.SeqNr = a.Range.To
			return h
		case HeadDelete:
			// A delete older than the append applies only below the append's first seqNr.
			var dt SeqNr
			if a.Range.From > MinSeqNr {
				dt = min(a.Range.From-1, h.DeleteTo)
			}
			return HeadInfo{Kind: HeadAppend, Offset: offset, SeqNr: a.Range.To, DeleteTo: dt, Purged: h.Purged}
		case HeadPurge:
			return HeadInfo{Kind: HeadAppend, Offset: offset, SeqNr: a.Range.To, Purged: true}
		}
	case *DeleteHeader:
		switch h.Kind {
		case HeadEmpty:
			return HeadInfo{Kind: HeadDelete, DeleteTo: a.To}
		case HeadAppend:
			h.DeleteTo = min(max(h.DeleteTo, a.To), h.SeqNr)
			return h
		case HeadDelete:
			h.DeleteTo = max(h.DeleteTo, a.To)
			return h
		case HeadPurge:
			return HeadInfo{Kind: HeadDelete, DeleteTo: a.To, Purged: true}
		}
	case *PurgeHeader:
		return HeadInfo{Kind: HeadPurge}
	}
	return h // Mark, unknown
}

// HighestSeqNr is the journal's pointer given this head and the pointer Cassandra holds (0 = no row).
// It is what `pointer` answers and what a read reports at its end.
func (h HeadInfo) HighestSeqNr(eventual SeqNr) SeqNr {
	switch h.Kind {
	case HeadEmpty:
		return eventual
	case HeadAppend:
		return h.SeqNr
	case HeadDelete:
		// A Delete on a journal Cassandra does not know makes the replicator create the row with
		// seq_nr = deleteTo; answer the same before it does.
		if h.Purged {
			return h.DeleteTo
		}
		return max(eventual, h.DeleteTo)
	}
	return 0 // HeadPurge
}

// NeedsEventual reports whether reads must consult Cassandra at all.
func (h HeadInfo) NeedsEventual() bool { return !h.Purged && h.Kind != HeadPurge }

func (h HeadInfo) String() string {
	p := ""
	if h.Purged {
		p = ",purged"
	}
	switch h.Kind {
	case HeadAppend:
		return fmt.Sprintf("Append(offset=%d,seqNr=%d,deleteTo=%d%s)", h.Offset, h.SeqNr, h.DeleteTo, p)
	case HeadDelete:
		return fmt.Sprintf("Delete(%d%s)", h.DeleteTo, p)
	}
	return h.Kind.String()
}
