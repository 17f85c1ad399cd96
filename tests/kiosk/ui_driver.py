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
from tests.kiosk.helpers import (
    ELDER,
    HALL_YAML,
    MONDAY_10,
    SUNDAY_3AM,
    FakeLink,
    fake_devices,
    hall_status,
)
from tests.kiosk.test_core import fresh, state_text

SECRETS = (ELDER.name, ELDER.id_number, ELDER.address)


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="kiosk-ui-")
    when = [MONDAY_10]
    app = build(
        None,
        headless=True,
        connect=False,
        now=lambda: when[0],
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

    from kivy.metrics import dp, sp
    from kivy.uix.button import Button

    def buttons() -> list[Any]:
        return [w for w in app.root.walk(restrict=True) if isinstance(w, Button)]

    def press(text: str) -> None:
        for b in buttons():
            if b.source_text == text and b.action is not None:
                b.dispatch("on_release")
                return
        raise AssertionError(f"no button {text!r}")

    def until(cond: Any, limit: float = 10.0) -> Any:
        waited = 0.0
        # the state, and the screen showing it (a press goes to what is drawn)
        while not (cond() and app.drawn()):
            if waited > limit:
                raise AssertionError("timeout waiting in UI script")
            waited += 0.05
            yield 0.05

    def script() -> Any:
        yield 0.2
        out["home_has_entries"] = all(x in screen_text() for x in ("取号", "办事指南", "帮办代办"))
        # --- the home screen: today's hours, the controller's waiting figures (live)
        link.hall_status = hall_status({"id": 2, "ss": 5, "biz": 0})
        k.on_hall_status(link.hall_status)
        yield 0.1
        out["home_info"] = screen_text()
        link.hall_status = hall_status({"id": 4, "ss": 5, "biz": 0})
        k.on_hall_status(link.hall_status)
        yield 0.1
        out["home_info_updated"] = screen_text()
        entries = [b for b in buttons() if b.source_text in ("取号", "办事指南", "好差评")]
        out["home_entry_min_dp"] = min(min(b.size) for b in entries) / dp(1)
        link.online = False
        k.on_connection(False)
        yield 0.1
        out["home_info_offline"] = screen_text()
        link.online = True
        out["elderly_btn_sp"] = app.elderly_btn.font_size / sp(1)  # normal mode
        k.set_elderly(True)
        yield 0.1
        names = ("办事指南", "取号", "预约签到", "办件查询", "好差评", "免费邮寄")
        out["home_entries_elderly"] = sum(1 for b in buttons() if b.source_text.startswith(names))
        link.hall_status = None  # the rest runs on the schedule alone
        k.wipe()
        yield 0.1
        # --- ticket with an elderly ID card, priority offered, elderly mode accepted
        k.start_ticket()
        yield 0.1
        k.ticket_choose("service", "idcard_reissue")
        yield 0.1
        app.hw.idcard.present_card(fresh(ELDER))
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
        k.end_session()
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
        app.hw.idcard.present_card(fresh(ELDER))
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
        out["close_ignored"] = app._ignore_close() is True
        from kivy.config import Config

        out["kivy_config"] = {
            "exit_on_escape": Config.get("kivy", "exit_on_escape"),
            "mouse": Config.get("input", "mouse"),
            "rotation": Config.get("graphics", "rotation"),
        }
        # --- night (Sunday 3 a.m.): ticketing hidden, when the hall opens shown, guides work
        link.online = True
        k.wipe()
        when[0] = SUNDAY_3AM
        yield 1.2  # the once-a-second tick notices the change on its own
        night = screen_text()
        out["night_home"] = night
        out["night_ticket_enabled"] = any(
            b.action is not None and b.source_text == "取号" for b in buttons()
        )
        k.open_guide("service", k.hall.services[0].id)
        yield 0.1
        k.print_notice()
        yield from until(lambda: k.params.get("printed") == "ok")
        k.end_session()
        when[0] = MONDAY_10  # the hall opens: the home screen follows without a touch
        yield 1.2
        out["day_ticket_enabled"] = any(
            b.action is not None and b.source_text == "取号" for b in buttons()
        )
        # --- elderly mode from the big top-bar button; doubled timeout, "need more time?"
        app.elderly_btn.dispatch("on_release")
        yield 0.1
        out["elderly_from_button"] = k.elderly
        out["elderly_help_button"] = app.help_btn.source_text == "帮办代办" and bool(
            app.help_btn.action
        )
        k.open_catalogue()
        yield 0.1
        clock[0] += 2 * k.cfg.timeouts.inactivity_s - 10  # 60 s would have expired already
        yield 1.2
        out["more_time_prompt"] = "还需要更多时间吗" in screen_text() and k.screen == "catalogue"
        out["more_time_spoken"] = any("还需要更多时间" in x for x in app.hw.spoken)
        # The countdown goes on second by second; what is read aloud is not read again
        # for every new number.
        n = len(app.hw.spoken)
        for _ in range(3):
            clock[0] += 1
            yield 1.1
        out["countdown_ticks_seen"] = "秒后返回首页" in screen_text()
        out["spoken_during_countdown"] = list(app.hw.spoken)[n:]
        press("需要，再等等我")
        yield 0.1
        out["after_more_time"] = k.screen == "catalogue" and k.countdown is None
        k.end_session()
        yield 0.1
        # --- first touch of a visitor: the voice prompt about elderly mode
        n = len(app.hw.spoken)
        k.touch()
        yield from until(lambda: len(app.hw.spoken) > n)
        out["attract_spoken"] = any("长辈模式" in x for x in list(app.hw.spoken)[n:])
        # --- technicians: long-press the hall name, then the PIN on the keypad
        from kivy.input.motionevent import MotionEvent

        class Touch(MotionEvent):
            def depack(self, args: Any) -> None:
                self.sx, self.sy = args
                super().depack(args)

        name = app.hall_name
        x, y = name.center
        touch = Touch("test", 1, (x / app.root.width, y / app.root.height))
        touch.pos = (x, y)
        name.on_touch_down(touch)
        yield 1.0
        out["short_press_pin"] = k.screen == "pin"
        yield 1.3
        name.on_touch_up(touch)
        out["long_press_pin"] = k.screen == "pin"
        for d in k.cfg.diagnostics_pin:
            press(d)
        press("确定")
        yield 0.1
        diag = screen_text()
        out["diag"] = [x for x in ("打印机", "网络", "软件版本", "大厅配置") if x in diag]
        out["diag_english_words"] = [
            w for w in ("ready", "broker", "status received", "device") if w in diag
        ]

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
