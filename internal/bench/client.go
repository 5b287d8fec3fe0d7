package main

import (
	"context"
	"fmt"

	"github.com/kjournal/kjournal/internal/sockclient"
	"github.com/kjournal/kjournal/protocol"
)

// sockClient is the Go socket client of the bench: a sockclient.Conn (one Unix-socket connection
// speaking protocol version 1 with the protocol package's codec, multiplexing requests by id) plus the
// operations the scenarios need. It is what an application written from PROTOCOL.md does, without a
// client library's conveniences, so its latency is the sidecar's plus the socket's.
type sockClient struct {
	*sockclient.Conn
}

// dialSidecar connects to the socket and says hello.
func dialSidecar(ctx context.Context, path string) (*sockClient, error) {
	c, err := sockclient.Dial(ctx, path, "kjournal-bench/0.1.0")
	if err != nil {
		return nil, err
	}
	return &sockClient{c}, nil
}

// appendEvents appends events to journal and returns where Kafka stored them.
func (c *sockClient) appendEvents(ctx context.Context, topic, journalID string, events []protocol.Event) (*protocol.AppendReply, error) {
	rep, err := c.Do(ctx, &protocol.AppendRequest{Journal: journalID, Topic: topic, Events: events})
	if err != nil {
		return nil, err
	}
	ar, ok := rep.(*protocol.AppendReply)
	if !ok {
		return nil, fmt.Errorf("append: unexpected reply %T", rep)
	}
	return ar, nil
}

// readResult is what a full read returned.
type readResult struct {
	events  int
	lastSeq int64
	highest int64
}

// readAll reads a whole journal granting credit as events arrive, as the Python client does: credit
// up front, then what was consumed each time half of it was consumed.
func (c *sockClient) readAll(ctx context.Context, topic, journalID string, credit uint32) (readResult, error) {
	var res readResult
	id, ch, err := c.Send(&protocol.ReadRequest{Journal: journalID, Topic: topic, Credit: credit}, int(credit)+2)
	if err != nil {
		return res, err
	}
	var unacked uint32
	for {
		rep, err := sockclient.Await(ctx, ch)
		if err != nil {
			if ctx.Err() != nil {
				_, _, _ = c.Send(&protocol.CancelRequest{ID: id}, 0)
			}
			return res, err
		}
		switch r := rep.(type) {
		case *protocol.ReadEvents:
			res.events += len(r.Events)
			res.lastSeq = r.Events[len(r.Events)-1].SeqNr
			unacked += uint32(len(r.Events))
			if unacked >= credit/2 {
				if _, _, err := c.Send(&protocol.CreditRequest{ID: id, N: unacked}, 0); err != nil {
					return res, err
				}
				unacked = 0
			}
		case *protocol.ReadEnd:
			res.highest = r.HighestSeqNr
			return res, nil
		default:
			return res, fmt.Errorf("read: unexpected reply %T", rep)
		}
	}
}

// openRead starts a read stream with credit and returns its id and replies, for a reader that steers
// the credit itself (the stalled reader of P6).
func (c *sockClient) openRead(topic, journalID string, credit uint32, buffer int) (uint64, <-chan protocol.Reply, error) {
	return c.Send(&protocol.ReadRequest{Journal: journalID, Topic: topic, Credit: credit}, buffer)
}

func (c *sockClient) ping(ctx context.Context) error {
	_, err := c.Do(ctx, &protocol.PingRequest{})
	return err
}
