"""The pinyin input method (kiosk/ime.py), pure: frequency order, surnames early, paging,
prefixes, several syllables, ü as v, and the cost of a keystroke."""

from __future__ import annotations

import time

from kiosk import ime
from tests.kiosk.test_keyboard import SURNAMES


def test_most_common_character_first() -> None:
    assert ime.candidates("de")[0] == "的"
    assert ime.candidates("shi")[0] == "是"
    assert ime.candidates("ren")[0] == "人"
    # the reading counts, not the character alone: 的 is rarely di
    assert ime.candidates("di").index("的") > 3
    assert ime.candidates("di")[:2] == ["地", "第"]


def test_every_common_surname_on_the_first_page_in_both_modes() -> None:
    smallest = 6  # candidates on a page in elderly mode (kiosk/ui/keyboard.py PER_PAGE)
    late = {s: ime.candidates(s[1:]).index(s[0]) for s in SURNAMES}
    assert {s: i for s, i in late.items() if i >= smallest} == {}


def test_the_names_of_the_issue_on_the_first_elderly_page() -> None:
    # issue 11: with 10 (elderly 6) candidates in code-point order these were out of reach
    for name in ("吴wu", "徐xu", "朱zhu", "何he", "李li", "刘liu", "陈chen", "赵zhao", "马ma"):
        assert name[0] in ime.candidates(name[1:], 6), name


def test_v_for_u_umlaut() -> None:
    assert "吕" in ime.candidates("lv", 6) and "绿" in ime.candidates("lv", 8)
    assert ime.candidates("nv")[0] == "女"
    assert ime.candidates("lue")[0] == ime.candidates("lve")[0] == "略"
    assert ime.candidates("ü".replace("ü", "nv"))[0] == "女"


def test_prefixes_and_longer_syllables() -> None:
    # a syllable: its own characters first, then the longer syllables' ones
    xi = ime.candidates("xi")
    assert xi[0] == "西" and xi.index("现") > xi.index("希")  # 现 is xian
    # the beginning of a syllable: every syllable it begins, by frequency
    assert ime.lookup("zh") == ("zh", ime.lookup("zh")[1])
    assert ime.candidates("zh", 3) == ["中", "这", "之"]
    assert ime.candidates("zhon", 2) == ime.candidates("zhong", 2) == ["中", "种"]
    # no duplicates in a merged list
    chars = ime.candidates("s")
    assert len(chars) == len(set(chars)) > 500


def test_several_syllables_are_taken_one_at_a_time() -> None:
    assert ime.lookup("wangxiu")[0] == "wang"
    assert ime.lookup("xiu")[0] == "xiu"
    assert ime.lookup("beijing")[0] == "bei"
    assert ime.lookup("xs")[0] == "x"
    # nothing begins with i, u or v
    assert ime.lookup("iu") == ("", ())
    assert ime.lookup("") == ("", ())
    assert ime.lookup("Wang 2")[0] == "wang"  # letters only, any case


def test_paging() -> None:
    chars = tuple(ime.candidates("yi"))
    first, i, pages = ime.page(chars, 6, 0)
    assert i == 0 and first == chars[:6] and pages == -(-len(chars) // 6) > 10
    last, i, _ = ime.page(chars, 6, 999)  # clamped
    assert i == pages - 1 and last == chars[(pages - 1) * 6 :]
    assert ime.page((), 6, 3) == ((), 0, 1)


def test_a_keystroke_costs_well_under_a_millisecond() -> None:
    ime.lookup("a")  # the table is read once, on the first keystroke
    words = ["z", "zh", "zhang", "x", "xi", "xian", "wangxiu", "s", "sh", "shi"]
    t0 = time.perf_counter()
    for _ in range(20):
        for w in words:
            ime.lookup(w)
    per_lookup = (time.perf_counter() - t0) / (20 * len(words))
    assert per_lookup < 0.001, per_lookup
