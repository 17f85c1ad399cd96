"""Where a line of kiosk text may break (pure; no Kivy).

Kivy wraps at ASCII spaces only, and splits a run without spaces (all of Chinese) at
whatever character no longer fits: a line could start with "）、" or "】" and end with
"（", which Chinese typesetting forbids (GB/T 15834 and the 禁则 of every CJK typesetter).
The break opportunities come from the Unicode line breaking algorithm (UAX #14) as
uniseg implements it (a maintained library: closing punctuation stays with the character
before it, opening punctuation with the one after, English words stay whole); this module
only fills lines greedily with the widths the caller measures."""

from __future__ import annotations

from collections.abc import Callable

from uniseg.linebreak import line_break_units

#: may not start a line (closing and middle punctuation); used by the checks
NO_LINE_START = frozenset("，。、；：？！）】》」』”’…—·～,.;:?!)]}%،؛؟")
#: may not end a line (opening punctuation)
NO_LINE_END = frozenset("（【《「『“‘([{")


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """``text`` in lines no wider than ``width`` (``measure(s)``: the width of ``s``),
    broken only where UAX #14 allows; a unit wider than a whole line is split by
    character as a last resort. Explicit newlines are kept."""
    out: list[str] = []
    for para in text.split("\n"):
        line = ""
        for unit in line_break_units(para):
            if line and measure(line + unit.rstrip(" ")) > width:
                out.append(line.rstrip(" "))
                line = ""
            if not line and measure(unit.rstrip(" ")) > width:
                for ch in unit:  # a run that cannot fit anywhere: split it
                    if line and measure(line + ch) > width:
                        # a closing mark takes the character before it along
                        carry = line[-1] if ch in NO_LINE_START and len(line) > 1 else ""
                        out.append(line[: len(line) - len(carry)])
                        line = carry
                    line += ch
                continue
            line += unit
        out.append(line.rstrip(" "))
    return out


def broken_rules(lines: list[str]) -> list[str]:
    """The lines that break the Chinese line-break rules (empty: all is well)."""
    bad = []
    for i, line in enumerate(lines):
        if i > 0 and line[:1] in NO_LINE_START:
            bad.append(f"line {i + 1} starts with {line[:1]!r}: {line[:12]!r}")
        if i < len(lines) - 1 and line[-1:] in NO_LINE_END:
            bad.append(f"line {i + 1} ends with {line[-1:]!r}: {line[-12:]!r}")
    return bad
