package replicator

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/kjournal/kjournal/journal"
)

// The expiry job: while this replicator owns partition 0 of a topic, it looks every
// ExpiryInterval for the topic's journals whose expiry has passed and produces a Purge action for
// each (see the package doc, "Expiry").

// expiryLoop runs the job now and then every ExpiryInterval until ctx ends (partition 0 was
// revoked, or the replicator stops).
func (t *topicReplicator) expiryLoop(ctx context.Context) {
	t.mu.Lock()
	t.expiry = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.expiry = false
		t.mu.Unlock()
	}()
	t.log.Info("running the expiry job here (this replicator owns partition 0)", "interval", t.r.cfg.ExpiryInterval)
	var from time.Time // the first expire_on date to look at; zero: ExpiryLookbackDays ago
	// The first run waits a random part of the interval (at most 30 s), so that the jobs of many
	// topics, taken over at once when an instance starts, do not all query Cassandra together.
	timer := time.NewTimer(rand.N(min(t.r.cfg.ExpiryInterval, 30*time.Second)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		from = t.purgeExpired(ctx, from)
		timer.Reset(t.r.cfg.ExpiryInterval)
	}
}

// purgeExpired runs the job once for the expire_on dates from..today (UTC) and returns the date
// the next run starts at: today when this run got through, from again when it failed part-way.
func (t *topicReplicator) purgeExpired(ctx context.Context, from time.Time) time.Time {
	start := time.Now()
	now := t.r.cfg.Now().UTC()
	today := utcDate(now)
	if from.IsZero() {
		from = today.AddDate(0, 0, -t.r.cfg.ExpiryLookbackDays)
	}
	store := t.r.cfg.Store.(ExpiryStore)
	t.mu.Lock()
	prev := t.purged
	t.purged = map[string]int64{}
	t.mu.Unlock()

	purged, failed := 0, false
	fail := func(msg string, args ...any) {
		failed = true
		t.r.m.errors.WithLabelValues(t.topic, stageExpiry).Inc()
		t.log.Warn(msg, args...)
	}
dates:
	for date := from; !date.After(today); date = date.AddDate(0, 0, 1) {
		for id, err := range store.IDsExpiringOn(ctx, t.topic, date) {
			if err != nil {
				if ctx.Err() == nil {
					fail("expiry job: cannot list expiring journals", "expire_on", date.Format(time.DateOnly), "error", err)
				}
				break dates
			}
			key := journal.Key{Topic: t.topic, ID: id}
			h, ok, err := store.Head(ctx, key)
			if err != nil {
				fail("expiry job: cannot read journal head", "id", id, "error", err)
				continue
			}
			// The index may lag; the journal may have been purged, or appended to with another
			// expiry, since it was listed.
			if !ok || h.Expiry == nil || h.Expiry.On.After(today) {
				continue
			}
			// expire_on is a date; the journal is due only expire_after after its last change.
			if !h.Updated.IsZero() && h.Updated.Add(h.Expiry.After).After(now) {
				continue
			}
			// A purge of ours that is not replicated yet.
			if off, ok := prev[id]; ok && h.PartitionOffset.Offset < off {
				t.mu.Lock()
				t.purged[id] = off
				t.mu.Unlock()
				continue
			}
			po, err := t.r.cfg.Producer.Produce(ctx, journal.Action{
				Key:       key,
				Timestamp: now,
				Header:    &journal.PurgeHeader{Origin: t.r.cfg.Origin, Version: journal.Version},
			})
			if err != nil {
				if ctx.Err() == nil {
					fail("expiry job: cannot produce purge", "id", id, "error", err)
				}
				continue
			}
			t.mu.Lock()
			t.purged[id] = po.Offset
			t.mu.Unlock()
			purged++
			t.r.m.expiryPurges.WithLabelValues(t.topic).Inc()
			t.log.Info("expiry job: purging expired journal", "id", id, "expire_after", h.Expiry.After,
				"expire_on", h.Expiry.On.Format(time.DateOnly), "updated", h.Updated, "purge", po)
		}
	}
	t.r.m.expiryRuns.WithLabelValues(t.topic).Observe(time.Since(start).Seconds())
	t.mu.Lock()
	t.lastRun = now
	t.mu.Unlock()
	t.log.Debug("expiry job done", "from", from.Format(time.DateOnly), "to", today.Format(time.DateOnly),
		"purged", purged, "took", time.Since(start), "failed", failed)
	if failed || ctx.Err() != nil {
		return from
	}
	return today
}

// utcDate is midnight UTC of t's UTC date.
func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
