"""The touch keyboard on the real Kivy app, headless (ui_keyboard_driver.py in a subprocess):
real names and the hall's own addresses typed key by key in both modes, QWERTY rows, a
phone pad for digits, and keys that never move while a person types."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import load_model
from tests.kiosk.helpers import run_driver
from tests.kiosk.test_ui import ROOT

pytestmark = pytest.mark.ui

#: The 100 most common surnames of mainland China by population, most common first, with
#: the reading of each as a surname. Source: 公安部治安管理局, 全国姓氏排名 (April 2007),
#: as listed in Chinese Wikipedia's "中国姓氏排名".
_SURNAMES = (
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou "
    "徐xu 孙sun 马ma 朱zhu 胡hu 郭guo 何he 高gao 林lin 罗luo "
    "郑zheng 梁liang 谢xie 宋song 唐tang 许xu 韩han 冯feng 邓deng 曹cao "
    "彭peng 曾zeng 肖xiao 田tian 董dong 袁yuan 潘pan 于yu 蒋jiang 蔡cai "
    "余yu 杜du 叶ye 程cheng 苏su 魏wei 吕lv 丁ding 任ren 沈shen "
    "姚yao 卢lu 姜jiang 崔cui 钟zhong 谭tan 陆lu 汪wang 范fan 金jin "
    "石shi 廖liao 贾jia 夏xia 韦wei 付fu 方fang 白bai 邹zou 孟meng "
    "熊xiong 秦qin 邱qiu 江jiang 尹yin 薛xue 闫yan 段duan 雷lei 侯hou "
    "龙long 史shi 陶tao 黎li 贺he 顾gu 毛mao 郝hao 龚gong 邵shao "
    "万wan 钱qian 严yan 覃qin 武wu 戴dai 莫mo 孔kong 向xiang 汤tang"
)
SURNAMES = _SURNAMES.split()
assert len(SURNAMES) == len({s[0] for s in SURNAMES}) == 100


def hall_texts() -> list[str]:
    """The hall's own names and addresses that people type (mailing addresses nearby, help
    requests): config/hall.yaml's hall name, address, windows' and terminals' locations,
    and config/kiosk.yaml's location."""
    hall = load_model(HallConfig, ROOT / "config" / "hall.yaml")
    kiosk = yaml.safe_load((ROOT / "config" / "kiosk.yaml").read_text(encoding="utf-8"))
    texts = [hall.hall.name, hall.hall.address, kiosk["location"]]
    texts += [w.location for w in hall.windows] + [t.location for t in hall.terminals]
    return list(dict.fromkeys(t for t in texts if t))


@pytest.fixture(scope="module")
def kbd() -> dict[str, Any]:
    job = {"surnames": [[s[0], s[1:]] for s in SURNAMES], "texts": hall_texts()}
    return run_driver("ui_keyboard_driver.py", json.dumps(job), timeout=300)


MODES = ("normal", "elderly")


@pytest.mark.parametrize("mode", MODES)
def test_the_100_most_common_surnames_are_typed_by_their_pinyin(
    kbd: dict[str, Any], mode: str
) -> None:
    pages = kbd[mode]["surname_pages"]
    assert [ch for ch, p in pages.items() if p is None] == []
    # and at once: on the first page of candidates
    assert {ch: p for ch, p in pages.items() if p != 1} == {}


@pytest.mark.parametrize("mode", MODES)
def test_the_halls_names_and_addresses_are_typed_key_by_key(kbd: dict[str, Any], mode: str) -> None:
    texts = kbd[mode]["texts"]
    assert set(texts) == set(hall_texts())
    for text, got in texts.items():
        assert got["field"] == text, (text, got["pages"])
    # most at once: 溪 (xi) and 室 (shi) are on the 3rd page (4th in elderly mode)
    pages = {ch: p for got in texts.values() for ch, p in got["pages"].items() if ord(ch) > 127}
    assert len(pages) > 60
    assert sum(p == 1 for p in pages.values()) / len(pages) >= 0.9, pages


@pytest.mark.parametrize("mode", MODES)
def test_keys_do_not_move_while_typing(kbd: dict[str, Any], mode: str) -> None:
    moved = kbd[mode]["moved"]
    assert moved == {step: [] for step in moved}


@pytest.mark.parametrize("mode", MODES)
def test_letters_in_qwerty_rows_digits_in_their_own(kbd: dict[str, Any], mode: str) -> None:
    res = kbd[mode]
    assert res["letter_rows"] == ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    assert res["digit_rows"] == ["1234567890"]
    assert res["stagger"] == [pytest.approx(0.5, abs=0.05), pytest.approx(1.5, abs=0.05)]
    pos = res["keys_dp"]
    assert all(w >= 60 and h >= 60 for w, h in pos.values()), pos
    if mode == "elderly":
        normal = kbd["normal"]["keys_dp"]
        assert min(h for _w, h in pos.values()) > min(h for _w, h in normal.values())


@pytest.mark.parametrize("mode", MODES)
def test_digits_only_fields_get_a_phone_pad(kbd: dict[str, Any], mode: str) -> None:
    res = kbd[mode]
    assert res["pad_rows"] == ["123", "456", "789", "0"]
    assert not res["pad_has_letters"]
    assert res["pad_dp"] >= 60
