"""Drives the real Kivy app headless through the flows; prints one JSON line of findings.

Run as a subprocess by test_ui.py (one Kivy window per process)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hall_contract.messages import PriorityClass
from kiosk.__main__ import build, start_io, stop_io
from tests.kiosk.helpers import ELDER, HALL_YAML, MONDAY_10, FakeLink, fake_devices
from tests.kiosk.test_core import fresh, state_text

SECRETS = (ELDER.name, ELDER.id_number, ELDER.address)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="kiosk-ui-")
    app = build(
        None,
        headless=True,
        connect=False,
        now=lambda: MONDAY_10,
        overrides={
            "hall_config": str(HALL_YAML),
            "data_dir": tmp,
            "devices": fake_devices(),
            "fullscreen": False,
            "location": "一楼大厅东侧",
        },
    )
    k = app.k
    link = FakeLink()
    k.link = link
    clock = [1000.0]
    k.mono = lambda: clock[0]
    out: dict[str, Any] = {}

    from kiosk.ui.app import widget_texts

    def screen_text() -> str:
        return "\n".join(widget_texts(app.root))

    def leaks() -> list[str]:
        blob = screen_text() + "\n" + state_text(k) + "\n" + state_text(app.__dict__)
        return [s for s in SECRETS if s in blob]

    def until(cond: Any, limit: float = 10.0) -> Any:
        waited = 0.0
        while not cond():
            if waited > limit:
                raise AssertionError("timeout waiting in UI script")
            waited += 0.05
            yield 0.05

    def script() -> Any:
        yield 0.2
        out["home_has_entries"] = all(x in screen_text() for x in ("取号", "办事指南", "帮办代办"))
        # --- ticket with an elderly ID card, priority offered, elderly mode accepted
        k.start_ticket()
        yield 0.1
        k.ticket_choose("service", "idcard_reissue")
        yield 0.1
        app.hw.present_card(fresh(ELDER))
        yield from until(lambda: k.prompt == "offer_elderly")
        yield 0.1
        out["offer_shown"] = "长辈模式" in screen_text()
        out["masked_on_screen"] = "欧**英" in screen_text() and ELDER.name not in screen_text()
        k.answer_offer(True)
        yield 0.1
        out["elderly_priority_offered"] = "老年人优先" in screen_text()
        k.ticket_priority(PriorityClass.ELDERLY)
        yield from until(
            lambda: (
                k.flow is not None
                and k.flow.step == "done"
                and getattr(k.flow, "printed", None) is not None
            )
        )
        yield 0.1
        text = screen_text()
        out["ticket_shown"] = "A001" in text and "前面还有 3 人" in text
        out["spoken"] = any("A001" in s for s in app.hw.spoken)
        out["screen_leaks_during"] = [x for x in SECRETS if x in screen_text()]
        out["state_has_person_during"] = len(leaks()) == 3  # the search does find them
        k.session.form["address"] = ELDER.address  # as if typed
        # --- flow end
        k.go_home()
        yield 0.1
        out["leaks_after_flow_end"] = leaks()
        out["home_after_end"] = app.rendered_screen == "home" and not k.elderly
        # --- mailing form typed on the touch keyboard, then inactivity timeout
        k.start_mailing()
        yield 0.1
        k.mail_field("address")
        k.mail_set("address", ELDER.address)
        k.mail_field("recipient")
        k.mail_set("recipient", ELDER.name)
        yield 0.1
        out["address_visible_while_typing"] = ELDER.address in screen_text()
        app.hw.present_card(fresh(ELDER))
        yield 0.1
        clock[0] += k.cfg.timeouts.inactivity_s - 5
        yield 1.2
        out["countdown_visible"] = "秒后返回首页" in screen_text()
        clock[0] += 10
        yield 1.2
        out["leaks_after_timeout"] = leaks()
        out["home_after_timeout"] = app.rendered_screen == "home"
        # --- offline: ticketing disabled, guides + printing work, help queued
        link.online = False
        k.changed()
        yield 0.1
        out["offline_banner"] = "暂时连不上大厅系统" in screen_text()
        k.open_guide("bundle", "birth")
        yield 0.1
        k.print_notice()
        yield from until(lambda: k.params.get("printed") == "ok")
        k.start_help("helper")
        yield 0.1
        out["help_queued_shown"] = "已保存" in screen_text()
        out["outbox_pending"] = k.outbox.pending_count()
        p95 = sorted(app.render_ms)[int(len(app.render_ms) * 0.95)]
        out["render_ms_p95"] = round(p95, 1)
        out["escape_ignored"] = app._on_key(None, 27) is True

    app.script = script()
    start_io(app)
    try:
        app.run()
    finally:
        stop_io(app)
    out["script_error"] = getattr(app, "script_error", False)
    print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    _ = dt
    main()
