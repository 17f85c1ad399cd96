"""Drives the real Kivy app headless in Uyghur (right to left) and back; prints one JSON
line of what it found (run by test_rtl.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kiosk.__main__ import sample_states
from tests.kiosk.helpers import driver_app, run_driver_script


def main() -> None:
    app = driver_app("kiosk-rtl-")
    k = app.k
    out: dict[str, Any] = {}

    from kiosk.ui.widgets import KButton, KLabel, Row

    def until(cond: Any, limit: float = 10.0) -> Any:
        waited = 0.0
        while not (cond() and app.drawn()) and waited < limit:
            yield 0.02
            waited += 0.02

    def left(w: Any) -> float:
        return float(w.to_window(*w.pos)[0])

    def bars() -> dict[str, float]:
        return {
            name: left(getattr(app, name))
            for name in ("back_btn", "home_btn", "help_btn", "hall_name", "lang_btn")
        }

    def shown_buttons() -> list[Any]:
        return [
            b
            for b in app.root.walk(restrict=True)
            if isinstance(b, KButton) and b.get_root_window() is not None
        ]

    def script() -> Any:
        yield 0.3
        k.wipe()
        k.open_catalogue()
        yield from until(lambda: k.screen == "catalogue")
        out["ltr_bars"] = bars()
        # the language button opens a choice of the three, each in its own script
        app.lang_btn.dispatch("on_release")
        yield from until(lambda: app.prompt.shown)
        choices = [b for b in app.prompt._buttons if b.parent is not None]
        out["choices"] = [b.source_text for b in choices]
        out["choice_fonts"] = [b.font_name for b in choices]
        next(b for b in choices if b.source_text == "ئۇيغۇرچە").dispatch("on_release")
        yield from until(lambda: k.lang == "ug" and not app.prompt.shown)
        out["screen_kept"] = k.screen
        out["rtl_bars"] = bars()
        labels = [
            w
            for w in app.content_area.walk(restrict=True)
            if isinstance(w, KLabel) and w.source_text and w.get_root_window() is not None
        ]
        title = labels[0]
        out["title"] = {
            "source": title.source_text,
            "shown": title.text,
            "halign": title.halign,
            "font": title.font_name,
        }
        # a grid of choices starts at the right
        grid = next(
            w
            for w in app.content_area.walk(restrict=True)
            if isinstance(w, Row) and len(w.children) >= 2 and w.get_root_window() is not None
        )
        first, second = grid.children[-1], grid.children[-2]  # Kivy lists children last first
        out["grid_first_right_of_second"] = left(first) > left(second)
        # Uyghur letters on the keys of the standard Uyghur keyboard, left to right as on
        # a real one; typed, they make a Uyghur word
        k.search("")
        yield from until(lambda: k.screen == "search")
        keys = {b.source_text: b for b in shown_buttons() if len(b.source_text) == 1}
        out["ug_keys"] = "".join(ch for ch in "چۋېرتيۇڭوپھسدائەىقكلزشغۈبنمجخژفگۆئ" if ch in keys)
        out["che_left_of_waw"] = 0 < left(keys["چ"]) < left(keys["ۋ"])
        for ch in "كىتاب":
            keys[ch].dispatch("on_release")
            yield from until(lambda: True)
        out["typed"] = k.session.form.get("search", "")
        # one key away: ABC, QWERTY left to right
        next(b for b in shown_buttons() if b.source_text == "ABC").dispatch("on_release")
        yield from until(lambda: k.session.form.get("_kbd") == "abc")
        keys2 = {b.source_text: left(b) for b in shown_buttons() if len(b.source_text) == 1}
        out["q_left_of_w"] = 0 < keys2.get("q", 0) < keys2.get("w", 0)
        out["z_left_of_x"] = 0 < keys2.get("z", 0) < keys2.get("x", 0)
        # a ticket number reads left to right inside the Uyghur sentence
        k.wipe()
        k.lang = "ug"
        dict(sample_states())["ticket_done"](k)
        k.lang = "ug"
        k.changed()
        yield from until(lambda: k.screen == "ticket")
        number = k.session.flow.result.number
        texts = [w.text for w in app.content_area.walk(restrict=True) if hasattr(w, "text")]
        out["number"] = number
        out["number_shown_ltr"] = any(number in t for t in texts)
        # back to Chinese: everything left to right again, every view
        app.lang_btn.dispatch("on_release")
        yield from until(lambda: app.prompt.shown)
        next(b for b in app.prompt._buttons if b.source_text == "中文").dispatch("on_release")
        yield from until(lambda: k.lang == "zh" and not app.prompt.shown)
        k.open_catalogue()
        yield from until(lambda: k.screen == "catalogue")
        out["back_ltr_bars"] = bars()

    run_driver_script(app, script(), out)


if __name__ == "__main__":
    main()
