"""A TCP server that behaves like a network/serial ESC/POS printer (for development and tests).

The driver reaches it with ``port = "socket://127.0.0.1:PORT"`` (driver ``escpos``) or
driver ``network``. Every received byte goes to a :class:`VirtualPrinter`, whose replies
(``DLE EOT`` status) are sent back. Receipt previews are written as PNG files into
``preview_dir``.

    python -m devices printer-sim --port 9100 --preview-dir /tmp/receipts   # via the CLI
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from devices.printer.virtual import PaperState, VirtualPrinter

log = logging.getLogger(__name__)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(0.2)
        log.info("printer simulator: client %s connected", self.client_address)
        while not self.server.stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            reply = self.server.virtual.feed(data)
            if reply:
                try:
                    sock.sendall(reply)
                except OSError:
                    break
        log.info("printer simulator: client %s left", self.client_address)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = True

    def __init__(self, address: tuple[str, int], virtual: VirtualPrinter) -> None:
        self.virtual = virtual
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class PrinterSimulator:
    """The simulator as an object: ``with PrinterSimulator() as sim: sim.url ...``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        virtual: VirtualPrinter | None = None,
        preview_dir: str | Path | None = None,
        paper: PaperState = "ok",
        width_chars: int = 32,
        requires_kanji_mode: bool = False,
    ) -> None:
        self.virtual = virtual or VirtualPrinter(
            preview_dir=preview_dir,
            paper=paper,
            width_chars=width_chars,
            requires_kanji_mode=requires_kanji_mode,
        )
        self._server = _Server((host, port), self.virtual)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The pyserial URL for :class:`~devices.printer.settings.PrinterSettings.port`."""
        host, port = self.address
        return f"socket://{host}:{port}"

    def start(self) -> PrinterSimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="printer-sim"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> PrinterSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted. Options: ``preview_dir``, ``paper`` (ok/near_end/out),
    ``width_chars``, ``requires_kanji_mode``. Prints the bound port (``port`` 0 allowed)."""
    known = {"preview_dir", "paper", "width_chars", "requires_kanji_mode"}
    sim = PrinterSimulator(
        host, port, **{k: v for k, v in opts.items() if k in known and v is not None}
    )
    bound_host, bound_port = sim.address
    print(
        f"printer simulator listening on {bound_host}:{bound_port} (socket://{bound_host}:{bound_port})",
        flush=True,
    )
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim._server.stopping.set()
        sim._server.server_close()
