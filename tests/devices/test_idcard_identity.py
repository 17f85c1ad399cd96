"""Identity parsing from the 256-byte text block: layouts, check digit, masking, wipe."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.errors import ProtocolError
from devices.idcard.identity import (
    ETHNICITIES,
    CardType,
    Identity,
    PhotoDecoder,
    Sex,
    encode_identity,
    id_check_char,
    id_number_valid,
    mask_id_number,
    mask_name,
    parse_appended_address,
    parse_identity,
)
from devices.idcard.simulator import make_id_number, sample_identity


def test_check_digit_gb11643_example() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert id_number_valid("11010519491231002X")
    assert id_number_valid("11010519491231002x")
    assert not id_number_valid("110105194912310021")
    assert not id_number_valid("1101051949123100")


def test_masks() -> None:
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_name("张晓明") == "张*明"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳建华") == "欧**华"
    assert mask_name("王") == "*"


def test_ethnicity_table_is_complete_with_current_names() -> None:
    assert len(ETHNICITIES) == 58
    assert [f"{i:02d}" for i in range(1, 57)] + ["97", "98"] == list(ETHNICITIES)
    assert ETHNICITIES["36"] == "毛南" and ETHNICITIES["46"] == "德昂"
    assert ETHNICITIES["01"] == "汉" and ETHNICITIES["56"] == "基诺"


def _resident(**overrides: object) -> Identity:
    fields: dict[str, object] = dict(
        card_type=CardType.RESIDENT,
        name="张晓明",
        sex=Sex.MALE,
        ethnicity_code="46",
        birth_date=dt.date(1949, 12, 31),
        address="北京市朝阳区测试路1号",
        id_number="11010519491231002X",
        authority="北京市公安局朝阳分局",
        valid_from=dt.date(2010, 1, 1),
        valid_to=None,
        photo=b"\x01" * 1024,
    )
    fields.update(overrides)
    return Identity(**fields)  # type: ignore[arg-type]


def test_resident_round_trip_with_long_term_validity() -> None:
    ident = parse_identity(encode_identity(_resident()), b"\x01" * 1024)
    assert ident == _resident()
    assert ident.long_term and ident.valid_to is None
    assert ident.ethnicity == "德昂"
    assert ident.sex.zh == "男"
    assert "长期".encode("utf-16-le") in encode_identity(ident)


def test_text_block_offsets_follow_devices_md() -> None:
    block = encode_identity(_resident(valid_to=dt.date(2030, 1, 1)))
    assert len(block) == 256
    assert block[0:6].decode("utf-16-le") == "张晓明"
    assert block[30:32].decode("utf-16-le") == "1"
    assert block[32:36].decode("utf-16-le") == "46"
    assert block[36:52].decode("utf-16-le") == "19491231"
    assert block[122:158].decode("utf-16-le") == "11010519491231002X"
    assert block[204:220].decode("utf-16-le") == "20300101"
    assert block[248:250].decode("utf-16-le") == " "


def test_corrupt_check_digit_is_a_protocol_error() -> None:
    block = bytearray(encode_identity(_resident()))
    block[122 + 2 * 17 : 122 + 2 * 18] = "1".encode("utf-16-le")
    with pytest.raises(ProtocolError, match="check digit"):
        parse_identity(bytes(block))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (36, "19491332", "birth date"),
        (30, "7", "sex"),
        (32, "77", "ethnicity"),
        (248, "Z", "card type"),
        (188, "2010AB01", "valid-from"),
    ],
)
def test_bad_fields_are_protocol_errors(offset: int, value: str, message: str) -> None:
    block = bytearray(encode_identity(_resident()))
    raw = value.encode("utf-16-le")
    block[offset : offset + len(raw)] = raw
    with pytest.raises(ProtocolError, match=message):
        parse_identity(bytes(block))


def test_wrong_block_length() -> None:
    with pytest.raises(ProtocolError):
        parse_identity(b" \x00" * 100)


@pytest.mark.parametrize("card_type", list(CardType))
def test_sample_identities_round_trip_for_every_card_type(card_type: CardType) -> None:
    for seed in range(5):
        ident = sample_identity(seed, card_type)
        parsed = parse_identity(encode_identity(ident), bytes(ident._photo))
        assert parsed == ident
        assert parsed.card_type is card_type
        if card_type is not CardType.FOREIGN_PERMANENT_OLD:
            assert id_number_valid(parsed.id_number)


def test_hmt_permit_fields() -> None:
    ident = parse_identity(encode_identity(sample_identity(3, CardType.HMT_RESIDENCE)))
    assert ident.permit is not None
    assert ident.permit.pass_number.startswith("H") and ident.permit.issue_count >= 1
    assert ident.id_number.startswith("810000")


def test_foreigner_layouts() -> None:
    new = parse_identity(encode_identity(sample_identity(1, CardType.FOREIGN_PERMANENT_2023)))
    assert new.english_name == "SMITH, JOHN ALEXANDER WILLIAM TESTPERSON"  # spans both parts
    assert new.nationality == "GBR" and new.name == "史密斯" and new.id_number.startswith("9")
    old = parse_identity(encode_identity(sample_identity(1, CardType.FOREIGN_PERMANENT_OLD)))
    assert old.id_number.startswith("DEU") and len(old.id_number) == 15
    assert old.version == "02" and old.authority == "1500" and old.name == "穆勒"


def test_age_on_a_date() -> None:
    ident = _resident()
    assert ident.age_on(dt.date(2019, 12, 30)) == 69
    assert ident.age_on(dt.date(2019, 12, 31)) == 70
    leap = _resident(birth_date=dt.date(2000, 2, 29))
    assert leap.age_on(dt.date(2018, 2, 28)) == 17
    assert leap.age_on(dt.date(2018, 3, 1)) == 18


def test_validity_window() -> None:
    ident = _resident(valid_to=dt.date(2020, 1, 1))
    assert ident.valid_on(dt.date(2019, 6, 1))
    assert not ident.valid_on(dt.date(2020, 1, 2))
    assert _resident().valid_on(dt.date(2099, 1, 1))


def test_str_and_repr_mask_personal_data() -> None:
    ident = _resident()
    for shown in (str(ident), repr(ident), f"{ident}", str([ident])):
        assert "张*明" in shown and "1101**********002X" in shown
        assert "张晓明" not in shown and "11010519491231002X" not in shown
        assert "测试路" not in shown and "19491231" not in shown
    assert ident.name == "张晓明" and ident.id_number == "11010519491231002X"


def test_logging_an_identity_stays_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("read %s", _resident())
    assert "张*明" in caplog.text and "张晓明" not in caplog.text


def test_photo_only_through_decoder_plugin() -> None:
    class FakeDecoder:
        def __init__(self) -> None:
            self.seen = b""

        def decode(self, wlt: bytes) -> bytes:
            self.seen = wlt
            return b"BM" + wlt[:4]

    decoder = FakeDecoder()
    assert isinstance(decoder, PhotoDecoder)
    ident = _resident()
    assert ident.decode_photo(decoder) == b"BM\x01\x01\x01\x01"
    assert decoder.seen == b"\x01" * 1024
    assert not hasattr(ident, "photo")
    with pytest.raises(TypeError):
        pickle.dumps(ident)


def test_wipe_clears_every_field() -> None:
    ident = _resident()
    photo_buffer = ident._photo
    ident.wipe()
    assert not any(photo_buffer) and not ident.has_photo
    assert (ident.name, ident.id_number, ident.address, ident.authority) == ("", "", "", "")
    assert ident.birth_date is None and ident.sex is Sex.UNKNOWN


def test_make_id_number_is_valid() -> None:
    number = make_id_number("440305", dt.date(1990, 5, 17), 123)
    assert number.startswith("44030519900517123") and id_number_valid(number)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=256, max_size=256))
def test_fuzz_identity_parser_raises_only_protocol_error(block: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_identity(block)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from(list(CardType)),
    st.integers(0, 255),
    st.integers(0, 255),
)
def test_fuzz_single_byte_corruption_never_crashes(
    seed: int, ct: CardType, pos: int, val: int
) -> None:
    block = bytearray(encode_identity(sample_identity(seed, ct)))
    block[pos] = val
    with contextlib.suppress(ProtocolError):
        parse_identity(bytes(block))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_fuzz_appended_address_raises_only_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(parse_appended_address(data), str)


def test_a_card_issued_on_a_leap_day_expires_on_the_28th_of_february() -> None:
    """The simulator's validity dates: found by the fuzz test (seed 1377)."""
    from devices.idcard.simulator import years_after

    assert years_after(dt.date(2016, 2, 29), 10) == dt.date(2026, 2, 28)
    assert years_after(dt.date(2016, 2, 29), 20) == dt.date(2036, 2, 29)
    for ct in CardType:
        encode_identity(sample_identity(1377, ct))  # each card type, no ValueError
