"""Chinese line-break rules (kiosk/linebreak.py): pure, with a width of one unit per
character, so each case is easy to read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kiosk.linebreak import broken_rules, wrap

TEXT = "请携带身份证原件（必交）、户口簿【复印件】，到窗口办理。"


def greedy(text: str, width: int) -> list[str]:
    """What Kivy does with a run without spaces: cut where the next character no longer fits."""
    return [text[i : i + width] for i in range(0, len(text), width)]


def test_greedy_cutting_breaks_the_rules_and_wrap_does_not() -> None:
    for width in range(4, 14):
        lines = wrap(TEXT, width, len)
        assert broken_rules(lines) == [], (width, lines)
        assert "".join(lines) == TEXT  # nothing lost or added
        assert all(len(x) <= width for x in lines)
    # the old way: at width 11 a line starts with "交）、" — the rule the issue saw broken
    assert any(broken_rules(greedy(TEXT, w)) for w in range(4, 14))


def test_english_words_stay_whole() -> None:
    assert wrap("Bring your ID card, please.", 11, len) == ["Bring your", "ID card,", "please."]


def test_explicit_newlines_are_kept() -> None:
    assert wrap("第一行\n第二行", 10, len) == ["第一行", "第二行"]


CJK = st.sampled_from(list("办事指南取号身份证原件户口簿复印窗口") + list("，。、；）】（【"))


@given(st.text(CJK, min_size=1, max_size=60), st.integers(3, 20))
def test_wrap_never_loses_text_or_overflows(text: str, width: int) -> None:
    lines = wrap(text, width, len)
    assert "".join(lines) == text
    assert all(len(x) <= width for x in lines)
