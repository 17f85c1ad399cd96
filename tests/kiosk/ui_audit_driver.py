"""A tiny Kivy app with one planted defect per audit check, measured by the kiosk's own
``Auditor`` (kiosk/ui/audit.py) on its drawn frames; prints one JSON line (run by
test_audit_pixels.py). A clean button beside them must pass every check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kiosk.ui.boot import boot

boot(fullscreen=False, headless=True, size=(720, 1400))

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.metrics import dp  # noqa: E402
from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.scrollview import ScrollView  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from kiosk.elderly import ELDERLY  # noqa: E402
from kiosk.ui import audit  # noqa: E402
from kiosk.ui.boot import FONT_NAME  # noqa: E402
from kiosk.ui.widgets import (  # noqa: E402
    DISABLED,
    ON_SECONDARY,
    SECONDARY,
    HowTo,
    KButton,
    KCheck,
    KLabel,
    Panel,
    QrImage,
    Row,
    Steps,
)

LIM = ELDERLY


class SmallCheck(KCheck):
    """A check box drawn 6 dp square beside 32 sp words."""

    def box_side(self) -> float:
        return float(dp(6))


class BlankHowTo(HowTo):
    """A "how to" picture that draws nothing."""

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()


class Planted(App):
    def build(self) -> Widget:
        self.flips = 0
        Window.bind(on_flip=self._flip)
        self.root_box = Panel(orientation="vertical")
        self.content_area = BoxLayout()
        self.root_box.add_widget(self.content_area)
        scroll = ScrollView(do_scroll_x=False)
        box = Panel(orientation="vertical", size_hint_y=None, padding=dp(16), spacing=dp(14))
        box.bind(minimum_height=box.setter("height"))
        scroll.add_widget(box)
        self.content_area.add_widget(scroll)
        p: dict[str, Any] = {}
        p["clean"] = KButton("清楚的按钮", LIM, kind="primary", on_press=lambda: None)
        # the boundary: a light button whose dark edge is gone (1.12:1 on white)
        p["faint"] = KButton("看不清的边", LIM, kind="secondary", on_press=lambda: None)
        p["faint"]._edge_color.rgba = (0, 0, 0, 0)
        # text sitting high: 40 px more padding below the text than above
        p["high"] = KButton("字在上面", LIM, kind="primary", on_press=lambda: None)
        p["high"].padding = [dp(6), 0, dp(6), dp(40)]  # left, top, right, bottom
        p["high"].size_hint_y = None
        p["high"].height = dp(110)
        # a disabled button that looks like its enabled neighbour
        row = Row(cols=2)
        p["peer"] = KButton("可以点", LIM, kind="secondary", on_press=lambda: None)
        p["fake_off"] = KButton("不能点", LIM, kind="disabled")
        p["fake_off"].background_color = SECONDARY
        p["fake_off"]._edge_color.rgba = ON_SECONDARY
        p["fake_off"]._edge.width = dp(1.5)
        p["fake_off"]._edge.dash_length = 1
        p["fake_off"]._edge.dash_offset = 0
        row.add_widget(p["peer"])
        row.add_widget(p["fake_off"])
        # a bold label drawn regular (no outline: the one CJK face)
        p["not_bold"] = KLabel("粗体不粗", LIM, bold=True, size="title")
        p["not_bold"].outline_width = 0
        # a line that starts with "）", as Kivy's own wrapping did it
        p["bad_break"] = Label(
            text="办理时限（工作日\n）二十天",
            font_name=FONT_NAME,
            font_size=dp(32),
            color=(0, 0, 0, 1),
            size_hint_y=None,
            height=dp(110),
        )
        # an English state word on a Chinese screen
        p["mixed"] = KLabel("打印机：FAULT", LIM)
        # a check box smaller than the words beside it
        p["small_box"] = SmallCheck(text="小方框", lim=LIM, kind="secondary", on_press=lambda: None)
        p["small_box"].set_checked(False)
        # the current step no different from the others
        p["steps"] = Steps()
        p["steps"].refill(["一", "二", "三"], 1, LIM)
        cell = p["steps"].cells[1][0]
        cell._c.rgba = DISABLED
        p["steps"].cells[1][1].color = (0.3, 0.3, 0.3, 1)
        # a QR code too small to scan
        p["qr"] = QrImage()
        p["qr"].size = (dp(90), dp(90))
        p["qr"].refill("https://example.org/t/A001")
        # a picture of where the card goes that is not drawn
        p["howto"] = BlankHowTo()
        p["howto"].what = "card"
        # a "·" used as an icon: a dot, not a picture
        audit.ICONS += "·"
        p["dot_icon"] = KLabel("· 注意", LIM)
        # a widget that moves while shown (set off in the driver)
        p["mover"] = KLabel("会动的字", LIM)
        # the main action below the fold
        p["spacer"] = Widget(size_hint_y=None, height=dp(1600))
        p["hidden_main"] = KButton("提交", LIM, kind="primary", on_press=lambda: None)
        for key in (
            "clean",
            "faint",
            "high",
            "not_bold",
            "bad_break",
            "mixed",
            "small_box",
            "steps",
            "qr",
            "howto",
            "dot_icon",
            "mover",
        ):
            box.add_widget(p[key])
        box.add_widget(row, index=len(box.children) - 3)
        box.add_widget(p["spacer"])
        box.add_widget(p["hidden_main"])
        for w in (p["faint"], p["clean"], p["small_box"], p["hidden_main"], p["peer"]):
            w.size_hint_y = None
        self.p = p
        self.k = None
        self.prompt = None
        root = BoxLayout()
        root.add_widget(self.root_box)
        return root

    def _flip(self, *_: Any) -> None:
        self.flips += 1

    def on_start(self) -> None:
        self.script = self.run_audit()
        Clock.schedule_once(self._step, 0.3)

    def _step(self, *_: Any) -> None:
        try:
            wait = next(self.script)
        except StopIteration:
            self.stop()
            return
        Clock.schedule_once(self._step, float(wait or 0.02))

    def run_audit(self) -> Any:
        start = self.flips
        while self.flips < start + 3:
            yield 0.02
        auditor = audit.Auditor(self)

        def move(_dt: float) -> None:
            self.p["mover"].height += dp(30)

        Clock.schedule_once(move, 0.05)
        yield from auditor.inspect("planted", "elderly", "zh")
        out = auditor.report()
        print("RESULT " + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    Planted().run()
