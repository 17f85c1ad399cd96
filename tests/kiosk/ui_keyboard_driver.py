"""Drives the real Kivy app headless on the mailing form's touch keyboard, in normal and
elderly mode: every surname and hall address typed key by key, candidates picked (paging
allowed), where the keys are before and after each step. Prints one JSON line.

Run as a subprocess by test_keyboard.py (one Kivy window per process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pypinyin import Style, lazy_pinyin

from tests.kiosk.helpers import driver_app, run_driver_script


def readings(text: str) -> list[str]:
    """What a person types for each character of ``text`` (phrase-aware, ü as v)."""
    return lazy_pinyin(text, style=Style.NORMAL, errors=lambda s: list(s))


def main() -> None:
    job = json.loads(sys.argv[1])  # {"surnames": [[char, pinyin]...], "texts": [str...]}
    app = driver_app("kiosk-kbd-", location="一楼大厅东侧")
    k = app.k
    k.mono = lambda: 1000.0  # no inactivity time-out while typing
    out: dict[str, Any] = {}

    from kivy.metrics import dp
    from kivy.uix.button import Button

    def buttons() -> list[Any]:
        return [w for w in app.root.walk(restrict=True) if isinstance(w, Button)]

    def press(text: str) -> bool:
        """Press the enabled button ``text``, render at once (no frame needed)."""
        for b in buttons():
            if b.source_text == text and b.action is not None:
                b.dispatch("on_release")
                app.render()
                return True
        return False

    def field() -> str:
        return str(k.session.form.get(k.params.get("field", ""), ""))

    def type_char(ch: str, py: str) -> int | None:
        """Type ``ch`` as its pinyin ``py`` and pick it: its candidate page (1 = first), or
        None when it could not be reached."""
        if not ch.strip() or ch.isascii():
            ok = press(ch.lower()) if ch.strip() else press(k.tr("space"))
            return 1 if ok else None
        for letter in py:
            if not press(letter):
                return None
        page = 1
        while True:
            before = field()
            if press(ch):
                return page if field() == before + ch else None
            if not press(k.tr("kbd_next")):
                return None
            page += 1
            if page > 60:
                return None

    def clear() -> None:
        for _ in range(30):  # letters being composed first
            if not k.session.form.get("_pinyin") or not press(k.tr("del")):
                break
        press(k.tr("clear"))

    def snapshot() -> dict[str, list[float]]:
        """Window position and size of every key that is not a candidate."""
        keys = set("qwertyuiopasdfghjklzxcvbnm1234567890-#")
        keys |= {k.tr(x) for x in ("del", "space", "clear", "kbd_abc", "kbd_pinyin")}
        keys |= {k.tr(x) for x in ("kbd_prev", "kbd_next")}
        snap = {}
        for b in buttons():
            if b.source_text in keys:
                x, y = b.to_window(*b.pos)
                snap[b.source_text] = [
                    round(x, 1),
                    round(y, 1),
                    round(b.width, 1),
                    round(b.height, 1),
                ]
        return snap

    def rows(snap: dict[str, list[float]], keys: str) -> list[str]:
        """The keys ``keys`` grouped in rows, top row first, each left to right."""
        by_y: dict[float, list[tuple[float, str]]] = {}
        for ch in keys:
            if ch in snap:
                x, y, _w, _h = snap[ch]
                by_y.setdefault(y, []).append((x, ch))
        return ["".join(ch for _x, ch in sorted(r)) for _y, r in sorted(by_y.items(), reverse=True)]

    def settle() -> Any:
        """Frames until the layout has run (the keys stay where they are for 0.2 s)."""
        last = None
        for _ in range(50):
            yield 0.1
            now = snapshot()
            if now == last:
                return
            last = now

    def script() -> Any:
        yield 0.2
        for mode in ("normal", "elderly"):
            k.set_elderly(mode == "elderly")
            k.start_mailing()
            k.mail_field("recipient")
            yield from settle()
            res: dict[str, Any] = {}
            # --- layout: QWERTY rows, key sizes, stability while composing
            before = snapshot()
            res["letter_rows"] = rows(before, "qwertyuiopasdfghjklzxcvbnm")
            res["digit_rows"] = rows(before, "1234567890")
            if all(ch in before for ch in "qwaz"):
                pitch = before["w"][0] - before["q"][0]
                res["stagger"] = [round((before[ch][0] - before["q"][0]) / pitch, 2) for ch in "az"]
            res["keys_dp"] = {ch: [v[2] / dp(1), v[3] / dp(1)] for ch, v in before.items()}
            moved: dict[str, list[str]] = {}
            steps = [("first letter", "z"), ("second letter", "h"), ("next page", "kbd_next")]
            steps += [("previous page", "kbd_prev"), ("delete", "del"), ("delete all", "del")]
            for what, key in steps:
                press(k.tr(key) if key.startswith(("kbd_", "del")) else key)
                yield from settle()
                now = snapshot()
                moved[what] = [ch for ch in before if now.get(ch) != before[ch]]
            # picking a candidate from composed letters
            press("z")
            yield 0.1
            first = next(
                b for b in buttons() if len(b.source_text) == 1 and not b.source_text.isascii()
            )
            first.dispatch("on_release")
            app.render()
            yield from settle()
            moved["pick"] = [ch for ch in before if snapshot().get(ch) != before[ch]]
            res["moved"] = moved
            clear()
            # --- surnames
            pages: dict[str, int | None] = {}
            for ch, py in job["surnames"]:
                clear()
                pages[ch] = type_char(ch, py)
                if field() != ch:
                    pages[ch] = None
            res["surname_pages"] = pages
            clear()
            # --- the hall's names and addresses, typed whole (digits on the digit keys)
            k.mail_field("address")
            app.render()
            typed: dict[str, Any] = {}
            for text in job["texts"]:
                clear()
                char_pages = {}
                for ch, py in zip(text, readings(text), strict=True):
                    char_pages[ch] = type_char(ch, py)
                typed[text] = {"field": field(), "pages": char_pages}
            res["texts"] = typed
            clear()
            # --- digits only: a phone pad
            k.mail_field("phone")
            yield from settle()
            pad = snapshot()
            res["pad_rows"] = rows(pad, "1234567890")
            res["pad_has_letters"] = any(ch in pad for ch in "qwertyuiopasdfghjklzxcvbnm")
            res["pad_dp"] = min(min(v[2], v[3]) for ch, v in pad.items() if ch.isdigit()) / dp(1)
            out[mode] = res
            k.end_session()
            yield 0.1

    run_driver_script(app, script(), out)


if __name__ == "__main__":
    main()
