"""The shipped hall configs load, have a realistic size, and the schedule helpers agree with
the 2026/2027 calendar in config/hall.yaml; broken configs fail with file:line: path."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from hall_contract.hallconfig import (
    DayKind,
    HallConfig,
    day_kind,
    is_open,
    next_opening,
    service_day,
)
from hall_contract.yamlconf import ConfigFileError, load_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
HALL = CONFIG / "hall.yaml"
MINIMAL = CONFIG / "hall-minimal.yaml"
BROKEN = CONFIG / "broken"

RANK = {"required": 0, "commitment": 1, "may_be_missing": 2}


@pytest.fixture(scope="module")
def hall() -> HallConfig:
    return load_model(HallConfig, HALL)


@pytest.fixture(scope="module")
def minimal() -> HallConfig:
    return load_model(HallConfig, MINIMAL)


def local(hall: HallConfig, y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=hall.tz)


# --------------------------------------------------------------------------- hall.yaml


def test_hall_identity_and_infrastructure(hall: HallConfig) -> None:
    assert hall.hall.id == "yunxi"
    assert "政务服务中心" in hall.hall.name
    assert hall.hall.name_en
    assert hall.hall.timezone == "Asia/Shanghai"
    assert "{token}" in hall.hall.status_url
    assert hall.broker.url is None
    assert hall.broker.port == 1883
    assert hall.broker.auth is False
    assert hall.data_dir == "var"
    assert hall.schedule.day_boundary == "03:00"


def test_queues_by_category(hall: HallConfig) -> None:
    by_name = {q.name: q for q in hall.queues}
    expected = {
        "综合受理": "A",
        "社保医保": "B",
        "不动产": "C",
        "企业开办": "D",
        "公安户政": "E",
        "税务": "F",
        "跨省通办": "G",
        "一件事": "H",
    }
    assert len(hall.queues) >= 8
    for name, letter in expected.items():
        assert name in by_name, name
        assert by_name[name].letter == letter, name
    assert all(q.name_en for q in hall.queues)
    assert by_name["不动产"].default_service_min > by_name["综合受理"].default_service_min
    assert by_name["一件事"].persist_overnight is False
    assert any(q.daily_cap for q in hall.queues)
    for q in hall.queues:
        assert q.wait_yellow_min < q.wait_red_min
        assert q.service_yellow_min < q.service_red_min


def test_windows(hall: HallConfig) -> None:
    assert len(hall.windows) >= 12
    assert all(w.location and w.name_en for w in hall.windows)
    # integrated windows (综合窗口) serve several queues in priority order
    multi = [w for w in hall.windows if len(w.queues) >= 3]
    assert multi, "no 综合窗口 serving three or more queues"
    assert hall.window("win01").queues[0] == "general"
    served = {q for w in hall.windows for q in w.queues}
    assert served == {q.id for q in hall.queues}


def test_service_catalogue_size_and_marks(hall: HallConfig) -> None:
    assert len(hall.services) >= 30
    marks = Counter(m.mark for s in hall.services for m in s.materials)
    for mark in ("required", "may_be_missing", "commitment"):
        assert marks[mark] >= 10, (mark, marks)
    for s in hall.services:
        assert len(s.materials) >= 3, s.id
        assert s.name_en and s.department and s.keywords and s.window_hint, s.id
        assert s.promised_days <= s.legal_days, s.id
    # spread over the queues: every queue except the bundle queue has services
    queues_used = {s.queue for s in hall.services}
    assert {q.id for q in hall.queues} - queues_used <= {"bundle"}


def test_service_catalogue_realism(hall: HallConfig) -> None:
    immediate = [s for s in hall.services if s.promised_days == 0]
    assert len(immediate) >= 10, "too few 即办 items"
    self_service = {s.name for s in hall.services if s.self_service}
    assert len(self_service) >= 3
    assert any("社保缴费证明" in n for n in self_service)
    assert any("不动产登记资料查询" in n for n in self_service)
    assert any("完税证明" in n for n in self_service)
    free = [s for s in hall.services if "不收费" in s.fees]
    assert len(free) > len(hall.services) / 2
    assert any("80元/件" in s.fees for s in hall.services)
    names = " ".join(s.name for s in hall.services)
    for item in (
        "居民身份证换领",
        "户口迁移",
        "社会保障卡申领",
        "医保异地就医备案",
        "企业设立登记",
    ):
        assert item in names, item
    keywords = {k for s in hall.services for k in s.keywords}
    assert {"身份证", "sfz", "社保卡", "过户", "个税"} <= keywords


def test_bundles_merge_materials_without_duplicates(hall: HallConfig) -> None:
    assert len(hall.bundles) >= 3
    overlapping = 0
    for b in hall.bundles:
        assert b.name_en, b.id
        merged = hall.bundle_materials(b.id)
        names = [m.name for m in merged]
        assert len(names) == len(set(names)), b.id
        listed = [m for sid in b.services for m in hall.service(sid).materials]
        assert set(names) == {m.name for m in listed}, b.id
        if len(merged) < len(listed):
            overlapping += 1
        # the merged list keeps the strictest mark among the services
        for m in merged:
            strictest = min((x.mark for x in listed if x.name == m.name), key=RANK.__getitem__)
            assert m.mark == strictest, (b.id, m.name)
    assert overlapping >= 3


def test_bundle_keeps_required_over_may_be_missing(hall: HallConfig) -> None:
    # 入学登记 requires 居民户口簿; 户籍类证明 lets it be missing: together it is required
    marks = {
        sid: {m.name: m.mark for m in hall.service(sid).materials}
        for sid in hall.bundle("school_entry").services
    }
    assert marks["school_enrol_register"]["居民户口簿"] == "required"
    assert marks["hukou_proof_xp"]["居民户口簿"] == "may_be_missing"
    merged = {m.name: m.mark for m in hall.bundle_materials("school_entry")}
    assert merged["居民户口簿"] == "required"


def test_terminals(hall: HallConfig) -> None:
    roles = Counter(t.role for t in hall.terminals)
    assert roles["kiosk"] >= 4
    assert roles["display"] == 2
    assert roles["rater"] == 2
    kiosks = {t.id: t for t in hall.terminals if t.role == "kiosk"}
    assert {"k01", "k02", "k03", "k04"} <= set(kiosks)
    assert all(t.location for t in kiosks.values())
    assert any("便民服务站" in t.location for t in kiosks.values())
    assert any("银行" in t.location for t in kiosks.values())
    window_terms = [t for t in hall.terminals if t.role == "window"]
    assert sorted(t.window for t in window_terms) == sorted(w.id for w in hall.windows)
    assert {t.id for t in hall.terminals if t.role == "display"} == {"d01", "d02"}


# --------------------------------------------------------------------------- calendar


FESTIVALS = {"元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"}


@pytest.mark.parametrize("year", [2026, 2027])
def test_calendar_covers_every_festival(hall: HallConfig, year: int) -> None:
    names = {h.name for h in hall.schedule.holidays if h.date.year == year}
    assert names == FESTIVALS
    makeups = [w for w in hall.schedule.workdays if w.date.year == year]
    assert makeups, year
    assert all(w.name for w in makeups)
    # a make-up working day is always a Saturday or a Sunday
    assert all(w.date.weekday() >= 5 for w in makeups)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (dt.date(2026, 1, 1), DayKind.HOLIDAY),  # 元旦
        (dt.date(2026, 1, 4), DayKind.MAKEUP),  # 元旦调休, Sunday
        (dt.date(2026, 2, 17), DayKind.HOLIDAY),  # 春节 初一
        (dt.date(2026, 2, 14), DayKind.MAKEUP),  # 春节调休, Saturday
        (dt.date(2026, 2, 24), DayKind.WORKDAY),  # first Tuesday after 春节
        (dt.date(2026, 5, 9), DayKind.MAKEUP),  # 劳动节调休
        (dt.date(2026, 6, 19), DayKind.HOLIDAY),  # 端午
        (dt.date(2026, 9, 20), DayKind.MAKEUP),  # 国庆调休, Sunday
        (dt.date(2026, 10, 3), DayKind.HOLIDAY),  # 国庆, a Saturday
        (dt.date(2026, 10, 10), DayKind.MAKEUP),  # 国庆调休, Saturday
        (dt.date(2026, 3, 7), DayKind.WEEKEND),  # ordinary Saturday
        (dt.date(2027, 2, 6), DayKind.HOLIDAY),  # 2027 春节 初一
        (dt.date(2027, 10, 9), DayKind.MAKEUP),
    ],
)
def test_day_kind(hall: HallConfig, day: dt.date, kind: DayKind) -> None:
    assert day_kind(hall.schedule, day) == kind


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        ((2026, 3, 10, 10, 0), True),  # Tuesday morning
        ((2026, 3, 10, 12, 30), False),  # lunch break
        ((2026, 3, 10, 17, 45), True),  # Tuesday 延时服务 until 18:00
        ((2026, 3, 11, 17, 45), False),  # Wednesday closes at 17:30
        ((2026, 3, 10, 8, 59), False),
        ((2026, 3, 10, 9, 0), True),
        ((2026, 3, 7, 10, 0), True),  # Saturday morning 预约办理
        ((2026, 3, 7, 14, 0), False),  # Saturday afternoon
        ((2026, 3, 8, 10, 0), False),  # Sunday
        ((2026, 10, 1, 10, 0), False),  # 国庆 Thursday
        ((2026, 10, 3, 10, 0), False),  # 国庆 Saturday: closed despite Saturday hours
        ((2026, 9, 20, 10, 0), True),  # 调休 Sunday
        ((2026, 9, 20, 15, 0), True),  # ... with Monday's afternoon hours
        ((2026, 2, 14, 15, 0), True),  # 调休 Saturday afternoon (Monday hours)
        ((2026, 2, 14, 17, 45), False),  # Monday hours end at 17:30
    ],
)
def test_is_open(hall: HallConfig, when: tuple[int, ...], open_: bool) -> None:
    assert is_open(hall.schedule, local(hall, *when), hall.tz) is open_


def test_is_open_converts_from_utc(hall: HallConfig) -> None:
    # 2026-03-10 02:00 UTC = 10:00 in 云溪
    utc = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
    assert is_open(hall.schedule, utc, hall.tz)
    assert not is_open(hall.schedule, utc.replace(hour=4, minute=30), hall.tz)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ((2026, 9, 30, 18, 0), (2026, 10, 8, 9, 0)),  # over the whole 国庆 week
        ((2026, 9, 19, 12, 30), (2026, 9, 20, 9, 0)),  # Saturday noon -> 调休 Sunday
        ((2026, 2, 13, 18, 0), (2026, 2, 14, 9, 0)),  # Friday -> 调休 Saturday
        ((2026, 2, 14, 18, 0), (2026, 2, 24, 9, 0)),  # over 春节
        ((2026, 3, 10, 12, 0), (2026, 3, 10, 13, 30)),  # after the lunch break
        ((2026, 3, 6, 18, 0), (2026, 3, 7, 9, 0)),  # Saturday morning
        ((2026, 3, 7, 12, 0), (2026, 3, 9, 9, 0)),  # Sunday closed
    ],
)
def test_next_opening(hall: HallConfig, when: tuple[int, ...], expected: tuple[int, ...]) -> None:
    got = next_opening(hall.schedule, local(hall, *when), hall.tz)
    assert got == local(hall, *expected)


@pytest.mark.parametrize(
    ("when", "day"),
    [
        ((2026, 3, 10, 2, 59), dt.date(2026, 3, 9)),  # before 03:00: previous day
        ((2026, 3, 10, 3, 0), dt.date(2026, 3, 10)),
        ((2026, 3, 10, 23, 59), dt.date(2026, 3, 10)),
        ((2026, 1, 1, 1, 0), dt.date(2025, 12, 31)),  # over the year boundary
    ],
)
def test_service_day(hall: HallConfig, when: tuple[int, ...], day: dt.date) -> None:
    assert service_day(hall.schedule, local(hall, *when), hall.tz) == day


def test_service_day_from_utc(hall: HallConfig) -> None:
    # 2026-03-09 18:30 UTC = 03-10 02:30 in 云溪, before the boundary
    utc = dt.datetime(2026, 3, 9, 18, 30, tzinfo=dt.UTC)
    assert service_day(hall.schedule, utc, hall.tz) == dt.date(2026, 3, 9)


# --------------------------------------------------------------------------- minimal


def test_minimal_config(minimal: HallConfig) -> None:
    assert len(minimal.queues) == 2
    assert len(minimal.windows) == 2
    assert len(minimal.services) == 2
    # everything else takes its defaults
    assert minimal.schedule.day_boundary == "03:00"
    assert minimal.broker.url is None and minimal.broker.port == 1883
    assert minimal.data_dir == "var"
    assert day_kind(minimal.schedule, dt.date(2026, 10, 10)) == DayKind.MAKEUP
    assert not is_open(minimal.schedule, local(minimal, 2026, 10, 1, 10), minimal.tz)


# --------------------------------------------------------------------------- errors


def line_of(path: Path, needle: str) -> int:
    """1-based number of the only non-comment line of ``path`` containing ``needle``."""
    hits = [
        i
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if needle in text and not text.lstrip().startswith("#")
    ]
    assert len(hits) == 1, (path, needle, hits)
    return hits[0]


def load_error(path: Path) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load_model(HallConfig, path)
    assert info.value.path == path
    return info.value


def test_broken_dir_holds_the_four_cases() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == [
        "holiday-also-workday.yaml",
        "window-unknown-queue.yaml",
        "wrong-type-legal-days.yaml",
        "yaml-syntax-error.yaml",
    ]


def test_error_yaml_syntax() -> None:
    path = BROKEN / "yaml-syntax-error.yaml"
    err = load_error(path)
    line = line_of(path, "1号窗口: 综合")
    assert str(err).startswith(f"{path}:{line}: YAML syntax error: ")
    assert "mapping values are not allowed" in str(err)


def test_error_wrong_type() -> None:
    path = BROKEN / "wrong-type-legal-days.yaml"
    err = load_error(path)
    line = line_of(path, 'legal_days: "three"')
    assert err.problems == [
        f"{path}:{line}: services.0.legal_days: Input should be a valid integer, "
        "unable to parse string as an integer (got 'three')"
    ]


def test_error_window_unknown_queue_names_file_and_problem() -> None:
    path = BROKEN / "window-unknown-queue.yaml"
    err = load_error(path)
    assert len(err.problems) == 1
    assert err.problems[0].startswith(f"{path}:")
    assert "window 'win02' serves unknown queue 'realty'" in err.problems[0]


def test_error_window_unknown_queue_line_and_path() -> None:
    path = BROKEN / "window-unknown-queue.yaml"
    err = load_error(path)
    line = line_of(path, "- realty")
    assert err.problems[0].startswith(f"{path}:{line}: windows.1.queues.1: ")


def test_error_holiday_also_workday_names_file_and_problem() -> None:
    path = BROKEN / "holiday-also-workday.yaml"
    err = load_error(path)
    assert len(err.problems) == 1
    assert err.problems[0].startswith(f"{path}:")
    assert ": schedule.workdays." in err.problems[0]
    assert "2026-10-01 is listed both as a holiday and as a make-up workday" in str(err)


def test_error_holiday_also_workday_line_and_path() -> None:
    path = BROKEN / "holiday-also-workday.yaml"
    err = load_error(path)
    line = line_of(path, "写错的调休日")
    assert err.problems[0].startswith(f"{path}:{line}: schedule.workdays.2")


def test_unquoted_time_is_read_as_the_time_it_says(tmp_path: Path) -> None:
    # YAML 1.1 reads an unquoted 13:30 as the base-60 number 810; the model turns it back
    text = MINIMAL.read_text(encoding="utf-8").replace(
        'tue: [{start: "09:00", end: "17:00"}]', "tue: [{start: '09:00', end: 13:30}]"
    )
    assert text != MINIMAL.read_text(encoding="utf-8")
    path = tmp_path / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    cfg = load_model(HallConfig, path)
    assert cfg.schedule.weekly["tue"][0].end == "13:30"


def test_error_bad_time_points_at_its_line(tmp_path: Path) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace(
        'tue: [{start: "09:00", end: "17:00"}]', "tue: [{start: '09:00', end: '25:10'}]"
    )
    path = tmp_path / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    err = load_error(path)
    line = line_of(path, "end: '25:10'")
    assert len(err.problems) == 1
    assert err.problems[0].startswith(f"{path}:{line}: schedule.weekly.tue.0.end: ")
    assert "(got '25:10')" in err.problems[0]


def test_terminal_may_not_take_the_controllers_broker_login(tmp_path: Path) -> None:
    # gen-auth gives the user "controller" read and write on the whole hall
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "  - {id: w01, role: window, window: win01}",
        "  - {id: w01, role: window, window: win01}\n  - {id: controller, role: display}",
    )
    assert text != MINIMAL.read_text(encoding="utf-8")
    path = tmp_path / "hall.yaml"
    path.write_text(text, encoding="utf-8")
    err = load_error(path)
    line = line_of(path, "id: controller")
    assert err.problems == [
        f"{path}:{line}: terminals.2.id: terminal id 'controller' is reserved: it is the hall "
        "controller's broker login, which may read and write the whole hall; give the "
        "terminal another id (got 'controller')"
    ]
    # only the exact user name is reserved
    path.write_text(text.replace("id: controller,", "id: controller2,"), encoding="utf-8")
    assert load_model(HallConfig, path).terminals[2].id == "controller2"


@pytest.mark.parametrize(
    ("broker", "field", "message"),
    [
        ("{tls_port: 8883}", "broker.tls_port", "a TLS listener needs tls_cert and tls_key"),
        (
            "{tls_cert: s.pem, tls_key: s.key}",
            "broker.tls_cert",
            "the TLS listener needs its port: set tls_port (usually 8883)",
        ),
        ("{tls_cert: s.pem, tls_port: 8883}", "broker.tls_cert", "tls_cert needs tls_key"),
        (
            "{tls_cert: s.pem, tls_key: s.key, tls_port: 1883}",
            "broker.tls_port",
            "tls_port must differ from port (1883)",
        ),
        ("{tls_client_key: c.key}", "broker.tls_client_key", "needs tls_client_cert"),
        ("{url: 'https://10.0.0.5'}", "broker.url", "must be mqtt://HOST:PORT, or mqtts://"),
    ],
)
def test_broker_tls_settings_are_checked(
    tmp_path: Path, broker: str, field: str, message: str
) -> None:
    path = tmp_path / "hall.yaml"
    path.write_text(MINIMAL.read_text(encoding="utf-8") + f"\nbroker: {broker}\n", encoding="utf-8")
    err = load_error(path)
    assert len(err.problems) == 1
    assert err.problems[0].startswith(f"{path}:{line_of(path, 'broker: {')}: {field}: ")
    assert message in err.problems[0]


def test_broker_tls_in_full(tmp_path: Path) -> None:
    path = tmp_path / "hall.yaml"
    path.write_text(
        MINIMAL.read_text(encoding="utf-8")
        + "\nbroker: {bind: 0.0.0.0, auth: true, tls_ca: ca.pem, tls_cert: s.pem, "
        "tls_key: s.key, tls_port: 8883}\n",
        encoding="utf-8",
    )
    b = load_model(HallConfig, path).broker
    assert b.managed_tls and b.plain_bind == "127.0.0.1" and b.bind == "0.0.0.0"


def test_broker_url_schemes() -> None:
    from hall_contract.hallconfig import BrokerConfig

    for url in ("mqtt://hall:1883", "mqtts://hall:8883", "tcp://hall:1883"):
        assert BrokerConfig(url=url).url == url
    for bad in ("http://hall:1883", "mqtt://", "mqtt://hall:port"):
        with pytest.raises(ValueError, match=r"must be mqtt://|port must be a number"):
            BrokerConfig(url=bad)
