"""A small event-sourced application on kjournal: bank accounts and a balance projection.

* ``Account`` is the aggregate. Its state is rebuilt from its journal with ``recover()`` (the latest
  snapshot plus the events after it); a command appends its events with ``expected_seq_nr`` (the
  version the command was decided on), so that two writers racing on one account cannot both win: the
  loser gets ``WrongExpectedSeqNrError``, recovers, and decides again. Every ``SNAPSHOT_EVERY`` events a
  snapshot of the state is saved, so recovery reads at most that many events.
* ``BalancesProjection`` is a read model fed by ``subscribe_all``: every event of the topic, with its
  position. It stores its state and its positions together in one file after each event, so a restart
  resumes exactly after the last event it applied.

Run by ``make demo`` (deploy/local/demo.sh) against the local stack; also runnable on its own with
``KJOURNAL_SOCKET`` set. It prints what happens and exits non-zero if the projection and the accounts
disagree.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from kjournal import Client, Event, Position, TopicEventRecord, WrongExpectedSeqNrError

SNAPSHOT_EVERY = 5


# -- the aggregate ----------------------------------------------------------------------------------


class InsufficientFunds(Exception):
    pass


@dataclass
class Account:
    """An account's state: its balance, and the seq_nr of the last event applied (its version)."""

    id: str
    balance: int = 0
    version: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        if event["type"] == "deposited":
            self.balance += event["amount"]
        elif event["type"] == "withdrawn":
            self.balance -= event["amount"]

    # Commands decide on the current state and return the events to append.
    def deposit(self, amount: int) -> list[dict[str, Any]]:
        return [{"type": "deposited", "amount": amount}]

    def withdraw(self, amount: int) -> list[dict[str, Any]]:
        if amount > self.balance:
            raise InsufficientFunds(f"{self.id}: balance {self.balance}, cannot withdraw {amount}")
        return [{"type": "withdrawn", "amount": amount}]


@dataclass
class Accounts:
    """Loads accounts from their journals and runs commands on them."""

    client: Client
    topic: str
    conflicts: int = 0
    snapshots: int = 0

    def load(self, account_id: str) -> Account:
        rec = self.client.journal(account_id, self.topic).recover()
        account = Account(account_id)
        if rec.snapshot is not None:
            account.balance = rec.snapshot.payload["balance"]
            account.version = rec.snapshot.seq_nr
        for r in rec.events:
            account.apply(r.payload)
            account.version = r.seq_nr
        account.version = rec.highest_seq_nr or account.version
        return account

    def run(self, account_id: str, command: str, amount: int) -> Account:
        """Decide ``command`` on the account's current state and append its events; on a conflict
        with another writer, recover and decide again."""
        journal = self.client.journal(account_id, self.topic)
        while True:
            account = self.load(account_id)
            events = getattr(account, command)(amount)
            first = account.version + 1
            try:
                journal.append(
                    [Event(first + i, e) for i, e in enumerate(events)],
                    expected_seq_nr=account.version,
                )
            except WrongExpectedSeqNrError:
                self.conflicts += 1
                continue
            for e in events:
                account.apply(e)
            before, account.version = account.version, account.version + len(events)
            if account.version // SNAPSHOT_EVERY > before // SNAPSHOT_EVERY:
                journal.save_snapshot(account.version, {"balance": account.balance})
                self.snapshots += 1
            return account


# -- the projection ---------------------------------------------------------------------------------


@dataclass
class BalancesProjection:
    """Total balance per account and number of events, stored with its positions in ``path``."""

    path: str
    balances: dict[str, int] = field(default_factory=dict)
    events: int = 0
    positions: dict[int, Position] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str) -> BalancesProjection:
        p = cls(path)
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            p.balances, p.events = saved["balances"], saved["events"]
            p.positions = {int(k): Position(*v) for k, v in saved["positions"].items()}
        return p

    def apply(self, r: TopicEventRecord) -> None:
        amount = r.payload["amount"] if r.payload["type"] == "deposited" else -r.payload["amount"]
        self.balances[r.journal] = self.balances.get(r.journal, 0) + amount
        self.events += 1
        self.positions[r.partition] = r.position
        self.store()

    def store(self) -> None:
        # State and positions in one atomic write: after a crash the projection resumes exactly
        # after the last event whose effect it stored.
        saved = {"balances": self.balances, "events": self.events,
                 "positions": {str(p): list(pos) for p, pos in self.positions.items()}}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path))
        with os.fdopen(fd, "w") as f:
            json.dump(saved, f)
        os.replace(tmp, self.path)

    def run(self, topic: str, until_events: int) -> None:
        """Apply the topic's events from the stored positions on (the others from the earliest),
        until ``until_events`` events were applied in all."""
        with Client() as client:
            for r in client.subscribe_all(topic, after=self.positions.values()):
                self.apply(r)
                if self.events >= until_events:
                    return  # leaving the loop cancels the subscription


# -- the demo ---------------------------------------------------------------------------------------


def main() -> int:
    topic = f"journal-bank-{uuid.uuid4().hex[:8]}"  # the stack's replicator copies "journal*" topics
    ids = [f"account-{i}" for i in range(1, 4)]
    state_dir = tempfile.mkdtemp(prefix="kjournal-bank-")
    projection_file = os.path.join(state_dir, "balances.json")
    print(f"topic {topic}; projection state in {projection_file}")

    with Client() as client:
        accounts = Accounts(client, topic)
        for i, account_id in enumerate(ids):
            accounts.run(account_id, "deposit", 100 * (i + 1))

        # The projection follows the topic in a thread while commands run.
        projection = BalancesProjection.open(projection_file)
        first_run = threading.Thread(target=projection.run, args=(topic, 10), daemon=True)
        first_run.start()

        # Two writers race on account-1: expected_seq_nr lets exactly one win each round.
        writers: list[Accounts] = []

        def writer(n: int) -> None:
            with Client() as own:
                mine = Accounts(own, topic)
                writers.append(mine)
                for _ in range(6):
                    mine.run("account-1", "deposit", n)

        racers = [threading.Thread(target=writer, args=(n,)) for n in (1, 10)]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        accounts.conflicts += sum(w.conflicts for w in writers)
        accounts.snapshots += sum(w.snapshots for w in writers)
        for account_id in ids[1:]:
            accounts.run(account_id, "withdraw", 50)
            try:
                accounts.run(account_id, "withdraw", 10_000)
            except InsufficientFunds as e:
                print(f"rejected: {e}")
        first_run.join(timeout=30)
        print(f"projection stopped after {projection.events} events at positions "
              f"{sorted(projection.positions.values())}")

        # More events while no projection runs; then a new projection process resumes from the file.
        for account_id in ids:
            accounts.run(account_id, "deposit", 7)
        total = sum(accounts.load(a).version for a in ids)
        resumed = BalancesProjection.open(projection_file)
        print(f"projection resumes from its file: {resumed.events} events applied so far")
        second_run = threading.Thread(target=resumed.run, args=(topic, total), daemon=True)
        second_run.start()
        second_run.join(timeout=30)

        print(f"{accounts.conflicts} expected_seq_nr conflicts retried, {accounts.snapshots} snapshots saved")
        ok = resumed.events == total
        for account_id in ids:
            account = accounts.load(account_id)
            rec = client.journal(account_id, topic).recover()
            snap = rec.snapshot.seq_nr if rec.snapshot else None
            print(f"  {account_id}: balance {account.balance} at version {account.version} "
                  f"(recovered from snapshot {snap} + {len(rec.events)} events); "
                  f"projection says {resumed.balances.get(account_id)}")
            ok = ok and resumed.balances.get(account_id) == account.balance
        print(f"projection: {resumed.events} events, {total} appended")
    shutil.rmtree(state_dir)
    if not ok:
        print("bank: the projection disagrees with the accounts", file=sys.stderr)
        return 1
    print("bank: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
