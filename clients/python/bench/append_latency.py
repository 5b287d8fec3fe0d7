"""P1 of `make bench`: the latency of sequential single-event appends with the sync client.

Run by internal/bench (the Go driver) with the venv's python::

    python append_latency.py --socket S --topic T --journal J --count 2000 --warmup 200

It first appends ``--warmup`` events to the journal ``<J>-warmup`` (connection, imports and the
sidecar's path warmed up, not measured), then ``--count`` events, one append each, to ``J`` with
seq_nrs 1..count and a random binary payload of ``--payload-bytes``, and prints one JSON object on
stdout: ``{"latencies_ns": [...], "client": "kjournal-python/<version>"}``, each latency the time
``Journal.append`` took, from the call until it returned the Kafka acknowledgement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import kjournal
from kjournal import Client, Event


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--journal", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--payload-bytes", type=int, default=200)
    args = ap.parse_args()

    payload = os.urandom(args.payload_bytes)
    latencies: list[int] = []
    with Client(args.socket) as c:
        warm = c.journal(args.journal + "-warmup", topic=args.topic)
        for seq in range(1, args.warmup + 1):
            warm.append([Event(seq, payload)])
        j = c.journal(args.journal, topic=args.topic)
        clock = time.perf_counter_ns
        for seq in range(1, args.count + 1):
            ev = Event(seq, payload)
            start = clock()
            j.append([ev])
            latencies.append(clock() - start)
    version = getattr(kjournal, "__version__", "unknown")
    json.dump({"latencies_ns": latencies, "client": f"kjournal-python/{version}"}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
