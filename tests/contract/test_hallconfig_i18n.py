"""Translations in the hall config: ``i18n`` blocks (en, ug) and the ``glossary``, checked
with errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import ConfigFileError, load_model

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "config" / "hall-minimal.yaml"

SERVICE_I18N = """\
    i18n:
      en:
        name: ID card renewal
        materials:
          - Resident ID card
          - {name: Recent colour photo, note: Taken here}
      ug:
        name: كىملىك ئالماشتۇرۇش
"""


def write(tmp_path: Path, *, after_renewal: str = "", tail: str = "") -> Path:
    """hall-minimal.yaml with ``after_renewal`` added to its first service, ``tail`` at
    the end."""
    text = MINIMAL.read_text(encoding="utf-8")
    anchor = "    promised_days: 15\n"
    assert text.count(anchor) == 1
    text = text.replace(anchor, anchor + after_renewal) + tail
    path = tmp_path / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(ConfigFileError) as info:
        load_model(HallConfig, path)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def line_of(path: Path, needle: str) -> int:
    hits = [i for i, s in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in s]
    assert len(hits) == 1, hits
    return hits[0]


def test_translations_load_and_name_en_still_counts(tmp_path: Path) -> None:
    hall = load_model(HallConfig, write(tmp_path, after_renewal=SERVICE_I18N))
    s = hall.service("id_card_renew")
    assert s.name_in("en") == "ID card renewal"  # i18n wins over name_en
    assert s.name_in("ug") == "كىملىك ئالماشتۇرۇش"
    assert s.name_in("zh") == "居民身份证换领"
    tr = s.text_in("en")
    assert tr is not None and tr.materials is not None
    assert [m.name for m in tr.materials] == ["Resident ID card", "Recent colour photo"]
    assert tr.materials[1].note == "Taken here"
    other = hall.service("ss_proof_print")
    assert other.name_in("en") == "Social Insurance Payment Record Printout"  # name_en
    assert other.name_in("ug") is None and other.text_in("ug") is None
    assert hall.queues[0].name_in("en") == "General Services"
    assert hall.queues[0].name_in("ug") is None
    assert hall.hall.name_in("en") == "Test Service Hall"


def test_misspelt_translation_field_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, after_renewal="    i18n:\n      en:\n        conditons: [In person]\n")
    msg = error(path)
    assert msg.startswith(f"{path}:{line_of(path, 'conditons')}: services.0.i18n.en.conditons:")
    assert "Extra inputs are not permitted" in msg


def test_unknown_language_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, after_renewal="    i18n:\n      uy:\n        name: x\n")
    msg = error(path)
    assert f"{path}:{line_of(path, 'uy:')}: services.0.i18n.uy" in msg
    assert "'en' or 'ug'" in msg


def test_materials_must_follow_the_chinese_one_by_one(tmp_path: Path) -> None:
    path = write(tmp_path, after_renewal="    i18n:\n      ug:\n        materials: [كىملىك]\n")
    msg = error(path)
    assert msg.startswith(f"{path}:{line_of(path, 'materials: [')}: services.0.i18n.ug.materials:")
    assert "has 1 items but the service has 2 materials" in msg


def test_conditions_must_follow_the_chinese_one_by_one(tmp_path: Path) -> None:
    path = write(tmp_path, after_renewal="    i18n:\n      en:\n        conditions: [a, b]\n")
    assert "services.0.i18n.en.conditions: has 2 items but the service has 0" in error(path)


def test_glossary_translates_exact_texts_only(tmp_path: Path) -> None:
    ok = "glossary:\n  工本费20元: {en: Card fee CNY 20, ug: كارتا ھەققى 20 يۈەن}\n"
    hall = load_model(HallConfig, write(tmp_path, tail=ok))
    assert hall.tr("工本费20元", "en") == "Card fee CNY 20"
    assert hall.tr("工本费20元", "zh") == "工本费20元"
    assert hall.tr("居民身份证", "en") is None
    typo = "glossary:\n  工本费 20元: {en: Card fee CNY 20}\n"
    path = write(tmp_path, tail=typo)
    msg = error(path)
    assert msg.startswith(f"{path}:{line_of(path, '工本费 20元')}: glossary.工本费 20元:")
    assert "appears nowhere" in msg
    bad_lang = "glossary:\n  工本费20元: {english: Card fee CNY 20}\n"
    assert "glossary.工本费20元.english" in error(write(tmp_path, tail=bad_lang))


def test_demo_hall_translations_are_valid() -> None:
    hall = load_model(HallConfig, ROOT / "config" / "hall.yaml")
    assert hall.glossary and all(set(v) == {"en", "ug"} for v in hall.glossary.values())
    assert all(s.name_in("ug") for s in hall.services)
