"""Builds ``pinyin.json``, the pinyin input method's table (kiosk/ime.py). A developer's tool:
the kiosk only reads the JSON file it writes.

    pip download jieba==0.42.1 --no-deps --no-binary :all: -d /tmp/jieba
    tar xzf /tmp/jieba/jieba-0.42.1.tar.gz -C /tmp/jieba
    python -m kiosk.data.make_pinyin /tmp/jieba/jieba-0.42.1/jieba/dict.txt

Characters: the 6,763 of GB 2312 (levels 1 and 2: every character of everyday text and
nearly every name) and a few name characters GB 2312 lacks (``EXTRA``). Readings: every
reading pypinyin (MIT; data from pinyin-data / Unihan) knows for each character, ü written
``v`` as it is typed (lv → 吕).

Order: how often the character is read that way. Frequencies come from the word list of
jieba 0.42.1 (``jieba/dict.txt``, MIT licence, 349,046 words with their counts in jieba's
corpora): each word's count goes to every character of the word under the reading pypinyin
gives it *in that word* (phrase-aware), so 的 ranks first under ``de`` but not under
``di``. Readings no word attests come last, by the character's overall count. The 100 most
common surnames (``SURNAMES``) are then raised to at least the 4th place of their syllable
so that a name can be entered at once.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

OUT = Path(__file__).with_name("pinyin.json")

#: Name characters missing from GB 2312 (朱镕基's 镕; 喆, 堃, 玥, 珺, 昇 in given names).
EXTRA = "镕喆堃玥珺昇"

#: The 100 most common surnames of mainland China with their surname readings, by
#: population (公安部治安管理局, 全国姓氏排名, April 2007).
SURNAMES = [
    "王wang",
    "李li",
    "张zhang",
    "刘liu",
    "陈chen",
    "杨yang",
    "黄huang",
    "赵zhao",
    "吴wu",
    "周zhou",
    "徐xu",
    "孙sun",
    "马ma",
    "朱zhu",
    "胡hu",
    "郭guo",
    "何he",
    "高gao",
    "林lin",
    "罗luo",
    "郑zheng",
    "梁liang",
    "谢xie",
    "宋song",
    "唐tang",
    "许xu",
    "韩han",
    "冯feng",
    "邓deng",
    "曹cao",
    "彭peng",
    "曾zeng",
    "肖xiao",
    "田tian",
    "董dong",
    "袁yuan",
    "潘pan",
    "于yu",
    "蒋jiang",
    "蔡cai",
    "余yu",
    "杜du",
    "叶ye",
    "程cheng",
    "苏su",
    "魏wei",
    "吕lv",
    "丁ding",
    "任ren",
    "沈shen",
    "姚yao",
    "卢lu",
    "姜jiang",
    "崔cui",
    "钟zhong",
    "谭tan",
    "陆lu",
    "汪wang",
    "范fan",
    "金jin",
    "石shi",
    "廖liao",
    "贾jia",
    "夏xia",
    "韦wei",
    "付fu",
    "方fang",
    "白bai",
    "邹zou",
    "孟meng",
    "熊xiong",
    "秦qin",
    "邱qiu",
    "江jiang",
    "尹yin",
    "薛xue",
    "闫yan",
    "段duan",
    "雷lei",
    "侯hou",
    "龙long",
    "史shi",
    "陶tao",
    "黎li",
    "贺he",
    "顾gu",
    "毛mao",
    "郝hao",
    "龚gong",
    "邵shao",
    "万wan",
    "钱qian",
    "严yan",
    "覃qin",
    "武wu",
    "戴dai",
    "莫mo",
    "孔kong",
    "向xiang",
    "汤tang",
]
#: A surname further down its syllable's list moves up to this index.
SURNAME_PLACE = 3


def charset() -> list[str]:
    out = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                out.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return out + [c for c in EXTRA if c not in out]


def build(dict_txt: Path) -> dict[str, object]:
    from pypinyin import Style, lazy_pinyin, pinyin

    chars = charset()
    known = set(chars)
    pair: Counter[tuple[str, str]] = Counter()  # (character, reading) → count
    total: Counter[str] = Counter()
    for line in dict_txt.read_text(encoding="utf-8").splitlines():
        word, count, *_ = line.split()
        if not any(c in known for c in word):
            continue
        readings = lazy_pinyin(word, style=Style.NORMAL, errors="ignore")
        if len(readings) != len(word):  # letters or digits in it
            continue
        for ch, py in zip(word, readings, strict=True):
            if ch in known:
                pair[ch, py] += int(count)
                total[ch] += int(count)
    weight: dict[str, dict[str, float]] = defaultdict(dict)  # syllable → char → weight
    for i, ch in enumerate(chars):
        for py in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]:
            if py.isascii() and py.isalpha():
                # attested readings by count; the others after them, by the character's
                # count, then in GB 2312 order (level 1 before level 2)
                weight[py][ch] = pair[ch, py] or (total[ch] / 1e9 + (len(chars) - i) / 1e15)
    for entry in SURNAMES:
        ch, py = entry[0], entry[1:]
        weight[py].setdefault(ch, 0.0)
    table: dict[str, str] = {}
    for py, ws in weight.items():
        order = sorted(ws, key=lambda c: -ws[c])
        # the least common first: a more common surname then goes above it
        for rank, entry in reversed(list(enumerate(SURNAMES))):
            ch = entry[0]
            if entry[1:] == py and order.index(ch) > SURNAME_PLACE:
                # just above the one at SURNAME_PLACE (more common surnames first)
                ws[ch] = ws[order[SURNAME_PLACE]] * (1.001 + (100 - rank) / 1e6)
                order = sorted(ws, key=lambda c: -ws[c])
        table[py] = "".join(order)
    # one global order of (reading, character) pairs: lists of several syllables (a
    # prefix such as "zh") are merged by it
    pairs = sorted(((w, py, ch) for py, ws in weight.items() for ch, w in ws.items()), reverse=True)
    rank_of = {(py, ch): i for i, (_w, py, ch) in enumerate(pairs)}
    for py, t in table.items():
        table[py] = "".join(c for _r, c in sorted((rank_of[py, c], c) for c in t))
    return {
        "about": (
            "Pinyin input table of kiosk/ime.py, made by kiosk/data/make_pinyin.py: "
            "characters of GB 2312 and a few name characters, readings from pypinyin (MIT), "
            "ordered by frequency from jieba 0.42.1 dict.txt (MIT), the 100 most common "
            "surnames raised to the first places."
        ),
        "chars": {py: table[py] for py in sorted(table)},
        "ranks": {py: [rank_of[py, ch] for ch in table[py]] for py in sorted(table)},
    }


def main() -> None:
    data = build(Path(sys.argv[1]))
    OUT.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{OUT}: {len(data['chars'])} syllables, {OUT.stat().st_size} bytes")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
