"""The pinyin input method of the touch keyboard (pure; no Kivy).

The table is ``kiosk/data/pinyin.json``, made offline by ``kiosk/data/make_pinyin.py`` (its
docstring says how): the 6,763 characters of GB 2312 and a few name characters it lacks,
every reading pypinyin knows (MIT; Unihan / pinyin-data), ordered by how often the
character is read that way in the word list of jieba 0.42.1 (MIT), with the 100 most common
surnames raised to the first places of their syllable. Nothing is fetched at run time and
neither library is needed to read it; pypinyin stays a dependency of the catalogue search.

What a typed string gives (``lookup``):

* a full syllable: its characters by frequency, then those of the longer syllables it
  begins (``xi`` → 西系息…, then 下先现…);
* the beginning of a syllable (``zh``, ``x``): the characters of every syllable it begins,
  merged by frequency;
* several syllables (``wangxiu``): the characters of the longest leading part that spells a
  syllable or its beginning (``wang``); picking one leaves the rest (``xiu``) composing;
* ü is typed as ``v`` (``lv`` → 吕, ``nv`` → 女); ``lue``/``nue`` work as ``lve``/``nve``.

Cost: the table (80 KB of JSON) is read on the first keystroke, not at start-up (about
10 ms); a lookup is a dict access, and a prefix's merged list is cached.
"""

from __future__ import annotations

import bisect
import json
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "pinyin.json"
#: What people type for ü besides v.
ALIASES = {"lue": "lve", "nue": "nve"}


class _Table:
    def __init__(self, chars: dict[str, str], ranks: dict[str, list[int]]) -> None:
        self.chars = dict(chars)
        self.ranks = {py: list(r) for py, r in ranks.items()}
        for alias, py in ALIASES.items():
            self.chars[alias], self.ranks[alias] = self.chars[py], self.ranks[py]
        self.syllables = sorted(self.chars)
        self.prefixes = {py[:i] for py in self.syllables for i in range(1, len(py) + 1)}

    def starting(self, prefix: str) -> list[str]:
        """The syllables that begin with ``prefix`` (itself included)."""
        i = bisect.bisect_left(self.syllables, prefix)
        out = []
        while i < len(self.syllables) and self.syllables[i].startswith(prefix):
            out.append(self.syllables[i])
            i += 1
        return out


@lru_cache(maxsize=1)
def _table() -> _Table:
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    return _Table(data["chars"], data["ranks"])


def normalize(letters: str) -> str:
    """Lower-case ASCII letters only; ü as v."""
    return "".join(c for c in letters.lower().replace("ü", "v") if "a" <= c <= "z")


def head(letters: str) -> str:
    """The longest leading part of ``letters`` that is a syllable or begins one ("" if even
    the first letter begins none, as ``i``, ``u`` and ``v`` do)."""
    letters = normalize(letters)
    prefixes = _table().prefixes
    n = 0
    while n < len(letters) and letters[: n + 1] in prefixes:
        n += 1
    return letters[:n]


@lru_cache(maxsize=512)
def _chars(part: str) -> tuple[str, ...]:
    t = _table()
    exact = t.chars.get(part, "")
    seen = set(exact)
    longer = sorted(
        (rank, ch)
        for py in t.starting(part)
        if py != part
        for ch, rank in zip(t.chars[py], t.ranks[py], strict=True)
    )
    out = list(exact)
    for _rank, ch in longer:
        if ch not in seen:
            seen.add(ch)
            out.append(ch)
    return tuple(out)


def lookup(letters: str) -> tuple[str, tuple[str, ...]]:
    """(the leading letters the candidates spell, the candidates, most common first).
    Picking a candidate uses up exactly those letters."""
    part = head(letters)
    return part, _chars(part) if part else ()


def candidates(letters: str, limit: int | None = None) -> list[str]:
    """The candidates for ``letters`` (see :func:`lookup`), at most ``limit``."""
    chars = lookup(letters)[1]
    return list(chars if limit is None else chars[:limit])


def page(chars: tuple[str, ...], size: int, index: int) -> tuple[tuple[str, ...], int, int]:
    """(the candidates on page ``index``, clamped, of ``size`` each; that index; pages)."""
    pages = max(1, -(-len(chars) // size))
    index = max(0, min(index, pages - 1))
    return chars[index * size : (index + 1) * size], index, pages
