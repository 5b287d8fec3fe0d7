package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/kjournal/kjournal/journal"
)

// pool bounds and reuses the consumers of Scan, as the original's ConsumerPool does.
//
// Each item is a sarama.Client of its own, on which one Scan at a time sends its Fetch requests.
// Items do not share a client: the users of one client share its broker connections, on which
// Kafka answers requests one at a time, so one scan's fetch would wait behind every other scan's,
// and behind a fetch waiting for records at the end of a partition.
type pool struct {
	cfg    Config
	sarama *sarama.Config
	m      *metrics
	logger hclog.Logger

	slots chan struct{} // one token per item acquired or being opened: the bound
	stop  chan struct{} // closed by close

	mu     sync.Mutex
	idle   []*poolItem // ordered by release, most recent last
	closed bool
	inUse  sync.WaitGroup // items acquired and not yet released
	bg     sync.WaitGroup // items being closed in the background

	janitorDone chan struct{}
}

// poolItem is one pooled consumer: a client and its connections.
type poolItem struct {
	client    sarama.Client
	idleSince time.Time
}

func newPool(cfg Config, m *metrics) *pool {
	p := &pool{
		cfg:         cfg,
		sarama:      cfg.consumerConfig(),
		m:           m,
		logger:      cfg.Logger,
		slots:       make(chan struct{}, cfg.PoolSize),
		stop:        make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	go p.janitor()
	return p
}

// acquire returns the most recently released idle item, or opens one, waiting while PoolSize items
// are in use. Every item acquired must be released.
func (p *pool) acquire(ctx context.Context) (*poolItem, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stop:
		return nil, journal.ErrClosed
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, journal.ErrClosed
	}
	p.inUse.Add(1)
	if n := len(p.idle); n > 0 {
		it := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return it, nil
	}
	p.mu.Unlock()

	// Opening dials the brokers, which does not watch ctx: do it aside, and if ctx ends first, let the
	// item go back to the pool once it is open.
	type opened struct {
		it  *poolItem
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		it, err := p.open()
		ch <- opened{it, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			p.inUse.Done()
			<-p.slots
			return nil, o.err
		}
		return o.it, nil
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.err == nil {
				p.release(o.it, false)
			} else {
				p.inUse.Done()
				<-p.slots
			}
		}()
		return nil, ctx.Err()
	}
}

func (p *pool) open() (*poolItem, error) {
	client, err := sarama.NewClient(p.cfg.Brokers, p.sarama)
	if err != nil {
		return nil, fmt.Errorf("%w: scan consumer: %w", journal.ErrKafkaUnavailable, err)
	}
	p.m.consumerOpened(PurposeScan)
	return &poolItem{client: client}, nil
}

// release returns it to the pool, or closes it when broken (it failed in a way that may have left
// it unusable) or when the pool is closed.
func (p *pool) release(it *poolItem, broken bool) {
	p.mu.Lock()
	if broken || p.closed {
		p.bg.Add(1) // before inUse.Done, so close's inUse.Wait then bg.Wait sees it
		p.mu.Unlock()
		go func() {
			defer p.bg.Done()
			p.closeItem(it)
		}()
	} else {
		it.idleSince = time.Now()
		p.idle = append(p.idle, it)
		p.mu.Unlock()
	}
	p.inUse.Done()
	<-p.slots
}

func (p *pool) closeItem(it *poolItem) {
	if err := it.client.Close(); err != nil {
		p.logger.Debug("closing scan consumer", "error", err)
	}
	p.m.consumerClosed(PurposeScan)
}

// janitor closes items idle for longer than PoolIdleTimeout.
func (p *pool) janitor() {
	defer close(p.janitorDone)
	t := time.NewTicker(max(p.cfg.PoolIdleTimeout/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			n := 0
			for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= p.cfg.PoolIdleTimeout {
				n++ // idle is ordered by release, oldest first
			}
			expired := append([]*poolItem(nil), p.idle[:n]...)
			p.idle = append(p.idle[:0], p.idle[n:]...)
			p.mu.Unlock()
			for _, it := range expired {
				p.closeItem(it)
			}
		}
	}
}

// close closes the idle items, makes waiting and future acquires fail with ErrClosed, and waits
// until the items in use have been released and closed.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	close(p.stop)
	p.mu.Unlock()
	for _, it := range idle {
		p.closeItem(it)
	}
	<-p.janitorDone
	p.inUse.Wait()
	p.bg.Wait()
}
