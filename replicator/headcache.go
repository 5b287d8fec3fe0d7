package replicator

import (
	"sync"

	"github.com/kjournal/kjournal/journal/cassandra"
)

// headCache holds the metajournal rows of one assigned partition's journals as the replicator
// last read or wrote them, so that a journal written in consecutive rounds is read once (see the
// package doc, "Head cache"). It lives as long as the partition's claim. Its size is bounded by
// two generations: entries go into cur; when cur is half the bound, it becomes old and a new cur
// starts; a hit in old moves the entry back into cur. So a journal written at least once per
// half-bound distinct journals stays, and at most max entries are kept.
type headCache struct {
	max int // 0: no cache

	mu       sync.Mutex
	cur, old map[string]cassandra.Known
}

func newHeadCache(max int) *headCache {
	return &headCache{max: max, cur: map[string]cassandra.Known{}}
}

// get returns the journal's row as last written or read here.
func (c *headCache) get(id string) (cassandra.Known, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.cur[id]; ok {
		return k, true
	}
	k, ok := c.old[id]
	if ok {
		delete(c.old, id)
		c.putLocked(id, k)
	}
	return k, ok
}

// put records the journal's row after a successful write (or read).
func (c *headCache) put(id string, k cassandra.Known) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.old, id)
	c.putLocked(id, k)
}

func (c *headCache) putLocked(id string, k cassandra.Known) {
	if c.max <= 0 {
		return
	}
	if _, ok := c.cur[id]; !ok && len(c.cur) >= max(c.max/2, 1) {
		c.old, c.cur = c.cur, map[string]cassandra.Known{}
	}
	c.cur[id] = k
}

// drop forgets the journal's row: a write failed, so what Cassandra holds is unknown.
func (c *headCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cur, id)
	delete(c.old, id)
}
