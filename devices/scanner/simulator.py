"""A serial scanner that "scans" codes on demand, over a pty or TCP.

Continuous mode: :meth:`ScannerSimulator.scan` sends a code at once. Triggered mode: codes
queued with :meth:`ScannerSimulator.queue_code` are sent when the trigger command arrives
(Honeywell ``16 54 0D`` or Newland ``1B 31``). Faults come from the server's FaultPlan.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from devices.scanner.protocol import TRIGGERS, Framing, frame_code
from devices.sim import SimServer


class ScannerSimulator:
    def __init__(
        self,
        *,
        framing: Framing = Framing.SUFFIX,
        suffix: bytes = b"\r\n",
        dialect: str = "honeywell",
    ) -> None:
        self.framing = framing
        self.suffix = suffix
        self.commands = TRIGGERS[dialect]
        self.server: SimServer | None = None
        self.triggered = threading.Event()
        self.released = threading.Event()
        self.trigger_count = 0
        self.release_count = 0
        self._queue: list[bytes] = []
        self._lock = threading.Lock()
        self._buf = bytearray()

    def frame(self, code: str | bytes, encoding: str = "utf-8") -> bytes:
        return frame_code(code, framing=self.framing, suffix=self.suffix, encoding=encoding)

    def scan(self, code: str | bytes, encoding: str = "utf-8") -> None:
        """Send a code now (continuous/presentation mode)."""
        if self.server is None:
            raise RuntimeError("simulator not attached to a server")
        self.server.send(self.frame(code, encoding))

    def queue_code(self, code: str | bytes, encoding: str = "utf-8") -> None:
        """Send this code on the next trigger."""
        with self._lock:
            self._queue.append(self.frame(code, encoding))

    def on_data(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        replies: list[bytes] = []
        while True:
            start = self._buf.find(self.commands.start)
            stop = self._buf.find(self.commands.stop)
            hits = [
                (i, c)
                for i, c in ((start, self.commands.start), (stop, self.commands.stop))
                if i >= 0
            ]
            if not hits:
                del self._buf[: max(0, len(self._buf) - 3)]
                return replies
            pos, cmd = min(hits)
            del self._buf[: pos + len(cmd)]
            if cmd == self.commands.start:
                self.trigger_count += 1
                self.triggered.set()
                with self._lock:
                    if self._queue:
                        replies.append(self._queue.pop(0))
            else:
                self.release_count += 1
                self.released.set()


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    baud: int | None = None,
    framing: Framing = Framing.SUFFIX,
    dialect: str = "honeywell",
) -> tuple[SimServer, ScannerSimulator]:
    """Start a scanner simulator on TCP; returns (server, simulator)."""
    sim = ScannerSimulator(framing=framing, dialect=dialect)
    server = SimServer(sim, baud=baud, name="scanner-sim")
    sim.server = server
    server.start_tcp(host, port)
    return server, sim


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted; each line typed on stdin is "scanned" (UTF-8).

    Options: ``framing`` (suffix/stx_etx), ``dialect`` (honeywell/newland), ``encoding``
    (utf-8/gb18030 for the typed codes).
    """
    server, sim = start(
        host,
        port,
        framing=Framing(opts.get("framing") or "suffix"),
        dialect=opts.get("dialect") or "honeywell",
    )
    encoding = opts.get("encoding") or "utf-8"
    print(
        f"scanner simulator listening on {server.host}:{server.port} ({server.url}); "
        "type a code and Enter to scan it",
        flush=True,
    )
    try:
        for line in sys.stdin:
            code = line.rstrip("\r\n")
            if code:
                sim.scan(code, encoding)
                sim.queue_code(code, encoding)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
