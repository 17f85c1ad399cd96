"""A local on-disk outbox for requests that must reach the hall even when it is offline.

Ratings, help requests and 办不成事 reports are written here (SQLite, WAL) with their
request id *before* the first send. :meth:`Outbox.deliver` sends each pending entry with
its original id and marks it delivered when the controller replies; the controller
deduplicates by id, so a reply lost in a broker restart costs a resend, never a second
rating. Mailing addresses are never queued here. A rating's free-text comment may hold
what a person typed about themselves: once an entry is delivered its payload is erased
(only the id and result stay, for deduplication), and closed entries are deleted after
``KEEP_CLOSED_S`` (``secure_delete``: the freed pages are zeroed).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hall_contract.messages import ErrorCode, Reply

log = logging.getLogger(__name__)

#: Ops the outbox accepts (no personal data in their payloads).
OUTBOX_OPS = frozenset({"rating.submit", "help.request"})
#: Error codes (``ErrorInfo.code``) that are final: retrying would never succeed, so the
#: entry is closed.
FINAL_ERRORS: frozenset[str] = frozenset(
    c.value
    for c in (
        ErrorCode.BAD_REQUEST,
        ErrorCode.CONFLICT,
        ErrorCode.NOT_FOUND,
        ErrorCode.FORBIDDEN,
        ErrorCode.UNKNOWN_OP,
    )
)

Sender = Callable[[str, dict[str, Any]], Reply[Any]]
KEEP_CLOSED_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Entry:
    id: str
    op: str
    payload: dict[str, Any]
    created: float
    attempts: int


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, op TEXT NOT NULL,"
            " payload TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
            " delivered REAL, result TEXT)"
        )
        self._db.execute("DELETE FROM outbox WHERE delivered < ?", (time.time() - KEEP_CLOSED_S,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, op: str, payload: dict[str, Any]) -> str:
        if op not in OUTBOX_OPS:
            raise ValueError(f"{op} is not sent through the outbox")
        rid = str(payload["id"])
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (id, op, payload, created) VALUES (?, ?, ?, ?)",
                (rid, op, json.dumps(payload, ensure_ascii=False), time.time()),
            )
        return rid

    def pending(self) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, op, payload, created, attempts FROM outbox"
                " WHERE delivered IS NULL ORDER BY created"
            ).fetchall()
        return [Entry(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def pending_count(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered IS NULL").fetchone()[
                    0
                ]
            )

    def result(self, rid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT result FROM outbox WHERE id=?", (rid,)).fetchone()
        return row[0] if row else None

    def mark(self, rid: str, result: str) -> None:
        """Close an entry; its payload is erased (the id alone deduplicates)."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET delivered=?, result=?, payload='{}' WHERE id=?",
                (time.time(), result, rid),
            )

    def settle(self, rid: str, reply: Reply[Any]) -> bool:
        """Close the entry when the reply is final (success, or an error a retry cannot
        mend); keep it for another delivery otherwise. True when closed."""
        if reply.ok:
            self.mark(rid, "ok")
            return True
        if reply.error is not None and reply.error.code in FINAL_ERRORS:
            self.mark(rid, f"error:{reply.error.code}")
            return True
        return False

    def deliver(self, send: Sender) -> int:
        """Send every pending entry once; returns how many were closed. Stops at the first
        transport failure (the controller is gone again). One delivery run at a time."""
        if not self._deliver_lock.acquire(blocking=False):
            return 0
        try:
            done = 0
            for e in self.pending():
                with self._lock:
                    self._db.execute("UPDATE outbox SET attempts=attempts+1 WHERE id=?", (e.id,))
                try:
                    reply = send(e.op, dict(e.payload))
                except Exception as err:  # RequestTimeout, broker gone
                    log.info("outbox: %s not delivered yet (%s)", e.op, type(err).__name__)
                    break
                if not self.settle(e.id, reply):
                    log.info("outbox: %s refused for now", e.op)
                    break
                done += 1
            return done
        finally:
            self._deliver_lock.release()
