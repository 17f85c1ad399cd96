"""Controller commands: drop expired ones, execute each id at most once (pure logic).

The ids already executed are kept in a small SQLite table next to the outbox, so a command
redelivered after a restart is not executed twice either.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from hall_contract.messages import Command, CommandResult

SUPPORTED = frozenset({"reload_config", "set_mode", "print_test_page", "restart", "self_test"})
MODES = frozenset({"normal", "elderly", "maintenance", "service"})


class CommandGate:
    def __init__(self, path: str | Path | None = None, keep: int = 500) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL)")
        self._keep = keep

    def admit(self, cmd: Command, now: float | None = None) -> CommandResult | None:
        """None when the command should run now; else the result to send without running.
        A duplicate returns None-or-result only once: a second copy is silently dropped
        (returns a result with ``ok`` True and message 'duplicate')."""
        now = time.time() if now is None else now
        with self._lock:
            if self._db.execute("SELECT 1 FROM seen WHERE id=?", (cmd.id,)).fetchone():
                return CommandResult(id=cmd.id, ok=True, message="duplicate: already executed")
            self._db.execute("INSERT INTO seen (id, at) VALUES (?, ?)", (cmd.id, now))
            self._db.execute(
                "DELETE FROM seen WHERE id NOT IN (SELECT id FROM seen ORDER BY at DESC LIMIT ?)",
                (self._keep,),
            )
        if cmd.expires_at < now:
            return CommandResult(id=cmd.id, ok=False, message="expired")
        if cmd.cmd == "set_mode" and cmd.args.get("mode") not in MODES:
            return CommandResult(
                id=cmd.id, ok=False, message=f"unknown mode {cmd.args.get('mode')!r}"
            )
        return None

    def close(self) -> None:
        self._db.close()
