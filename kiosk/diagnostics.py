"""The technicians' screen: PIN, device states and last errors, self-test, test page,
simulated card and scan (where a simulator or fake is configured), versions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from devices.state import USABLE_STATES, DeviceState
from kiosk.i18n import T

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiagRow:
    what: str
    value: str
    ok: bool


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

    #: a driver's words for its state → the kiosk's own (kiosk/i18n.py ``diag_why_*``)
    WHY: ClassVar[dict[str, str]] = {
        "fake reader": "simulated",
        "fake printer": "simulated",
        "fake scanner": "simulated",
        "virtual display": "simulated",
        "log voice (no sound)": "silent",
        "scanner unplugged or port lost": "unplugged",
        "not installed": "not_installed",
        "reconnecting": "reconnecting",
        "self-test passed": "self_test_passed",
        "reading a card": "reading",
        "announcing": "announcing",
    }
    #: words that only repeat the state
    SAME: ClassVar[frozenset[str]] = frozenset(
        {"ready", "port open", "reconnected", "voice ready", "listening", "closed"}
    )

    def _why(self, reason: str | None, state: str) -> str:
        """What the driver adds to its state, in parentheses of the kiosk's language;
        words we do not know stay the driver's own, said to be so."""
        if not reason or reason == state or reason in self.SAME:
            return ""
        k = self.k
        key = self.WHY.get(reason)
        text = k.tr(f"diag_why_{key}") if key else k.tr("diag_why_driver", text=reason)
        return f"（{text}）" if k.lang == "zh" else f" ({text})"

    def diagnostic_rows(self) -> list[DiagRow]:
        """The technicians' screen, in the kiosk's language: what, its state in words,
        and whether it needs attention (a fault is not shown like an OK line)."""
        k = self.k
        rows = []
        for d, st in sorted(k.hw.statuses().items()):
            state = DeviceState(st.state)
            rows.append(
                DiagRow(
                    k.tr(f"diag_dev_{d}") if f"diag_dev_{d}" in T else d,
                    k.tr(f"diag_state_{state.value}") + self._why(st.reason, state.value),
                    state in USABLE_STATES,
                )
            )
        for d, e in sorted(k.hw.last_error.items()):
            rows.append(DiagRow(k.tr("diag_last_error", d=d), e, False))
        rows.append(
            DiagRow(
                k.tr("diag_network"), k.tr("diag_net_up" if k.online else "diag_net_down"), k.online
            )
        )
        status = k.link.hall_status if k.link is not None else None
        rows.append(
            DiagRow(
                k.tr("diag_controller"),
                k.tr("diag_ctl_ok" if status is not None else "diag_ctl_none"),
                status is not None,
            )
        )
        pending = k.outbox.pending_count()
        rows.append(DiagRow(k.tr("diag_outbox"), str(pending), pending == 0))
        from kiosk.link import VERSION

        rows.append(DiagRow(k.tr("diag_software"), VERSION, True))
        rows.append(DiagRow(k.tr("diag_hall"), f"{k.hall.hall.id} v{k.hall.version}", True))
        rows.append(DiagRow(k.tr("diag_terminal"), f"{k.cfg.terminal_id} @ {k.location()}", True))
        for name, v in k.self_test_result.items():
            rows.append(DiagRow(k.tr("diag_self_test", d=name), v, v in ("ok", "printed")))
        return rows

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
