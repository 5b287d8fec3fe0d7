"""kjournal end-to-end demo: a Python application talking to the sidecar on its Unix socket.

Run by `make demo` (deploy/local/demo.sh) with the local stack up; prints what it does and exits
non-zero if anything is not as expected.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta

from kjournal import Client, Event


def main() -> int:
    journal_id = f"demo-order-{uuid.uuid4().hex[:8]}"
    with Client() as client:
        orders = client.journal(journal_id)
        print(f"journal {journal_id!r} on the sidecar's default topic")

        at = orders.append(
            [
                Event(1, {"type": "created", "amount": 100}, tags={"order"}),
                Event(2, "note: gift wrap"),
                Event(3, b"\x00\x01\x02", tags={"binary"}),
            ],
            expire_after=timedelta(days=30),
            metadata={"trace": "demo"},
        )
        print(f"appended 1..3 -> Kafka partition {at.partition}, offset {at.offset} (acknowledged by Kafka)")

        stream = orders.read()
        for r in stream:
            print(f"  read seq_nr={r.seq_nr} {r.payload_type:6} {r.payload!r:40} tags={sorted(r.tags)}")
        print(f"  highest seq_nr reported by the read: {stream.highest_seq_nr}")
        assert [r.seq_nr for r in orders.read()] == [1, 2, 3]

        orders.delete(1)
        remaining = [r.seq_nr for r in orders.read()]
        print(f"deleted up to 1 -> read {remaining}, pointer {orders.pointer()}")
        assert remaining == [2, 3] and orders.pointer() == 3

    # Tell demo.sh which journal to look for in Cassandra.
    print(f"JOURNAL_ID={journal_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
