"""Stand-in devices the config selects: ``driver: simulator`` and ``driver: fake``.

The production adapter (:class:`kiosk.hardware.Hardware`) has no test hooks; these
drivers carry them, and ``hw.idcard`` / ``hw.scanner`` / ``hw.printer`` is one of them
only when ``kiosk.yaml`` says so:

* ``simulator`` — the devices package's simulator speaking the real wire protocol, read by
  the same driver a real device uses. The classes here add the hands a tester or a
  technician needs: put a card on the simulated reader (:meth:`SimulatedCardReader.present_card`),
  scan a code (:meth:`SimulatedScanner.inject_scan`), run the printer out of paper
  (:meth:`SimulatedPrinter.set_paper_out`; the kiosk learns it from ``DLE EOT`` replies).
* ``fake`` — in process, no wire protocol: fast, for unit tests and the bench. The same
  three hands; the fake printer records what it printed (``printed``: no personal data).

They live in the kiosk, not in ``devices/``: they stand in at the kiosk's own seam (a
:class:`CardIdentity` in, a :class:`TicketPrint` out), which ``devices`` must not import;
``devices`` has its own stand-ins at the wire (simulators, the ``dummy`` and ``virtual``
printers).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devices.errors import DeviceError, DeviceRefused
from devices.state import DeviceState, StatusHolder
from kiosk.catalogue import Notice
from kiosk.hardware import (
    CardReader,
    IdentityHandler,
    ReceiptPrinter,
    ScanCallback,
    Scanner,
    TicketPrint,
)
from kiosk.session import CardIdentity

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- ID card
class SimulatedCardReader(CardReader):
    """``driver: simulator``: ``IdCardSimulator`` on a pty (real line timing), read by the
    real driver."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.sim: Any = None  #: devices.idcard.simulator.IdCardSimulator
        self._placed: Any = None  #: a card the kiosk put on the simulator

    def start(self) -> None:
        super().start()
        self.sim = self.reader.simulator.handler

    def _read(self, identity: Any) -> None:
        self.sim.remove()  # a simulated card is taken off once read
        placed, self._placed = self._placed, None
        if placed is not None:  # the kiosk's copy was on the simulator: wipe it
            placed.wipe()
        super()._read(identity)

    def present_card(self, identity: CardIdentity | int = 1) -> None:
        """Put a card on the reader: a given identity, or an index into the simulator's
        sample holders. The real driver then reads it through the wire protocol (within
        one poll interval)."""
        placed: Any = None
        if isinstance(identity, CardIdentity):
            placed = to_device_identity(identity)
            self.sim.insert(placed)  # thread-safe; replaces any card on the reader
        else:
            self.sim.place_card(identity % max(1, len(self.sim.identities)))
        previous, self._placed = self._placed, placed
        if previous is not None:
            previous.wipe()  # replaced: the simulator no longer holds it

    def close(self) -> None:
        super().close()
        if self._placed is not None:
            self._placed.wipe()
            self._placed = None


class FakeCardReader:
    """``driver: fake``: a presented card is handed to the kiosk at once."""

    def __init__(
        self,
        _settings: Any,
        holder: StatusHolder,
        on_card: IdentityHandler,
        _on_error: Callable[[Exception], None],
    ) -> None:
        self.holder = holder
        self.on_card = on_card

    def start(self) -> None:
        self.holder.set(DeviceState.READY, "fake reader")

    def present_card(self, identity: CardIdentity | int = 1) -> None:
        """A card as if read: a given identity, or one of two sample holders."""
        self.on_card(identity if isinstance(identity, CardIdentity) else _sample(identity))

    def self_test(self) -> str:
        return self.holder.status.state.value

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- scanner
class SimulatedScanner(Scanner):
    """``driver: simulator``: ``ScannerSimulator`` on a pty read by ``SerialScanner``."""

    def inject_scan(self, code: str) -> None:
        """A code as if scanned: sent over the wire by the simulator."""
        self.scanner.simulator.handler.scan(code)


class FakeScanner:
    """``driver: fake``: an injected code is handed to the kiosk at once."""

    def __init__(self, _settings: Any, holder: StatusHolder, on_code: ScanCallback) -> None:
        self.holder = holder
        self.on_code = on_code

    def start(self) -> None:
        self.holder.set(DeviceState.READY, "fake scanner")

    def inject_scan(self, code: str) -> None:
        self.on_code(code)

    def self_test(self) -> str:
        return self.holder.status.state.value

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- printer
class SimulatedPrinter(ReceiptPrinter):
    """``driver: simulator``: ``PrinterSimulator`` (a ``VirtualPrinter`` behind TCP on
    127.0.0.1, PNG previews in ``preview_dir``) printed to by the real driver with
    ``escpos`` on ``socket://127.0.0.1:PORT``."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.sim: Any = None  #: devices.printer.simulator.PrinterSimulator
        self.virtual: Any = None  #: its VirtualPrinter (receipts, paper state)

    def start(self) -> None:
        from devices.printer.settings import PrinterSettings
        from devices.printer.simulator import PrinterSimulator

        preview = self.settings.preview_dir
        if preview is not None:
            Path(preview).mkdir(parents=True, exist_ok=True)
        self.sim = PrinterSimulator("127.0.0.1", 0, preview_dir=preview).start()
        self.virtual = self.sim.virtual
        fields = self.settings.model_dump(exclude={"driver", "port", "preview_dir"})
        self._open(PrinterSettings(driver="escpos", port=self.sim.url, **fields))

    def set_paper_out(self, out: bool) -> None:
        """Run the printer out of paper (or refill it). The kiosk learns it the way it
        would from a real printer: from its ``DLE EOT`` replies."""
        self.virtual.paper = "out" if out else "ok"
        try:
            self.printer.refresh_status()
        except DeviceError as err:
            log.info("printer status: %s", err)

    def close(self) -> None:
        super().close()
        if self.sim is not None:
            self.sim.stop()


class FakePrinter:
    """``driver: fake``: records what was printed (``"ticket"``, ``"notice ID"``,
    ``"test page"``: no personal data); can run out of paper."""

    def __init__(self, _settings: Any, holder: StatusHolder) -> None:
        self.holder = holder
        self.printed: list[str] = []
        self.paper_out = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.holder.set(DeviceState.READY, "fake printer")

    def set_paper_out(self, out: bool) -> None:
        self.paper_out = out
        self.holder.set(
            DeviceState.FAULT if out else DeviceState.READY,
            "paper out" if out else "fake printer",
        )

    def _print(self, what: str) -> None:
        if self.paper_out:
            raise DeviceRefused("paper out")
        with self._lock:
            self.printed.append(what)
            del self.printed[:-50]

    def print_ticket(self, _t: TicketPrint) -> None:
        self._print("ticket")

    def print_notice(
        self, notice: Notice, _hall_name: str, _contact: str, _issued_at: dt.datetime
    ) -> None:
        self._print(f"notice {notice.id}")

    def print_test_page(self) -> None:
        self._print("test page")

    def self_test(self) -> str:
        return self.holder.status.state.value

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- cards
def to_device_identity(card: CardIdentity) -> Any:
    """A ``devices.idcard.Identity`` for the simulator (resident card, valid for life)."""
    from devices.idcard.identity import CardType, Identity, Sex

    seq = card.id_number[16:17]
    sex = Sex.UNSPECIFIED if not seq.isdigit() else Sex.MALE if int(seq) % 2 else Sex.FEMALE
    return Identity(
        card_type=CardType.RESIDENT,
        name=card.name,
        sex=sex,
        birth_date=card.birth_date,
        id_number=card.id_number,
        valid_from=dt.date(2015, 1, 1),
        valid_to=None,
        ethnicity_code="01",
        address=card.address,
        authority="测试公安分局",
        photo=bytes(1024),
    )


_SAMPLES = [
    ("李秀英", "110101195003071234", dt.date(1950, 3, 7), "北京市东城区景山前街4号院2号楼301"),
    ("王小明", "350102199001011234", dt.date(1990, 1, 1), "福州市鼓楼区五四路100号"),
]


def _sample(i: int) -> CardIdentity:
    name, num, born, addr = _SAMPLES[i % len(_SAMPLES)]
    return CardIdentity(name=name, id_number=num, birth_date=born, address=addr)
