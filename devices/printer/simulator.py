"""A simulated ESC/POS receipt printer on a pty or a TCP socket (development and tests).

The wire side is :class:`devices.sim.SimServer`, like every other simulator: a pty (the
driver opens the slave path as a serial printer) or TCP on 127.0.0.1 (driver ``escpos``
with ``port = "socket://127.0.0.1:PORT"``, or driver ``network``), optional real line
timing (``baud``), and the same fault injection (``sim.faults.inject(Fault.X)``):

* ``no_reply`` — a ``DLE EOT`` request gets no answer (status *unknown*);
* ``partial`` — a status reply is one byte, so it goes out whole (nothing to split);
* ``corrupt`` — the status byte is flipped into an invalid one (status *unknown*);
* ``slow`` — replies at ``slow_baud``;
* ``unplug`` — the line closes; :meth:`PrinterSimulator.replug` brings it back.

Every received byte goes to a :class:`VirtualPrinter`, whose replies are sent back;
receipt previews are written as PNG files into ``preview_dir`` by the virtual printer's
preview worker, never on the connection thread: ``DLE EOT`` is answered at once even
right after a print (the driver's status timeout is 0.5 s).

    python -m devices simulate printer --listen 127.0.0.1:9100 --preview-dir /tmp/receipts
    python -m devices simulate printer --width 80 --paper near_end --cover-open
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from devices.printer.virtual import PaperState, Receipt, VirtualPrinter
from devices.sim import FaultPlan, SimServer

log = logging.getLogger(__name__)


class PrinterHandler:
    """:class:`devices.sim.Handler` of a printer: bytes to the virtual printer, replies back."""

    def __init__(self, virtual: VirtualPrinter) -> None:
        self.virtual = virtual

    def on_data(self, data: bytes) -> list[bytes]:
        reply = self.virtual.feed(data)
        # one status byte per reply frame, so a fault hits one DLE EOT answer
        return [bytes([b]) for b in reply]

    @staticmethod
    def redact(data: bytes) -> str:
        """Receipts carry names and tickets: log sizes only, never the text."""
        return f"<{len(data)} bytes>"


class PrinterSimulator:
    """The simulator as an object: ``with PrinterSimulator() as sim: sim.url ...``.

    ``transport`` is ``"tcp"`` (default; ``host``/``port``, port 0 = any free one) or
    ``"pty"`` (``link_path``: an optional stable symlink to the pty).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        virtual: VirtualPrinter | None = None,
        preview_dir: str | Path | None = None,
        paper: PaperState = "ok",
        cover_open: bool = False,
        cutter_error: bool = False,
        width_chars: int = 32,
        requires_kanji_mode: bool = False,
        transport: str = "tcp",
        link_path: str | None = None,
        baud: int | None = None,
    ) -> None:
        self.virtual = virtual or VirtualPrinter(
            preview_dir=preview_dir,
            paper=paper,
            width_chars=width_chars,
            requires_kanji_mode=requires_kanji_mode,
        )
        if virtual is None:
            self.virtual.cover_open = cover_open
            self.virtual.cutter_error = cutter_error
        self.host = host
        self.port = port
        self.transport = transport
        self.link_path = link_path
        self.server = SimServer(PrinterHandler(self.virtual), baud=baud, name="printer-sim")

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    @property
    def address(self) -> tuple[str, int]:
        return self.server.host, self.server.port

    @property
    def url(self) -> str:
        """The pyserial URL for :class:`~devices.printer.settings.PrinterSettings.port`."""
        return self.server.url

    def start(self) -> PrinterSimulator:
        if self.transport == "pty":
            self.server.start_pty(self.link_path)
        else:
            self.server.start_tcp(self.host, self.port)
        return self

    def unplug(self) -> None:
        self.server.unplug()

    def replug(self) -> None:
        self.server.replug()

    def stop(self, preview_timeout: float = 5.0) -> None:
        """Stop serving, then let the previews still queued be written (bounded wait)."""
        self.server.stop()
        if not self.virtual.wait_for_previews(preview_timeout):
            log.warning("printer simulator stopped with previews still being written")

    def __enter__(self) -> PrinterSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(number: int, receipt: Receipt) -> str:
    """One line per receipt for the technician watching the simulator (no receipt text)."""
    parts = [
        f"receipt {number}: {len(receipt.text_lines)} text lines",
        f"{len(receipt.qr_codes)} QR",
        f"cut {receipt.cut or '-'}",
    ]
    if receipt.lost:
        parts.append("LOST (paper out or cover open)")
    if receipt.preview is not None:
        parts.append(f"preview {receipt.preview}")
    return ", ".join(parts)


#: Paper width in mm → columns of font A (the ``width_chars`` of the settings).
PAPER_COLUMNS = {58: 32, 80: 48}


def describe_state(virtual: VirtualPrinter) -> str:
    """The simulated printer's paper and faults in plain words (its startup line)."""
    mm = {v: k for k, v in PAPER_COLUMNS.items()}.get(virtual.width_chars)
    width = (
        f"{mm} mm paper ({virtual.width_chars} columns)"
        if mm
        else (f"{virtual.width_chars} columns")
    )
    state = {"ok": "paper ok", "near_end": "paper near end", "out": "PAPER OUT"}[virtual.paper]
    faults = [
        w
        for on, w in ((virtual.cover_open, "COVER OPEN"), (virtual.cutter_error, "CUTTER ERROR"))
        if on
    ]
    return ", ".join([width, state, *faults])


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted. Options: ``preview_dir``, ``paper`` (ok/near_end/out),
    ``cover_open``, ``cutter_error``, ``width_chars`` (or ``width_mm``: 58/80),
    ``requires_kanji_mode``, ``baud``. Prints the URL (``port`` 0 allowed) and the
    simulated state, then one line per printed receipt."""
    if opts.get("width_mm") is not None:
        opts["width_chars"] = PAPER_COLUMNS[int(opts["width_mm"])]
    known = {
        "preview_dir",
        "paper",
        "cover_open",
        "cutter_error",
        "width_chars",
        "requires_kanji_mode",
        "baud",
    }
    sim = PrinterSimulator(
        host, port, **{k: v for k, v in opts.items() if k in known and v is not None}
    )
    sim.start()
    bound_host, bound_port = sim.address
    print(
        f"printer simulator listening on {bound_host}:{bound_port} ({sim.url});"
        f" {describe_state(sim.virtual)}",
        flush=True,
    )
    seen = 0
    try:
        while True:
            if sim.virtual.wait_for_receipts(seen + 1, timeout=1.0):
                sim.virtual.wait_for_previews(5.0)  # so the line can name the PNG
                for receipt in sim.virtual.receipts[seen:]:
                    seen += 1
                    print(describe(seen, receipt), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
