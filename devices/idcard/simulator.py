"""A SAM module that answers the real protocol, with made-up sample holders.

The sample identities are generated (not real people): invented names, the fictitious
street 测试路, and ID numbers with a valid MOD 11-2 check digit. Serve it with
:class:`devices.sim.SimServer` over a pty or TCP; faults come from the server's
:class:`~devices.sim.FaultPlan`.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterable
from typing import Any

from devices.idcard import protocol as p
from devices.idcard.identity import (
    CardType,
    Identity,
    ResidencePermit,
    Sex,
    encode_identity,
    id_check_char,
)
from devices.sim import SimServer

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗"
_GIVEN = [
    "晓明",
    "建华",
    "丽",
    "秀英",
    "志强",
    "海燕",
    "国庆",
    "子涵",
    "一鸣",
    "静",
    "文博",
    "欣怡",
]
_REGIONS = [
    ("110105", "北京市公安局朝阳分局", "北京市朝阳区"),
    ("310104", "上海市公安局徐汇分局", "上海市徐汇区"),
    ("440305", "深圳市公安局南山分局", "广东省深圳市南山区"),
    ("510107", "成都市公安局武侯区分局", "四川省成都市武侯区"),
]


def make_id_number(region: str, birth: dt.date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_char(first17)


def years_after(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year
    (a card issued on a leap day expires on the 28th, found by the fuzz test)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def sample_identity(seed: int = 0, card_type: CardType = CardType.RESIDENT) -> Identity:
    """A realistic, invented card holder; the same seed gives the same holder."""
    rnd = random.Random(seed)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(0, 365 * 55))
    sex = rnd.choice([Sex.MALE, Sex.FEMALE])
    seq = rnd.randrange(0, 500) * 2 + (1 if sex is Sex.MALE else 0)  # odd = male (GB 11643)
    valid_from = dt.date(2015, 1, 1) + dt.timedelta(days=rnd.randrange(0, 3000))
    photo = rnd.randbytes(p.PHOTO_LEN)  # not a real WLT
    if card_type is CardType.RESIDENT or card_type is CardType.HMT_RESIDENCE:
        region, authority, place = rnd.choice(_REGIONS)
        permit = None
        if card_type is CardType.HMT_RESIDENCE:
            region, authority, place = "810000", "深圳市公安局南山分局", "广东省深圳市南山区"
            permit = ResidencePermit(f"H{rnd.randrange(10**7, 10**8)}", rnd.randrange(1, 5))
        age = (valid_from - birth).days // 365
        valid_to: dt.date | None
        if age >= 46:
            valid_to = None
        else:
            years = 5 if age < 16 else 10 if age < 26 else 20
            valid_to = years_after(valid_from, years)
        return Identity(
            card_type=card_type,
            name=rnd.choice(_SURNAMES) + rnd.choice(_GIVEN),
            sex=sex,
            ethnicity_code=rnd.choice(["01", "01", "01", "03", "08", "11", "36", "46"]),
            birth_date=birth,
            address=f"{place}测试路{rnd.randrange(1, 300)}号{rnd.randrange(1, 30)}栋{rnd.randrange(101, 2999)}室",
            id_number=make_id_number(region, birth, seq),
            authority=authority,
            valid_from=valid_from,
            valid_to=valid_to,
            permit=permit,
            photo=photo,
        )
    if card_type is CardType.FOREIGN_PERMANENT_2023:
        first17 = f"9{rnd.choice(['36', '40', '26'])}{rnd.randrange(0, 1000):03d}{birth:%Y%m%d}{rnd.randrange(0, 1000):03d}"[
            :17
        ]
        first17 = first17.ljust(17, "0")
        return Identity(
            card_type=card_type,
            name="史密斯",
            sex=sex,
            renewal_count=rnd.randrange(0, 3),
            birth_date=birth,
            english_name="SMITH, JOHN ALEXANDER WILLIAM TESTPERSON",
            id_number=first17 + id_check_char(first17),
            valid_from=valid_from,
            valid_to=years_after(valid_from, 10),
            nationality="GBR",
            photo=photo,
        )
    return Identity(
        card_type=card_type,
        english_name="MUELLER, ANNA TESTPERSON",
        sex=sex,
        id_number=f"DEU{rnd.randrange(10**11, 10**12):012d}",
        nationality="DEU",
        name="穆勒",
        valid_from=valid_from,
        valid_to=years_after(valid_from, 10),
        birth_date=birth,
        version="02",
        authority="1500",
        photo=photo,
    )


class IdCardSimulator:
    """Protocol handler of a SAM module with a card that can be put on and taken off.

    The card on the reader is either one of :attr:`identities` (:meth:`place_card`,
    :meth:`next_card`) or any identity put there with :meth:`insert`; :meth:`remove` takes
    it off. These methods are thread-safe: the server thread answers commands meanwhile.
    """

    def __init__(
        self,
        identities: list[Identity] | None = None,
        *,
        card_present: bool = True,
        sam_id: str = "05.01-20101010-0003579263-1112034520",
        sam_ok: bool = True,
        appended_address: str = "",
        fingerprint: bytes | None = None,
        unsupported: Iterable[p.Command] = (),
    ) -> None:
        self._lock = threading.Lock()
        self.identities = list(identities) if identities is not None else [sample_identity(1)]
        self.card_present = card_present
        self.sam_id = sam_id
        self.sam_ok = sam_ok
        self.appended_address = appended_address
        self.fingerprint = fingerprint
        self.refuse: dict[p.Command, int] = {}  #: answer a command with this SW3 instead
        #: commands this reader model does not know (answered with SW3 21, "bad command"),
        #: e.g. ``READ_APPENDED_ADDRESS`` on older readers
        self.unsupported: frozenset[p.Command] = frozenset(unsupported)
        self._index = 0
        self._inserted: Identity | None = None
        self._selected = False
        self._parser = p.FrameParser()
        self.commands: list[p.CommandFrame] = []

    @property
    def current(self) -> Identity:
        """The card the reader holds (or would hold once placed)."""
        if self._inserted is not None:
            return self._inserted
        return self.identities[self._index % len(self.identities)]

    def insert(self, identity: Identity) -> None:
        """Put a card with this identity on the reader (replacing any card there). The
        simulator keeps a reference, not a copy, until :meth:`remove` or another card;
        :attr:`identities` is not changed."""
        with self._lock:
            self._inserted = identity
            self.card_present = True
            self._selected = False

    def remove(self) -> Identity | None:
        """Take the card off the reader; returns the identity put there with
        :meth:`insert` (the simulator no longer refers to it), else None."""
        with self._lock:
            inserted, self._inserted = self._inserted, None
            self.card_present = False
            self._selected = False
        return inserted

    def place_card(self, index: int | None = None) -> None:
        """Put sample holder ``index`` of :attr:`identities` (default: the current one) on
        the reader; a card put there with :meth:`insert` is taken off first."""
        with self._lock:
            if index is not None:
                self._index = index
            self._inserted = None
            self.card_present = True
            self._selected = False

    def remove_card(self) -> None:
        """Take the card off the reader (same as :meth:`remove`)."""
        self.remove()

    def next_card(self) -> None:
        with self._lock:
            self._index += 1
            self._inserted = None
            self._selected = False

    # -- Handler -----------------------------------------------------------------------
    @staticmethod
    def redact(frame: bytes) -> str:
        return p.redact_frame(frame)

    def on_data(self, data: bytes) -> list[bytes]:
        replies: list[bytes] = []
        for item in self._parser.feed(data):
            if isinstance(item, p.ProtocolError):
                replies.append(p.build_response(p.Sw3.CHECKSUM_ERROR))
                continue
            cmd = p.parse_command(item)
            with self._lock:
                self.commands.append(cmd)
                replies.append(self._answer(cmd))
        return replies

    def _answer(self, frame: p.CommandFrame) -> bytes:
        command = frame.command
        if command is None or command in self.unsupported:
            return p.build_response(p.Sw3.BAD_COMMAND)
        if command in self.refuse:
            return p.build_response(self.refuse[command])
        C = p.Command
        if command is C.RESET_SAM:
            return p.build_response(p.Sw3.SUCCESS)
        if command is C.SAM_STATUS:
            return p.build_response(p.Sw3.SUCCESS if self.sam_ok else p.Sw3.SAM_SELF_TEST_FAILED)
        if command is C.SAM_ID:
            return p.build_response(p.Sw3.SUCCESS, p.build_sam_id(self.sam_id))
        if command is C.FIND_CARD:
            if not self.card_present:
                return p.build_response(p.Sw3.NO_CARD)
            return p.build_response(p.Sw3.CARD_FOUND, b"\x00\x00\x00\x00")
        if command is C.SELECT_CARD:
            if not self.card_present:
                return p.build_response(p.Sw3.SELECT_FAILED)
            self._selected = True
            return p.build_response(p.Sw3.SUCCESS, bytes(8))
        if not (self.card_present and self._selected):
            return p.build_response(p.Sw3.READ_FAILED)
        identity = self.current
        if command is C.READ_APPENDED_ADDRESS:
            if not self.appended_address:
                return p.build_response(p.Sw3.NO_CONTENT)
            raw = self.appended_address.encode("utf-16-le")
            raw += " ".encode("utf-16-le") * max(0, (70 - len(raw)) // 2)
            return p.build_response(p.Sw3.SUCCESS, raw)
        text = encode_identity(identity)
        photo = bytes(identity._photo).ljust(p.PHOTO_LEN, b"\x00")
        if command is C.READ_WITH_FINGERPRINT:
            fp = self.fingerprint or bytes(p.FINGERPRINT_LEN)
            return p.build_response(p.Sw3.SUCCESS, p.build_card_data(text, photo, fp))
        return p.build_response(p.Sw3.SUCCESS, p.build_card_data(text, photo))


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    baud: int | None = 115200,
    identities: list[Identity] | None = None,
    card_present: bool = True,
) -> SimServer:
    """Start an ID card simulator on TCP; returns the running server (``.url``, ``.stop()``)."""
    server = SimServer(
        IdCardSimulator(identities, card_present=card_present), baud=baud, name="idcard-sim"
    )
    server.start_tcp(host, port)
    return server


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted (``python -m devices simulate idcard``); prints the URL.

    Options: ``baud`` (line timing, None = as fast as possible), ``card_present``,
    ``samples`` (how many sample holders to rotate through with ``next_card``).
    """
    samples = int(opts.get("samples") or 3)
    server = start(
        host,
        port,
        baud=opts.get("baud", 115200),
        identities=[sample_identity(i) for i in range(samples)],
        card_present=bool(opts.get("card_present", True)),
    )
    print(f"ID card simulator listening on {server.host}:{server.port} ({server.url})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
