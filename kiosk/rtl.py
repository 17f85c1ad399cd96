"""Right-to-left text (Uyghur): shaping and visual order. Pure; no Kivy.

Kivy's text provider (SDL2_ttf as Kivy's wheels use it) draws code points one after the
other, left to right: no Arabic shaping, no bidirectional reordering. So the kiosk hands
Kivy what a shaping engine would have drawn:

* contextual letter forms from arabic-reshaper (a maintained library that maps each letter
  to its isolated, initial, medial or final form in the Arabic Presentation Forms, the
  Uyghur letters ې ۆ ۈ ڭ ۋ ى ئ included, and joins لا);
* visual order from python-bidi (the Unicode bidirectional algorithm, UAX #9): Arabic-script
  runs right to left, digits, ticket numbers and Latin left to right inside them,
  brackets mirrored.

Lines are broken first, in logical order, and each line is reordered afterwards: breaking a
reordered text would put the end of a sentence on its first line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import arabic_reshaper

# python-bidi's pure-Python implementation: its Rust one (``bidi.get_display`` in 0.6)
# does not mirror brackets, and "(…)" came out as ")…(" around Uyghur words
from bidi.algorithm import get_display

from kiosk.linebreak import wrap

#: Arabic script: the base block, its supplement and the presentation forms
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")


def has_arabic(text: str) -> bool:
    return _ARABIC.search(text) is not None


def is_rtl(text: str) -> bool:
    """The paragraph direction of ``text`` by its first strong character (UAX #9 P2)."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False


@lru_cache(maxsize=1024)
def _shape_ui(text: str) -> str:
    return str(arabic_reshaper.reshape(text))


def shape(text: str, *, cache: bool = True) -> str:
    """``text`` with contextual forms, still in logical order. ``cache=False`` for what a
    citizen typed (a cache would keep it in memory after they leave)."""
    return _shape_ui(text) if cache else str(arabic_reshaper.reshape(text))


def visual(line: str, rtl: bool) -> str:
    """One shaped line in the order Kivy must draw it (left to right)."""
    return str(get_display(line, base_dir="R" if rtl else "L"))


def lines(
    text: str, width: float, measure: Callable[[str], float], *, cache: bool = True
) -> list[str]:
    """``text`` shaped, broken into lines no wider than ``width`` (UAX #14, as
    :func:`kiosk.linebreak.wrap`), each line in visual order."""
    rtl = is_rtl(text)
    shaped = shape(text, cache=cache)
    return [visual(line, rtl) for line in wrap(shaped, width, measure)]


def one_line(text: str, *, cache: bool = True) -> str:
    """A short text (a button, a name) shaped and in visual order, without breaking;
    ``cache=False`` for what a citizen typed."""
    return "\n".join(visual(x, is_rtl(x)) for x in shape(text, cache=cache).split("\n"))
