"""P2 (pipelined) of `make bench`: appends/s of the asyncio client with many appends in flight.

Run by internal/bench (the Go driver) with the venv's python::

    python append_pipelined.py --socket S --topic T --journal-prefix J --journals 1000 \
        --connections 4 --count 60000 --warmup 5000

One coroutine per journal ``<J>_<i>`` (so ``--journals`` appends are in flight at once), journal i on
connection i % ``--connections`` (an :class:`AsyncClient` each), each appending single events with
seq_nrs 1, 2, … and a random binary payload of ``--payload-bytes`` until ``--count`` appends are
done in total. ``--warmup`` appends go first to journals ``<J>w_<i>`` and are not timed. Prints one
JSON object on stdout: ``{"records_per_s": r, "appends": n, "client": "kjournal-python/<version>"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import kjournal
from kjournal import AsyncClient, Event


async def run(clients: list[AsyncClient], topic: str, prefix: str, journals: int, count: int, payload: bytes) -> float:
    left = count

    async def writer(i: int) -> None:
        nonlocal left
        j = clients[i % len(clients)].journal(f"{prefix}_{i:04d}", topic=topic)
        seq = 0
        while left > 0:
            left -= 1
            seq += 1
            await j.append([Event(seq, payload)])

    start = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(journals)))
    return count / (time.perf_counter() - start)


async def main_async(args: argparse.Namespace) -> float:
    payload = os.urandom(args.payload_bytes)
    clients = [AsyncClient(args.socket) for _ in range(args.connections)]
    try:
        for c in clients:
            await c.connect()
        await run(clients, args.topic, args.journal_prefix + "w", args.journals, args.warmup, payload)
        return await run(clients, args.topic, args.journal_prefix, args.journals, args.count, payload)
    finally:
        for c in clients:
            await c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--journal-prefix", required=True)
    ap.add_argument("--journals", type=int, required=True)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--payload-bytes", type=int, default=200)
    args = ap.parse_args()
    rate = asyncio.run(main_async(args))
    version = getattr(kjournal, "__version__", "unknown")
    json.dump({"records_per_s": rate, "appends": args.count, "client": f"kjournal-python/{version}"}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
