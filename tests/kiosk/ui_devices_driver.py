"""Drives the real Kivy app headless on the devices' simulators (wire protocols) against a
real broker and controller; prints one JSON line of findings. Run as a subprocess by
test_ui.py (one Kivy window per process): ``ui_devices_driver.py BROKER_URL DATA_DIR``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import itertools

from devices.idcard.identity import id_check_char
from hall_contract.messages import PriorityClass
from kiosk.__main__ import build, start_io, stop_io
from kiosk.flows import TicketFlow
from kiosk.session import CardIdentity
from kiosk.settings import DevicesSettings
from tests.kiosk.helpers import ELDER

ROOT = Path(__file__).resolve().parents[2]

#: The controller fixture's clock (tests/conftest.py OPEN_MORNING): a Wednesday, open.
NOW = dt.datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
#: ELDER with a valid MOD 11-2 check digit (the reader rejects a corrupt number).
ID_NUMBER = ELDER.id_number[:17] + id_check_char(ELDER.id_number[:17])
SECRETS = (ELDER.name, ID_NUMBER, ELDER.address)


def sim_devices(data: Path) -> DevicesSettings:
    return DevicesSettings.model_validate(
        {
            "idcard": {"driver": "simulator", "poll_interval_s": 0.1},
            "scanner": {"driver": "simulator"},
            "printer": {"driver": "simulator", "preview_dir": str(data / "prev")},
            "voice": {"driver": "file", "output_dir": str(data / "voice")},
        }
    )


def main() -> None:
    broker_url, data = sys.argv[1], Path(sys.argv[2])
    dialect = data / "dialect"
    app = build(
        None,
        headless=True,
        now=lambda: NOW,
        overrides={
            "hall_config": str(ROOT / "config" / "hall-minimal.yaml"),
            "broker_url": broker_url,
            "terminal_id": "k01",
            "data_dir": str(data),
            "devices": sim_devices(data),
            "fullscreen": False,
            "voice": {"pack": None, "dialect": str(dialect) if dialect.is_dir() else None},
        },
    )
    k, hw = app.k, app.hw
    out: dict[str, Any] = {}

    from kiosk.ui.app import widget_texts
    from tests.kiosk.test_core import state_text

    def screen_text() -> str:
        return "\n".join(widget_texts(app.root))

    def until(cond: Any, what: str, limit: float = 15.0) -> Any:
        waited = 0.0
        # the state, and the screen showing it (a press goes to what is drawn)
        while not (cond() and app.drawn()):
            if waited > limit:
                raise AssertionError(f"timeout waiting for {what}")
            waited += 0.05
            yield 0.05

    def ticket_done() -> bool:
        f = k.flow
        return isinstance(f, TicketFlow) and f.step in ("done", "error") and f.printed is not None

    def script() -> Any:
        yield from until(
            lambda: k.online and all(s.usable for s in hw.statuses().values()), "devices + link"
        )
        # --- elderly ID card through the SAM simulator (pty, real protocol), then a ticket
        k.start_ticket("service", "id_card_renew")
        yield 0.1
        hw.idcard.present_card(CardIdentity(ELDER.name, ID_NUMBER, ELDER.birth_date, ELDER.address))
        yield from until(lambda: k.prompt == "offer_elderly", "elderly offer")
        yield 0.1
        out["offer_shown"] = "长辈模式" in screen_text()
        out["masked_on_screen"] = "欧**英" in screen_text() and ELDER.name not in screen_text()
        k.answer_offer(True)
        yield 0.1
        out["elderly_priority_offered"] = "老年人优先" in screen_text()
        k.ticket_priority(PriorityClass.ELDERLY)
        yield from until(ticket_done, "ticket printed")
        f = k.flow
        assert isinstance(f, TicketFlow)
        out["ticket_step"] = f.step
        number = f.result.number if f.result is not None else ""
        out["number"] = number
        out["printed"] = f.printed
        yield 0.2
        out["number_on_screen"] = bool(number) and number in screen_text()
        receipts = hw.printer.virtual.receipts
        text = "\n".join(receipts[-1].text_lines) if receipts else ""
        out["receipt_has_number"] = bool(number) and number in text
        out["receipt_has_masked_name"] = "欧**英" in text
        out["receipt_leaks"] = [s for s in SECRETS if s in text]
        out["receipt_qr"] = receipts[-1].qr_codes if receipts else []
        out["voice_state"] = {
            "dialect": hw.dialect is not None,
            "read": k._dialect_read,
            "voice": hw.statuses()["voice"].reason,
        }
        yield from until(
            lambda: any(a.tokens for a in hw.announcements),
            "the dialect reading",
            30,
        )
        yield from until(lambda: all(a.done.is_set() for a in hw.announcements), "voice", 30)
        anns = list(hw.announcements)
        out["spoken_number"] = any(number in a.text for a in anns)
        out["dialect_clips"] = [a.text for a in anns if a.tokens and not a.used_tts]
        out["voice_errors"] = [str(a.error) for a in anns if a.error]
        recs = getattr(hw.announcer.sink, "records", [])
        out["voice_overlap"] = any(b.start < a.end for a, b in itertools.pairwise(recs))
        out["voice_files"] = len(recs)
        k.end_session()
        yield 0.2
        blob = screen_text() + state_text(k) + state_text(app.__dict__)
        out["leaks_after_end"] = [s for s in SECRETS if s in blob]
        # --- printer out of paper: the simulator's DLE EOT says so → fault, QR alternative
        hw.printer.virtual.paper = "out"
        k.start_ticket("service", "id_card_renew")
        k.ticket_skip_identify()
        k.ticket_priority(PriorityClass.NORMAL)
        yield from until(ticket_done, "second ticket")
        yield 0.2
        f = k.flow
        assert isinstance(f, TicketFlow)
        out["fault_printed"] = f.printed
        out["fault_number"] = f.result.number if f.result is not None else ""
        out["printer_state"] = k.device_status["printer"].state.value
        text = screen_text()
        out["qr_shown"] = any(
            type(w).__name__ == "QrImage" and w.texture is not None for w in app.root.walk()
        )
        out["print_failed_msg"] = "打印机暂时无法打印" in text
        out["number_shown_on_fault"] = out["fault_number"] in text
        k.end_session()
        yield 0.2

    app.script = script()
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    out["script_error"] = getattr(app, "script_error", False)  # a traceback, if any
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
