"""A tiny pinyin input method for the touch keyboard (pure; no Kivy).

Candidates come from the 3,755 level-1 characters of GB 2312 (the most common ones), indexed
by toneless pinyin with pypinyin once, on first use.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _index() -> dict[str, list[str]]:
    from pypinyin import Style, pinyin

    idx: dict[str, list[str]] = {}
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            for py in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]:
                idx.setdefault(py, []).append(ch)
    return idx


def candidates(letters: str, limit: int = 8) -> list[str]:
    """Characters whose pinyin is ``letters`` (exact first, then by prefix)."""
    letters = letters.lower().strip()
    if not letters:
        return []
    idx = _index()
    out = list(idx.get(letters, []))
    if len(out) < limit:
        for py in sorted(idx):
            if py != letters and py.startswith(letters):
                out += [c for c in idx[py] if c not in out]
                if len(out) >= limit:
                    break
    return out[:limit]
