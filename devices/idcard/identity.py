"""Typed identity parsed from the card's 256-byte UCS-2LE text block — pure, no I/O.

Privacy rules, enforced here:

* ``str()``/``repr()`` of :class:`Identity` mask the name (张*明) and ID number
  (1101**********002X) and leave out address and birth date; full values only through
  explicit attributes (``identity.name``, ``identity.id_number``);
* the photo (encrypted WLT) is held in memory only, never written or logged, and is
  handed only to a :class:`PhotoDecoder` plugin (a licensed vendor decoder);
* :meth:`Identity.wipe` clears every field and zeroes the photo buffer.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from devices.errors import ProtocolError

TEXT_BLOCK_LEN = 256
TYPE_FLAG_OFFSET = 248

#: GB/T 3304 ethnicity codes (current names: 36 毛南, 46 德昂), plus 97 and 98.
ETHNICITIES: dict[str, str] = {
    "01": "汉",
    "02": "蒙古",
    "03": "回",
    "04": "藏",
    "05": "维吾尔",
    "06": "苗",
    "07": "彝",
    "08": "壮",
    "09": "布依",
    "10": "朝鲜",
    "11": "满",
    "12": "侗",
    "13": "瑶",
    "14": "白",
    "15": "土家",
    "16": "哈尼",
    "17": "哈萨克",
    "18": "傣",
    "19": "黎",
    "20": "傈僳",
    "21": "佤",
    "22": "畲",
    "23": "高山",
    "24": "拉祜",
    "25": "水",
    "26": "东乡",
    "27": "纳西",
    "28": "景颇",
    "29": "柯尔克孜",
    "30": "土",
    "31": "达斡尔",
    "32": "仫佬",
    "33": "羌",
    "34": "布朗",
    "35": "撒拉",
    "36": "毛南",
    "37": "仡佬",
    "38": "锡伯",
    "39": "阿昌",
    "40": "普米",
    "41": "塔吉克",
    "42": "怒",
    "43": "乌孜别克",
    "44": "俄罗斯",
    "45": "鄂温克",
    "46": "德昂",
    "47": "保安",
    "48": "裕固",
    "49": "京",
    "50": "塔塔尔",
    "51": "独龙",
    "52": "鄂伦春",
    "53": "赫哲",
    "54": "门巴",
    "55": "珞巴",
    "56": "基诺",
    "97": "其他",
    "98": "外国血统中国籍人士",
}
#: Old names some readers/SDKs still print.
OLD_ETHNICITY_NAMES = {"毛难": "36", "崩龙": "46"}

LONG_TERM = "长期"


class Sex(enum.Enum):
    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    UNSPECIFIED = "9"

    @property
    def zh(self) -> str:
        return {"0": "未知", "1": "男", "2": "女", "9": "未说明"}[self.value]


class CardType(enum.Enum):
    RESIDENT = " "  #: 居民身份证
    HMT_RESIDENCE = "J"  #: 港澳台居民居住证
    FOREIGN_PERMANENT_OLD = "I"  #: 外国人永久居留身份证 (old layout)
    FOREIGN_PERMANENT_2023 = "Y"  #: 外国人永久居留身份证 (2023 layout)


@runtime_checkable
class PhotoDecoder(Protocol):
    """A licensed vendor decoder turning the 1024-byte WLT into an image (e.g. BMP bytes)."""

    def decode(self, wlt: bytes) -> bytes: ...


# -- ID number ---------------------------------------------------------------------------
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for 17 digits (GB 11643)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def id_number_valid(number: str) -> bool:
    if len(number) != 18:
        return False
    try:
        return id_check_char(number[:17]) == number[17].upper()
    except ValueError:
        return False


def mask_id_number(number: str) -> str:
    """``1101**********002X``: first 4 and last 4 kept (the province and city, not the
    county; the check digit's neighbours)."""
    number = number.strip()
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_name(name: str) -> str:
    """``张*明``, ``李*``, ``欧**华``; one-character names become ``*``."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# -- the Identity ------------------------------------------------------------------------
@dataclass(frozen=True)
class ResidencePermit:
    """Extra fields of a Hong Kong/Macau/Taiwan residence permit (flag J)."""

    pass_number: str  #: 通行证号码
    issue_count: int  #: 签发次数


class Identity:
    """One card's holder. Full values only via attributes; str/repr are masked."""

    __slots__ = (
        "_photo",
        "address",
        "appended_address",
        "authority",
        "birth_date",
        "card_type",
        "english_name",
        "ethnicity_code",
        "id_number",
        "name",
        "nationality",
        "permit",
        "renewal_count",
        "sex",
        "valid_from",
        "valid_to",
        "version",
    )

    def __init__(
        self,
        *,
        card_type: CardType,
        name: str,
        sex: Sex,
        birth_date: dt.date | None,
        id_number: str,
        valid_from: dt.date | None,
        valid_to: dt.date | None,
        ethnicity_code: str = "",
        address: str = "",
        authority: str = "",
        permit: ResidencePermit | None = None,
        english_name: str = "",
        nationality: str = "",
        renewal_count: int | None = None,
        version: str = "",
        appended_address: str = "",
        photo: bytes = b"",
    ) -> None:
        self.card_type = card_type
        self.name = name  #: 姓名 (Chinese name; for foreigners the Chinese name, may be empty)
        self.sex = sex
        self.ethnicity_code = ethnicity_code  #: GB/T 3304 code, "" on foreigner cards
        self.birth_date = birth_date
        self.address = address
        self.id_number = id_number  #: 公民身份号码 / card number
        self.authority = authority  #: 签发机关 (or authority code on old foreigner cards)
        self.valid_from = valid_from
        self.valid_to = valid_to  #: None = 长期 (no expiry)
        self.permit = permit
        self.english_name = english_name
        self.nationality = nationality  #: ISO 3166 alpha-3 on foreigner cards
        self.renewal_count = renewal_count
        self.version = version
        self.appended_address = appended_address  #: 追加地址 (command 30 03), "" if none
        self._photo = bytearray(photo)

    # -- derived values ------------------------------------------------------------------
    @property
    def ethnicity(self) -> str:
        return ETHNICITIES.get(self.ethnicity_code, "")

    @property
    def long_term(self) -> bool:
        return self.valid_to is None and self.valid_from is not None

    @property
    def has_photo(self) -> bool:
        return any(self._photo)

    def age_on(self, day: dt.date) -> int:
        """Completed years on ``day`` (a birthday on 29 Feb counts on 1 Mar in other years)."""
        if self.birth_date is None:
            raise ValueError("no birth date")
        born = self.birth_date
        years = day.year - born.year
        if (day.month, day.day) < (born.month, born.day):
            years -= 1
        return years

    def valid_on(self, day: dt.date) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day <= self.valid_to

    def decode_photo(self, decoder: PhotoDecoder) -> bytes:
        """Hand the encrypted photo to a licensed decoder; the result is the caller's."""
        return decoder.decode(bytes(self._photo))

    def wipe(self) -> None:
        """Forget everything: zero the photo buffer and blank every field."""
        for i in range(len(self._photo)):
            self._photo[i] = 0
        self._photo = bytearray()
        self.name = self.address = self.id_number = self.authority = ""
        self.english_name = self.nationality = self.version = self.appended_address = ""
        self.ethnicity_code = ""
        self.birth_date = self.valid_from = self.valid_to = None
        self.permit = None
        self.renewal_count = None
        self.sex = Sex.UNKNOWN

    # -- masking ---------------------------------------------------------------------
    @property
    def masked_name(self) -> str:
        return mask_name(self.name or self.english_name)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:
        valid = "长期" if self.long_term else (self.valid_to.isoformat() if self.valid_to else "?")
        return (
            f"Identity(type={self.card_type.name.lower()}, name={self.masked_name}, "
            f"id_number={self.masked_id_number}, valid_to={valid})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Identity is not picklable: personal data stays in memory")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Identity):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


# -- text block codec ------------------------------------------------------------------
def _field(block: bytes, offset: int, size: int) -> str:
    try:
        text = block[offset : offset + size].decode("utf-16-le")
    except UnicodeDecodeError as err:
        raise ProtocolError(f"text at byte {offset} is not UCS-2") from err
    return text.replace("\x00", " ").strip()


def _date(text: str, what: str, allow_long_term: bool = False) -> dt.date | None:
    if allow_long_term and text == LONG_TERM:
        return None
    if not re.fullmatch(r"\d{8}", text):
        raise ProtocolError(f"{what} is not a YYYYMMDD date")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as err:
        raise ProtocolError(f"{what} is not a valid date") from err


def _sex(text: str) -> Sex:
    try:
        return Sex(text)
    except ValueError as err:
        raise ProtocolError("unknown sex code") from err


def _int(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ProtocolError(f"{what} is not a number")
    return int(text)


def _checked_id(number: str) -> str:
    if not id_number_valid(number):
        raise ProtocolError("ID number fails its MOD 11-2 check digit: the read is corrupt")
    return number.upper()


def parse_identity(text: bytes, photo: bytes = b"", appended_address: str = "") -> Identity:
    """Parse the 256-byte text block; the layout follows the type flag at byte 248."""
    if len(text) != TEXT_BLOCK_LEN:
        raise ProtocolError(f"text block must be {TEXT_BLOCK_LEN} bytes, got {len(text)}")
    flag = _field(text, TYPE_FLAG_OFFSET, 2) or " "
    try:
        card_type = CardType(flag)
    except ValueError as err:
        raise ProtocolError("unknown card type flag") from err
    f = lambda off, size: _field(text, off, size)  # noqa: E731
    if card_type in (CardType.RESIDENT, CardType.HMT_RESIDENCE):
        permit = None
        if card_type is CardType.HMT_RESIDENCE:
            permit = ResidencePermit(f(220, 18), _int(f(238, 4), "issue count"))
        ethnicity = f(32, 4)
        if card_type is CardType.RESIDENT and ethnicity not in ETHNICITIES:
            raise ProtocolError("unknown ethnicity code")
        return Identity(
            card_type=card_type,
            name=f(0, 30),
            sex=_sex(f(30, 2)),
            ethnicity_code=ethnicity if ethnicity in ETHNICITIES else "",
            birth_date=_date(f(36, 16), "birth date"),
            address=f(52, 70),
            id_number=_checked_id(f(122, 36)),
            authority=f(158, 30),
            valid_from=_date(f(188, 16), "valid-from date"),
            valid_to=_date(f(204, 16), "valid-to date", allow_long_term=True),
            permit=permit,
            appended_address=appended_address,
            photo=photo,
        )
    if card_type is CardType.FOREIGN_PERMANENT_OLD:
        number = f(122, 30)
        if not re.fullmatch(r"[A-Z]{3}\d{12}", number):
            raise ProtocolError("foreigner card number is not 3 letters + 12 digits")
        return Identity(
            card_type=card_type,
            english_name=f(0, 120),
            sex=_sex(f(120, 2)),
            id_number=number,
            nationality=f(152, 6),
            name=f(158, 30),
            valid_from=_date(f(188, 16), "valid-from date"),
            valid_to=_date(f(204, 16), "valid-to date", allow_long_term=True),
            birth_date=_date(f(220, 16), "birth date"),
            version=f(236, 4),
            authority=f(240, 8),
            appended_address=appended_address,
            photo=photo,
        )
    # 2023 foreigner card
    try:
        english = (text[52:122] + text[220:242]).decode("utf-16-le").replace("\x00", " ").strip()
    except UnicodeDecodeError as err:
        raise ProtocolError("English name is not UCS-2") from err
    return Identity(
        card_type=card_type,
        name=f(0, 30),
        sex=_sex(f(30, 2)),
        renewal_count=_int(f(32, 4), "renewal count"),
        birth_date=_date(f(36, 16), "birth date"),
        english_name=english,
        id_number=_checked_id(f(122, 36)),
        valid_from=_date(f(188, 16), "valid-from date"),
        valid_to=_date(f(204, 16), "valid-to date", allow_long_term=True),
        nationality=f(242, 6),
        appended_address=appended_address,
        photo=photo,
    )


def _put(block: bytearray, offset: int, size: int, value: str) -> None:
    raw = value.encode("utf-16-le")
    if len(raw) > size:
        raise ValueError(f"{value!r} does not fit {size} bytes")
    block[offset : offset + size] = raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)


def _ymd(day: dt.date | None) -> str:
    return day.strftime("%Y%m%d") if day else LONG_TERM


def encode_identity(identity: Identity) -> bytes:
    """Inverse of :func:`parse_identity` (for simulators and tests)."""
    block = bytearray(" ".encode("utf-16-le") * (TEXT_BLOCK_LEN // 2))
    i = identity
    ct = i.card_type
    if ct in (CardType.RESIDENT, CardType.HMT_RESIDENCE):
        _put(block, 0, 30, i.name)
        _put(block, 30, 2, i.sex.value)
        _put(block, 32, 4, i.ethnicity_code)
        _put(block, 36, 16, _ymd(i.birth_date))
        _put(block, 52, 70, i.address)
        _put(block, 122, 36, i.id_number)
        _put(block, 158, 30, i.authority)
        _put(block, 188, 16, _ymd(i.valid_from))
        _put(block, 204, 16, _ymd(i.valid_to))
        if ct is CardType.HMT_RESIDENCE and i.permit is not None:
            _put(block, 220, 18, i.permit.pass_number)
            _put(block, 238, 4, f"{i.permit.issue_count:02d}")
    elif ct is CardType.FOREIGN_PERMANENT_OLD:
        _put(block, 0, 120, i.english_name)
        _put(block, 120, 2, i.sex.value)
        _put(block, 122, 30, i.id_number)
        _put(block, 152, 6, i.nationality)
        _put(block, 158, 30, i.name)
        _put(block, 188, 16, _ymd(i.valid_from))
        _put(block, 204, 16, _ymd(i.valid_to))
        _put(block, 220, 16, _ymd(i.birth_date))
        _put(block, 236, 4, i.version)
        _put(block, 240, 8, i.authority)
    else:
        _put(block, 0, 30, i.name)
        _put(block, 30, 2, i.sex.value)
        _put(block, 32, 4, f"{i.renewal_count or 0:02d}")
        _put(block, 36, 16, _ymd(i.birth_date))
        english = i.english_name
        _put(block, 52, 70, english[:35])
        _put(block, 122, 36, i.id_number)
        _put(block, 188, 16, _ymd(i.valid_from))
        _put(block, 204, 16, _ymd(i.valid_to))
        _put(block, 220, 22, english[35:])
        _put(block, 242, 6, i.nationality)
    _put(block, TYPE_FLAG_OFFSET, 2, ct.value)
    return bytes(block)


def parse_appended_address(data: bytes) -> str:
    """The UCS-2LE text of a ``30 03`` reply (may be empty)."""
    if len(data) % 2:
        raise ProtocolError("appended address has an odd byte count")
    try:
        return data.decode("utf-16-le").replace("\x00", " ").strip()
    except UnicodeDecodeError as err:
        raise ProtocolError("appended address is not UCS-2") from err
