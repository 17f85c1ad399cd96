# mypy: disable-error-code="misc"
"""The touch keyboard of every screen that takes text: letters in QWERTY rows, digits in a
row of their own (a phone-style pad for digits-only fields), pinyin with candidates for
Chinese (kiosk/ime.py), and a bottom row of function keys.

Nothing moves under the finger: while a screen shows the keyboard, every key keeps its
place. Where pinyin is possible the composition line and the candidate row are always there
(a hint and blank cells while nothing is being composed, the pager keys greyed), so the
first letter typed fills them instead of pushing the keys down; every key of a row has the
same height whatever its label.

Layout (normal mode, 1080 px wide: keys ~94 × 66 dp; elderly mode: ~94 × 97 dp, bigger
labels)::

    拼音：wang  第1/3页                      ← composition line (hint when idle)
    [王][往][网][汪][望][亡][忘][旺][上一页][下一页]   ← candidates, 8 (elderly 6) a page
    [1][2][3][4][5][6][7][8][9][0]
    [q][w][e][r][t][y][u][i][o][p]
     ½[a][s][d][f][g][h][j][k][l]½           ← staggered as on a real keyboard
       1½[z][x][c][v][b][n][m]1½
    [拼音/ABC][-][空格][#][删除][清空]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.uix.widget import Widget

from kiosk import ime

if TYPE_CHECKING:
    from kiosk.ui.screens import Ctx

QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
#: How far each QWERTY row starts to the right, in key widths (as on a real keyboard).
STAGGER = (0.0, 0.5, 1.5)
#: Uyghur letters on the keys of the standard Uyghur keyboard (the letter of each QWERTY
#: key: q چ, w ۋ, e ې …), and on a fourth row the seven that keyboard puts under Shift or
#: "/" (ج خ ژ ف گ ۆ ئ): a kiosk has no Shift, so every letter is a key of its own.
UYGHUR = ("چۋېرتيۇڭوپ", "ھسدائەىقكل", "زشغۈبنم", "جخژفگۆئ")
UYGHUR_STAGGER = (0.0, 0.5, 1.5, 1.5)
DIGITS = "1234567890"
#: Phone-style pad for digits-only fields (the keys of its last row are added apart).
PAD = ("123", "456", "789")
#: Candidates on a page of the candidate row.
PER_PAGE = {False: 8, True: 6}
#: Height of every key (dp), normal and elderly mode: letters in title size need this
#: much anyway (title_sp × 2.2); the other keys are made as high, so no row changes height.
KEY_DP = {False: 66.0, True: 97.0}
#: Longest composition (letters); more is ignored.
MAX_COMPOSE = 24


class KeyGap(Widget):
    """Blank space in a key row. ``fill(row_keys, keys)``: exactly ``keys`` key pitches (a
    key and its spacing) less one spacing, in a row as wide as ``row_keys`` keys, so that
    the keys after it sit that far to the right and keep the width of the full rows'
    keys; ``fill()``: a cell as wide as the row's others. Only keyboards use this class,
    so a gap never turns up as another screen's widget."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.keys = 0.0
        self.row_keys = 0
        self._row: Any = None
        self.bind(parent=self._follow)

    def fill(self, row_keys: int = 0, keys: float = 0.0) -> None:
        self.row_keys, self.keys = row_keys, keys
        self.size_hint_x = None if row_keys else 1
        self._fit()

    def _follow(self, *_: Any) -> None:
        if self._row is not None:
            self._row.unbind(width=self._fit)
        self._row = self.parent
        if self._row is not None:
            self._row.bind(width=self._fit)
            self._fit()

    def _fit(self, *_: Any) -> None:
        row = self.parent
        if row is None or not self.row_keys:
            return
        s = row.spacing[0]
        key = row.width - row.padding[0] - row.padding[2] - (self.row_keys - 1) * s
        key /= self.row_keys
        self.width = max(0.0, self.keys * (key + s) - s)

    def scrub(self) -> None:
        pass


def _gap(row: Any, row_keys: int = 0, keys: float = 0.0) -> None:
    g: KeyGap = row.slots.take(KeyGap)
    g.fill(row_keys, keys)


def keyboard(
    c: Ctx,
    text: str,
    set_text: Callable[[str], None],
    *,
    digits_only: bool = False,
    letters_only: bool = False,
    abc_first: bool = False,
) -> None:
    """Touch keyboard: QWERTY letters, digits, and pinyin candidates for Chinese; a switch
    between pinyin input and plain letters (ABC) where both make sense. ``digits_only``: a
    phone-style pad; ``letters_only``: letters, space, delete and clear (search)."""
    k = c.k
    form = k.session.form
    both = not digits_only and not letters_only
    # in Uyghur, Uyghur letters first (ABC and pinyin a key away)
    uyghur = k.lang == "ug" and not digits_only
    first = "abc" if abc_first else ("ug" if uyghur else ("pinyin" if both else "abc"))
    modes = (["ug"] if uyghur else []) + ["abc"] + (["pinyin"] if both else [])
    mode = form.get("_kbd") or first
    mode = mode if mode in modes else first
    pinyin_on = both and mode == "pinyin"
    nxt = modes[(modes.index(mode) + 1) % len(modes)]
    comp = form.get("_pinyin", "") if pinyin_on else ""
    key_dp = KEY_DP[k.elderly]

    def key(label: str, action: Callable[[], Any] | None, box: Any, size: str = "title") -> None:
        c.button(label, action, "secondary", box=box, size=size, min_dp=key_dp)

    def compose(letters: str, page: int = 0) -> None:
        form["_pinyin"] = letters
        form["_pinyin_page"] = str(page)
        k.touch()
        k.changed()

    def switch() -> None:
        form["_pinyin"] = ""
        form["_kbd"] = nxt
        k.touch()
        k.changed()

    def press(ch: str) -> None:
        if pinyin_on and ch.isalpha():
            if len(comp) < MAX_COMPOSE:
                compose(comp + ch)
        else:
            set_text(text + ch)

    def delete() -> None:
        if comp:
            compose(comp[:-1])
        else:
            set_text(text[:-1])

    def clear() -> None:
        form["_pinyin"] = ""
        set_text("")

    if digits_only:
        for keys in PAD:  # as wide as three keys of five, in the middle
            r = c.row(5, keep_ltr=True)
            _gap(r, 5, 1)
            for ch in keys:
                key(ch, lambda ch=ch: press(ch), r)
            _gap(r, 5, 1)
        r = c.row(5, keep_ltr=True)
        _gap(r, 5, 1)
        key(c.t("clear"), clear, r, "body")
        key("0", lambda: press("0"), r)
        key(c.t("del"), delete, r, "body")
        _gap(r, 5, 1)
        return

    if both:
        _candidates(c, comp, pinyin_on, set_text, text, compose, key)
        r = c.row(len(DIGITS), keep_ltr=True)
        for ch in DIGITS:
            key(ch, lambda ch=ch: press(ch), r)
    rows, stagger = (UYGHUR, UYGHUR_STAGGER) if mode == "ug" else (QWERTY, STAGGER)
    for keys, shift in zip(rows, stagger, strict=True):
        r = c.row(len(keys) + (2 if shift else 0), keep_ltr=True)
        if shift:
            _gap(r, len(QWERTY[0]), shift)
        for ch in keys:
            key(ch, lambda ch=ch: press(ch), r)
        if shift:
            _gap(r, len(QWERTY[0]), shift)

    def space() -> None:
        if comp:  # as in every pinyin input method: space takes the first candidate
            part, chars = ime.lookup(comp)
            if chars:
                first = ime.page(chars, PER_PAGE[k.elderly], _page_of(form))[0][0]
                _pick(form, comp, part, first, set_text, text)
            return
        set_text(text + " ")

    r = c.row((6 if both else 3) + (1 if len(modes) > 1 and not both else 0), keep_ltr=True)
    if len(modes) > 1:  # the key names the keyboard it switches to
        key(c.t({"ug": "kbd_ug", "abc": "kbd_abc", "pinyin": "kbd_pinyin"}[nxt]), switch, r, "body")
    if both:
        key("-", lambda: press("-"), r)
    key(c.t("space"), space, r, "body")
    if both:
        key("#", lambda: press("#"), r)
    key(c.t("del"), delete, r, "body")
    key(c.t("clear"), clear, r, "body")


def _page_of(form: dict[str, str]) -> int:
    p = form.get("_pinyin_page", "0")
    return int(p) if p.isdigit() else 0


def _pick(
    form: dict[str, str],
    comp: str,
    part: str,
    ch: str,
    set_text: Callable[[str], None],
    text: str,
) -> None:
    """``ch`` chosen for the letters ``part`` of ``comp``: the rest goes on composing."""
    form["_pinyin"] = comp[len(part) :]
    form["_pinyin_page"] = "0"
    set_text(text + ch)


def _candidates(
    c: Ctx,
    comp: str,
    pinyin_on: bool,
    set_text: Callable[[str], None],
    text: str,
    compose: Callable[..., None],
    key: Callable[..., None],
) -> None:
    """The composition line and the candidate row, shown whether or not anything is being
    composed (blank then), so that the keys below never move."""
    k = c.k
    form = k.session.form
    per_page = PER_PAGE[k.elderly]
    part, chars = ime.lookup(comp) if comp else ("", ())
    shown, index, pages = ime.page(chars, per_page, _page_of(form))
    if not pinyin_on:
        line = c.t("kbd_hint_abc")
    elif not comp:
        line = c.t("kbd_hint_pinyin")
    else:
        line = f"{c.t('kbd_pinyin')}：{comp}"
        if part != comp:  # several syllables: which letters the candidates are for
            line += f"（{part}）"
        if not chars:
            line += "  " + c.t("kbd_no_match")
        elif pages > 1:
            line += "  " + c.t("page", i=index + 1, n=pages)
    c.label(line, "body")
    r = c.row(per_page + 2, keep_ltr=True)
    for ch in shown:
        key(ch, lambda ch=ch: _pick(form, comp, part, ch, set_text, text), r)
    for _ in range(per_page - len(shown)):
        _gap(r)
    key(
        c.t("kbd_prev"),
        (lambda: compose(comp, index - 1)) if index > 0 else None,
        r,
        "body",
    )
    key(
        c.t("kbd_next"),
        (lambda: compose(comp, index + 1)) if index < pages - 1 else None,
        r,
        "body",
    )
