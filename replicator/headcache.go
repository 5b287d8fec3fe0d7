package replicator

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kjournal/kjournal/journal/cassandra"
)

// headCache holds the metajournal rows of one assigned partition's journals as the replicator
// last read or wrote them, so that a journal written in consecutive rounds is read once (see the
// package doc, "Head cache"). It lives as long as the partition's claim and keeps the max most
// recently used rows (an LRU, safe for the partition's concurrent journal writes).
type headCache struct {
	rows *lru.Cache[string, cassandra.Known] // nil: no cache
}

func newHeadCache(max int) *headCache {
	if max <= 0 {
		return &headCache{}
	}
	rows, err := lru.New[string, cassandra.Known](max)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &headCache{rows: rows}
}

// get returns the journal's row, if kept.
func (c *headCache) get(id string) (cassandra.Known, bool) {
	if c.rows == nil {
		return cassandra.Known{}, false
	}
	return c.rows.Get(id)
}

// put keeps the journal's row as just read or written.
func (c *headCache) put(id string, k cassandra.Known) {
	if c.rows != nil {
		c.rows.Add(id, k)
	}
}

// drop forgets the journal's row: a write failed, so the row in Cassandra is unknown.
func (c *headCache) drop(id string) {
	if c.rows != nil {
		c.rows.Remove(id)
	}
}
