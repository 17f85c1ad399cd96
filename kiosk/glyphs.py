"""Which characters a font cannot draw (they would show as empty boxes). Pure; no Kivy.

A missing glyph is drawn as the font's ``.notdef`` box, so a character whose rendering is
the same as that of a private-use code point no CJK font defines is missing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: Supplementary private use area A: never in a CJK font; renders as ``.notdef``.
_NOTDEF_PROBE = "\U000f0000"


@lru_cache(maxsize=4)
def _font(path: str) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(path, 32)


def _mask(font: Any, ch: str) -> tuple[tuple[int, int], bytes]:
    m = font.getmask(ch)
    return m.size, bytes(m)


@lru_cache(maxsize=20000)
def _is_missing(font_path: str, ch: str) -> bool:
    font = _font(font_path)
    return _mask(font, ch) == _mask(font, _NOTDEF_PROBE)


def missing(text: str, font_path: str) -> list[str]:
    """The distinct characters of ``text`` the font at ``font_path`` has no glyph for."""
    return [
        ch
        for ch in sorted(set(text))
        if not ch.isspace() and ch.isprintable() and _is_missing(font_path, ch)
    ]
