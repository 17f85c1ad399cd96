"""The kiosk's three languages without Kivy: screen texts, the catalogue and the home
screen in Chinese, English and Uyghur; untranslated content said to be Chinese."""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import pytest

from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import load_model
from kiosk.catalogue import BUNDLES, MARK_TEXT, Catalogue
from kiosk.home import HOLIDAY_EN, HOLIDAY_UG, WEEKDAY_UG, home_info
from kiosk.i18n import LANG_NAMES, LANGS, T, t, text
from kiosk.i18n_ug import UG
from kiosk.offers import decide
from tests.kiosk.helpers import MONDAY_10, SUNDAY_3AM, TZ, hall

ROOT = Path(__file__).resolve().parents[2]

#: Chinese and full-width punctuation (and the CJK brackets and quotes).
CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uffef]")
CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")
#: The letters of the Uyghur alphabet (UEY) and its punctuation, nothing else of the
#: Arabic block: a Persian keheh (ک), Farsi yeh (ی) or Arabic heh (ه) is a typing slip.
UYGHUR_LETTERS = set("ئابپتجچخدرزژسشغفقكگڭلمنھوۇۆۈۋېىيە")
UYGHUR_PUNCT = set("،؛؟")
VOWELS = "اەوۇۆۈېى"
#: Words from Chinese that keep their vowels side by side, as Uyghur papers write them
#: (元 yuan, 端午 Duanwu).
CHINESE_LOANS = {"يۈەن", "دۇەنۋۇ"}
ARABIC_BLOCK = re.compile(r"[\u0600-\u06ff]")
PRESENTATION_FORMS = re.compile(r"[\ufb50-\ufdff\ufe70-\ufeff]")
#: Keys whose text is the same in every language (names of scripts and keyboards).
NEUTRAL = {"kbd_abc", "kbd_123"}


def fields(s: str) -> list[str]:
    return sorted(f for _lit, f, _spec, _conv in string.Formatter().parse(s) if f is not None)


def assert_uyghur(s: str, what: str) -> None:
    assert ARABIC_BLOCK.search(s), f"{what}: no Uyghur letters in {s!r}"
    assert not CJK.search(s), f"{what}: Chinese in {s!r}"
    assert not PRESENTATION_FORMS.search(s), f"{what}: presentation forms in {s!r}"
    odd = {c for c in ARABIC_BLOCK.findall(s) if c not in UYGHUR_LETTERS | UYGHUR_PUNCT}
    assert not odd, f"{what}: not Uyghur letters {sorted(odd)} in {s!r}"
    assert "," not in s and "?" not in s, f"{what}: Latin comma or question mark in {s!r}"
    for word in re.findall(r"[\u0600-\u06ff]+", s):
        # Uyghur writes a hamza before a vowel that starts a word or follows a vowel
        assert word[0] not in VOWELS, f"{what}: {word!r} starts without its hamza (ئ)"
        if word not in CHINESE_LOANS:
            assert not re.search(f"[{VOWELS}][{VOWELS}]", word), f"{what}: {word!r}: two vowels"


# ------------------------------------------------------------------ screen texts
@pytest.mark.parametrize("key", sorted(T))
def test_every_text_in_every_language_with_the_same_placeholders(key: str) -> None:
    zh, en = T[key]
    ug = UG.get(key)
    assert zh and en and ug, f"{key}: a language is missing"
    assert fields(zh) == fields(en) == fields(ug), key


def test_no_uyghur_text_without_its_key() -> None:
    assert set(UG) == set(T)


@pytest.mark.parametrize("key", sorted(T))
def test_english_uses_english_punctuation(key: str) -> None:
    en = T[key][1]
    if key not in NEUTRAL:
        assert not CJK.search(en), f"{key}: Chinese in the English {en!r}"
    assert not CJK_PUNCT.search(en), f"{key}: Chinese punctuation in {en!r}"


@pytest.mark.parametrize("key", sorted(set(T) - NEUTRAL))
def test_uyghur_is_arabic_script_in_logical_order(key: str) -> None:
    assert_uyghur(UG[key], key)


def test_t_picks_the_language_and_falls_back_to_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    assert t("ticket", "zh") == "取号"
    assert t("ticket", "en") == "Take a ticket"
    assert t("ticket", "ug") == "نومۇر ئېلىش"
    assert t("guide", "ug") == "ئىش بېجىرىش قوللانمىسى"
    assert t("home", "ug") == "باش بەت" and t("back", "ug") == "قايتىش"
    assert t("queue_waiting", "ug", name="X", n=3) == "X: 3 ئادەم ساقلاۋاتىدۇ"
    assert t("no_such_key", "ug") == "no_such_key"
    monkeypatch.delitem(UG, "ticket")
    assert text("ticket", "ug") is None
    assert t("ticket", "ug") == "取号"  # the Chinese, rather than nothing


def test_language_names() -> None:
    assert LANGS == ("zh", "en", "ug")
    assert LANG_NAMES == {"zh": "中文", "en": "English", "ug": "ئۇيغۇرچە"}
    assert_uyghur(LANG_NAMES["ug"], "LANG_NAMES")


def test_marks_weekdays_and_holidays_in_uyghur() -> None:
    for mark, words in MARK_TEXT["ug"].items():
        assert_uyghur(words, mark)
    assert set(MARK_TEXT["ug"]) == set(MARK_TEXT["zh"]) == set(MARK_TEXT["en"])
    assert len(WEEKDAY_UG) == 7
    for w in WEEKDAY_UG:
        assert_uyghur(w, "weekday")
    assert set(HOLIDAY_UG) == set(HOLIDAY_EN)
    for h in HOLIDAY_UG.values():
        assert_uyghur(h, "holiday")


# ------------------------------------------------------------------ the catalogue
#: idcard_reissue of the test hall translated in full: its own ``i18n`` blocks for what
#: is its own, the glossary for what the hall shares (a material name, a fee, a window).
REISSUE_I18N = {
    "en": {
        "name": "Resident ID card reissue",
        "conditions": ["Apply in person"],
        "materials": [
            "Household register",
            {"name": "Recent photo", "copies": "1 original", "note": "Taken here on site"},
        ],
        "fees": "CNY 20",
        "keywords": ["lost id"],
    },
    "ug": {
        "name": "كىملىكنى تولۇقلاپ ئېلىش",
        "conditions": ["ئۆزى ھازىر بولۇشى كېرەك"],
        "materials": [
            {"name": "نوپۇس دەپتىرى"},
            {"name": "يېقىنقى رەسىم", "note": "نەق مەيداندا سۈرەتكە تارتىلىدۇ"},
        ],
        "fees": "20 يۈەن",
    },
}
GLOSSARY = {"1号窗口": {"en": "Window 1", "ug": "1-كۆزنەك"}, "户口簿": {"en": "Household register"}}


def translated_hall() -> HallConfig:
    data = hall().model_dump()
    for s in data["services"]:
        if s["id"] == "idcard_reissue":
            s["i18n"] = REISSUE_I18N
    data["glossary"] = GLOSSARY
    data["queues"][0]["i18n"] = {"ug": {"name": "كىملىك ۋە گۇۋاھنامە"}}
    data["bundles"][0]["i18n"] = {"ug": {"name": "بالا تۇغۇلۇش ئىشى"}}
    return HallConfig.model_validate(data)


@pytest.fixture(scope="module")
def tcat() -> Catalogue:
    return Catalogue(translated_hall())


def test_a_translated_notice_in_each_language(tcat: Catalogue) -> None:
    n = tcat.notice("service", "idcard_reissue")
    assert n.title_in("zh") == "身份证补领" and n.title == "身份证补领"  # printed in Chinese
    assert n.title_in("en") == "Resident ID card reissue"
    assert n.title_in("ug") == "كىملىكنى تولۇقلاپ ئېلىش"
    for lang in LANGS:
        assert not n.chinese_only(lang), lang
        assert not any(s.zh_only for s in n.sections(lang)), lang
    en = {s.key: s for s in n.sections("en")}
    assert en["conditions"].heading == "Conditions" and en["conditions"].items == [
        "Apply in person"
    ]
    assert en["materials"].items == [
        "1. ●Household register (1 original, required)",
        "2. ○Recent photo (1 original, may be missing) Taken here on site",
    ]
    assert en["fees"].items == ["CNY 20"] and en["window"].items == ["Window 1"]
    assert en["time_limits"].items == ["60 working days by law, 20 working days promised"]
    ug = {s.key: s for s in n.sections("ug")}
    assert ug["materials"].items[1] == (
        "2. ○يېقىنقى رەسىم (ئەسلى نۇسخىسى 1 پارچە، كەم بولسىمۇ قوبۇل قىلىنىدۇ) "
        "نەق مەيداندا سۈرەتكە تارتىلىدۇ"
    )
    assert ug["window"].items == ["1-كۆزنەك"]
    for sec in n.sections("ug"):
        for line in [sec.heading, *sec.items]:
            assert_uyghur(line, sec.key)
    zh = {s.key: s for s in n.sections("zh")}
    assert zh["materials"].items[0] == "1. ●户口簿（原件1份，必交）"


def test_lines_use_each_languages_punctuation(tcat: Catalogue) -> None:
    n = tcat.notice("service", "idcard_reissue")
    en = n.lines("en")
    assert en[0] == "Resident ID card reissue"
    assert "Materials:" in en and "Fees: CNY 20" in en and "Window: Window 1" in en
    for line in en:
        assert not CJK.search(line), line  # no Chinese, punctuation or else
    ug = n.lines("ug")
    assert "ھەققى: 20 يۈەن" in ug
    for line in ug:
        assert not CJK.search(line), line
    # Chinese exactly as it was printed before
    zh = n.lines("zh")
    assert zh[:3] == ["身份证补领", "办理条件：", "  本人到场"]
    assert "  1. ●户口簿（原件1份，必交）" in zh and "收费：20元" in zh


def test_untranslated_content_stays_chinese_and_says_so(tcat: Catalogue) -> None:
    n = tcat.notice("service", "sscard_apply")  # name_en only; 户口簿 from the glossary
    assert n.title_in("en") == "Social security card" and n.title_in("ug") == "社保卡申领"
    assert n.chinese_only("en") and n.chinese_only("ug") and not n.chinese_only("zh")
    en = {s.key: s for s in n.sections("en")}
    assert en["materials"].zh_only  # 身份证 has no translation ...
    assert [m.zh_only for m in en["materials"].materials] == [True, False]  # ... 户口簿 has
    assert en["materials"].materials[1].name == "Household register"
    assert en["fees"].items == ["Free of charge"] and not en["fees"].zh_only  # the default
    assert en["window"].items == ["2号窗口"] and en["window"].zh_only
    assert not en["time_limits"].zh_only  # the kiosk's own words
    lines = n.lines("en")
    assert lines[1] == t("notice_zh_only", "en")
    assert n.lines("ug")[1] == t("notice_zh_only", "ug")
    assert t("content_zh_only", "ug") and t("content_zh_only", "en") != t("content_zh_only", "zh")


def test_a_bundle_in_each_language(tcat: Catalogue) -> None:
    n = tcat.notice("bundle", "birth")
    assert n.title_in("ug") == "بالا تۇغۇلۇش ئىشى" and n.title_in("en") == n.title_en
    en = {s.key: s for s in n.sections("en")}
    assert (
        en["includes"].items
        == [
            "Newborn household registration",
            "新生儿医保参保",  # no English name
            "Social security card",
        ]
        and en["includes"].zh_only
    )
    assert en["time_limits"].items[0] == "Newborn household registration: 1 working day promised"
    assert "Window 1" in en["window"].items
    zh = n.lines("zh")
    assert "时限：新生儿落户：承诺1个工作日" in zh


def test_entries_categories_and_search_in_each_language(tcat: Catalogue) -> None:
    e = tcat.entry("service", "idcard_reissue")
    assert e.label("zh") == "身份证补领" and e.label("en") == "Resident ID card reissue"
    assert e.label("ug") == "كىملىكنى تولۇقلاپ ئېلىش" and not e.zh_only("ug")
    med = tcat.entry("service", "med_ins")
    assert med.label("en") == "新生儿医保参保" and med.zh_only("en") and not med.zh_only("zh")
    cats = dict(tcat.categories("ug"))
    assert cats["id"] == "كىملىك ۋە گۇۋاھنامە"
    assert cats[BUNDLES] == t("bundle", "ug")
    assert [x.id for x in tcat.search("تولۇقلاپ")] == ["idcard_reissue"]
    assert [x.id for x in tcat.search("lost id")] == ["idcard_reissue"]  # an en keyword
    assert [x.id for x in tcat.search("ID card reissue")] == ["idcard_reissue"]
    assert tcat.search("sfz")[0].id == "idcard_reissue"  # pinyin still


def test_flows_label_choices_in_the_language(tcat: Catalogue) -> None:
    from kiosk.flows import TicketFlow

    f = TicketFlow()
    f.open_category("id")
    page = f.choices(tcat, elderly=False, lang="ug")
    assert page.title == "كىملىك ۋە گۇۋاھنامە"
    assert "كىملىكنى تولۇقلاپ ئېلىش" in [c.label for c in page.items]


# ------------------------------------------------------------------ the home screen
def _home(when: dt.datetime, lang: str) -> list[str]:
    h = translated_hall()
    info = home_info(h, when, decide(h, when, True, None), None, lang)
    return info.lines(lang)


def test_home_in_uyghur() -> None:
    lines = _home(SUNDAY_3AM, "ug")
    assert lines[1] == (
        "ھازىر ئىشلەش ۋاقتى ئەمەس. كۆزنەكلەرنىڭ كېيىنكى ئېچىلىش ۋاقتى: "
        "ئەتە 9-ئاينىڭ 15-كۈنى (دۈشەنبە) 08:30"
    )
    assert lines[2] == "بۈگۈن (يەكشەنبە) كۆزنەكلەر ئىشلىمەيدۇ"
    for line in lines[1:]:  # (the hall's name has no Uyghur in the test hall)
        assert_uyghur(line, "home")
    monday = _home(MONDAY_10, "ug")
    assert monday[2] == "بۈگۈنكى ئىشلەش ۋاقتى 08:30–12:00، 14:00–17:30"
    eve = _home(dt.datetime(2025, 9, 30, 10, tzinfo=TZ), "ug")
    assert "دۆلەت بايرىمى" in eve[-1]


def test_home_in_english_has_no_chinese() -> None:
    for when in (SUNDAY_3AM, MONDAY_10, dt.datetime(2025, 9, 27, 20, tzinfo=TZ)):
        for line in _home(when, "en"):
            assert not CJK.search(line), line


# ------------------------------------------------------------------ the demo hall
#: The most used services: translated in full in config/hall.yaml.
TOP = [
    "id_card_renew",
    "id_card_reissue",
    "residence_permit",
    "birth_hukou",
    "hukou_move",
    "ssc_apply",
    "ssc_replace",
    "medical_remote",
    "pension_resident",
    "ss_proof_print",
    "company_setup",
    "sole_trader",
]


@pytest.fixture(scope="module")
def real() -> HallConfig:
    return load_model(HallConfig, ROOT / "config" / "hall.yaml")


@pytest.fixture(scope="module")
def cat(real: HallConfig) -> Catalogue:
    return Catalogue(real)


def test_demo_hall_names_everything_in_every_language(real: HallConfig, cat: Catalogue) -> None:
    for lang in ("en", "ug"):
        assert real.hall.name_in(lang), lang
        for q in real.queues:
            assert q.name_in(lang), (q.id, lang)
        for e in cat.entries:
            assert not e.zh_only(lang), (e.id, lang)
            if lang == "ug":
                assert_uyghur(e.label("ug"), e.id)
            else:
                assert not CJK.search(e.label("en")), e.id


@pytest.mark.parametrize("sid", TOP)
def test_demo_hall_top_services_fully_translated(cat: Catalogue, sid: str) -> None:
    n = cat.notice("service", sid)
    for lang in ("en", "ug"):
        assert not n.chinese_only(lang), [(s.key, s.items) for s in n.sections(lang) if s.zh_only]
        for line in n.lines(lang):
            assert not CJK.search(line), (lang, line)
            if lang == "ug" and line.strip() and not line.strip()[0].isdigit():
                assert ARABIC_BLOCK.search(line), line
        for sec in n.sections("ug"):
            for line in [sec.heading, *sec.items]:
                assert_uyghur(line, f"{sid}/{sec.key}")
