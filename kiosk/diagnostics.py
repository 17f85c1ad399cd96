"""The technicians' screen: PIN, device states and last errors, self-test, test page,
simulated card and scan (where a simulator or fake is configured), versions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)


class Diagnostics:
    def __init__(self, k: Kiosk) -> None:
        self.k = k

    def open_pin(self) -> None:
        self.k.pin = ""
        self.k.go("pin")

    def pin_key(self, key: str) -> None:
        k = self.k
        k.touch()
        if key == "del":
            k.pin = k.pin[:-1]
        elif key == "ok":
            if k.pin == k.cfg.diagnostics_pin:
                k.pin = ""
                k.diag_unlocked = True
                k.go("diag")
                return
            k.pin = ""
            k.banner = ("pin_bad", {})
        elif key.isdigit() and len(k.pin) < 8:
            k.pin += key
        k.changed()

    def diag_self_test(self) -> None:
        k = self.k

        def done(r: Any, e: BaseException | None) -> None:
            k.self_test_result = r if e is None else {"error": str(e)}
            k.changed()

        k._bg(k.hw.self_test, done)

    def diag_test_page(self) -> None:
        k = self.k

        def done(_r: Any, e: BaseException | None) -> None:
            k.self_test_result = {"test_page": "printed" if e is None else str(e)}
            k.changed()

        k._bg(k.hw.print_test_page, done)

    def simulate_card(self) -> None:
        """ "Simulate card": a sample card on the reader, where the config runs a simulated
        or fake one (:mod:`kiosk.fakes`); a real reader has no such hand."""
        present = getattr(self.k.hw.idcard, "present_card", None)
        if present is None:
            log.info("simulate card: the ID card reader is not a simulator")
            return
        self.k.pool.submit(present, 0)

    def simulate_scan(self) -> None:
        """ "Simulate scan": a demo code on a simulated or fake scanner."""
        inject = getattr(self.k.hw.scanner, "inject_scan", None)
        if inject is None:
            log.info("simulate scan: the scanner is not a simulator")
            return
        inject("tok-demo")

    def diagnostics(self) -> dict[str, str]:
        from kiosk.link import VERSION

        k = self.k
        out = {
            f"device {d}": f"{s.state.value} {s.reason}".strip()
            for d, s in sorted(k.hw.statuses().items())
        }
        out.update({f"last error {d}": e for d, e in sorted(k.hw.last_error.items())})
        out["network"] = "broker connected" if k.online else "broker unreachable"
        status = k.link.hall_status if k.link is not None else None
        out["controller"] = "status received" if status is not None else "no status yet"
        out["outbox pending"] = str(k.outbox.pending_count())
        out["software"] = VERSION
        out["hall config"] = f"{k.hall.hall.id} v{k.hall.version}"
        out["desired config"] = str(k.config_version)
        out["terminal"] = f"{k.cfg.terminal_id} @ {k.location()}"
        out.update({f"self-test {name}": v for name, v in k.self_test_result.items()})
        return out
