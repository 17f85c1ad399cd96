# mypy: disable-error-code="misc"
"""The touch keyboard of every screen that takes text: digits, letters, and pinyin
candidates for Chinese (kiosk/ime.py), with a switch between pinyin and plain letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kiosk.ime import candidates

if TYPE_CHECKING:
    from kiosk.ui.screens import Ctx


def keyboard(
    c: Ctx,
    text: str,
    set_text: Callable[[str], None],
    *,
    digits_only: bool = False,
    letters_only: bool = False,
    abc_first: bool = False,
) -> None:
    """Touch keyboard: digits, letters, and pinyin candidates for Chinese; a switch between
    pinyin input and plain letters (ABC) where both make sense."""
    k = c.k
    comp = k.session.form.get("_pinyin", "")
    cols = 6 if k.elderly else 10
    both = not digits_only and not letters_only
    mode = k.session.form.get("_kbd") or ("abc" if abc_first else "pinyin")
    pinyin_on = both and mode == "pinyin"

    def switch() -> None:
        k.session.form["_pinyin"] = ""
        k.session.form["_kbd"] = "abc" if pinyin_on else "pinyin"
        k.touch()
        k.changed()

    def press(ch: str) -> None:
        if pinyin_on and ch.isalpha() and ch.isascii():
            k.session.form["_pinyin"] = comp + ch
            k.touch()
            k.changed()
        else:
            set_text(text + ch)

    def pick(ch: str) -> None:
        k.session.form["_pinyin"] = ""
        set_text(text + ch)

    def delete() -> None:
        if comp:
            k.session.form["_pinyin"] = comp[:-1]
            k.changed()
        else:
            set_text(text[:-1])

    if comp:
        c.label(f"{c.t('kbd_pinyin')}: {comp}", "small")
        grid = c.row(cols)
        for ch in candidates(comp, cols):
            c.button(ch, lambda ch=ch: pick(ch), "secondary", box=grid)
    keys = (
        "1234567890"
        if digits_only
        else ("1234567890qwertyuiopasdfghjklzxcvbnm" + ("" if letters_only else "-#"))
    )
    grid = c.row(cols)
    for ch in keys:
        c.button(ch, lambda ch=ch: press(ch), "secondary", box=grid, size="body")
    r = c.row(4 if both else 3)
    if both:
        c.button(c.t("kbd_abc" if pinyin_on else "kbd_pinyin"), switch, "secondary", box=r)
    c.button(c.t("del"), delete, "secondary", box=r)
    c.button(
        c.t("space"),
        (lambda: set_text(text + " ")) if not digits_only else None,
        "secondary",
        box=r,
    )
    c.button(c.t("clear"), lambda: set_text(""), "secondary", box=r)
