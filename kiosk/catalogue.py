"""Service catalogue: categories, search (incl. pinyin initials) and 一次性告知 notices.

Pure Python over :class:`hall_contract.hallconfig.HallConfig`; no Kivy.

Every text comes in the kiosk's languages (``zh``, ``en``, ``ug``). Content (names,
conditions, materials, fees, window hints) takes the service's own ``i18n`` block first,
then the hall's ``glossary``, then :data:`BUILTIN`; what none of them translates stays
Chinese and is marked ``zh_only`` so the screen can say so (``content_zh_only``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from hall_contract.hallconfig import (
    LANGS,
    Bundle,
    HallConfig,
    Material,
    MaterialText,
    Service,
)
from kiosk.i18n import colon, join_list, t

MARK_TEXT = {
    "zh": {"required": "必交", "may_be_missing": "可容缺", "commitment": "可告知承诺"},
    "en": {
        "required": "required",
        "may_be_missing": "may be missing",
        "commitment": "commitment accepted",
    },
    "ug": {
        "required": "چوقۇم تاپشۇرۇلىدۇ",
        "may_be_missing": "كەم بولسىمۇ قوبۇل قىلىنىدۇ",
        "commitment": "ۋەدىنامە يازسىڭىز بولىدۇ",
    },
}
#: A symbol as well as words: the mark never depends on colour.
MARK_SYMBOL = {"required": "●", "may_be_missing": "○", "commitment": "◇"}
#: The category of the 一件事 bundles; not a valid queue id, so a queue (even one called
#: ``bundle``) never shares it.
BUNDLES = "@bundles"
#: Translations of the hall config's own defaults (``copies: 原件1份``, ``fees: 不收费``):
#: a service that leaves them out has not written them, so nobody would translate them.
#: The hall's ``glossary`` comes first.
BUILTIN: dict[str, dict[str, str]] = {
    "原件1份": {"en": "1 original", "ug": "ئەسلى نۇسخىسى 1 پارچە"},
    "不收费": {"en": "Free of charge", "ug": "ھەقسىز"},
}
#: The parenthesis around a material's copies and mark, per language.
_PARENS = {"zh": ("（", "，", "）"), "en": (" (", ", ", ")"), "ug": (" (", "، ", ")")}


@lru_cache(maxsize=4096)
def _keys(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of ``text``, lower case, no spaces."""
    full = "".join(lazy_pinyin(text)).lower().replace(" ", "")
    initials = "".join(p[0] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p).lower()
    return full, initials


@dataclass(frozen=True)
class Text:
    """A piece of content in the asked language, or in Chinese for want of a translation
    (``zh_only``: the screen says so, e.g. with ``t("content_zh_only", lang)``)."""

    text: str
    zh_only: bool = False


@dataclass(frozen=True)
class Entry:
    kind: str  # "service" or "bundle"
    id: str
    name: str
    name_en: str
    category: str
    #: (language, name) of the translated names (``en``, ``ug``): see :meth:`label`.
    names: tuple[tuple[str, str], ...] = ()

    def label(self, lang: str) -> str:
        """The name to show in ``lang``: its translation, else the Chinese name."""
        return dict(self.names).get(lang, self.name) if lang != "zh" else self.name

    def zh_only(self, lang: str) -> bool:
        """The label is Chinese although ``lang`` is not (no translation)."""
        return lang != "zh" and lang not in dict(self.names)


@dataclass(frozen=True)
class NoticeItem:
    name: str
    mark: str
    copies: str
    note: str = ""
    zh_only: bool = False  #: some of it (name, copies, note) is Chinese for want of a translation

    def line(self, i: int, lang: str = "zh") -> str:
        """``1. ●居民户口簿（原件1份，必交） note`` / ``1. ●Household register (1 original,
        required) note``."""
        left, sep, right = _PARENS.get(lang, _PARENS["en"])
        mark = MARK_TEXT.get(lang, MARK_TEXT["en"])[self.mark]
        note = f" {self.note}" if self.note else ""
        return (
            f"{i}. {MARK_SYMBOL[self.mark]}{self.name}{left}{self.copies}{sep}{mark}{right}{note}"
        )


@dataclass(frozen=True)
class Section:
    """One part of a notice as the screen shows it: a heading and its lines.

    ``key``: ``includes``, ``conditions``, ``materials``, ``fees``, ``time_limits`` or
    ``window`` (the heading's text key). ``zh_only``: some line is in Chinese for want of a
    translation. ``materials``: the materials section's items, for a screen that styles
    the mark (``items`` has them as lines already)."""

    key: str
    heading: str
    items: list[str]
    zh_only: bool = False
    materials: list[NoticeItem] = field(default_factory=list)


@dataclass
class NoticeText:
    """A notice's content in one language; each piece says whether it stayed Chinese."""

    title: Text
    conditions: list[Text] = field(default_factory=list)
    materials: list[NoticeItem] = field(default_factory=list)
    fees: list[Text] = field(default_factory=list)
    time_limits: list[Text] = field(default_factory=list)
    windows: list[Text] = field(default_factory=list)
    services: list[Text] = field(default_factory=list)


@dataclass
class Notice:
    """The one-time notice of a service or bundle (what is shown and printed).

    The plain fields are the Chinese notice (the printer prints them); ``tr`` holds it in
    the other languages. Screens call :meth:`title_in`, :meth:`sections` and
    :meth:`chinese_only`; printing and reading aloud :meth:`lines`."""

    kind: str
    id: str
    title: str
    title_en: str
    conditions: list[str] = field(default_factory=list)
    materials: list[NoticeItem] = field(default_factory=list)
    fees: list[str] = field(default_factory=list)
    time_limits: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    queue: str = ""
    tr: dict[str, NoticeText] = field(default_factory=dict)

    def text_in(self, lang: str) -> NoticeText:
        """The content in ``lang`` (Chinese, all of it marked so, for a language the
        catalogue did not translate into)."""
        if lang != "zh" and lang in self.tr:
            return self.tr[lang]
        flag = lang != "zh"
        return NoticeText(
            title=Text(self.title, flag),
            conditions=[Text(c, flag) for c in self.conditions],
            materials=[dataclasses.replace(m, zh_only=flag) for m in self.materials],
            fees=[Text(f, flag) for f in self.fees],
            time_limits=[Text(x, flag) for x in self.time_limits],
            windows=[Text(w, flag) for w in self.windows],
            services=[Text(x, flag) for x in self.services],
        )

    def title_in(self, lang: str) -> str:
        return self.text_in(lang).title.text

    def sections(self, lang: str = "zh") -> list[Section]:
        """The notice below its title, part by part, in ``lang``."""
        v = self.text_in(lang)
        out: list[Section] = []

        def add(key: str, texts: list[Text]) -> None:
            texts = [x for x in texts if x.text]
            if texts:
                zh_only = any(x.zh_only for x in texts)
                out.append(Section(key, t(key, lang), [x.text for x in texts], zh_only))

        add("includes", v.services)
        add("conditions", v.conditions)
        out.append(
            Section(
                "materials",
                t("materials", lang),
                [m.line(i, lang) for i, m in enumerate(v.materials, 1)],
                any(m.zh_only for m in v.materials),
                list(v.materials),
            )
        )
        add("fees", v.fees)
        add("time_limits", v.time_limits)
        add("window", v.windows)
        return out

    def chinese_only(self, lang: str) -> bool:
        """Some of the notice (title or a section) is Chinese although ``lang`` is not."""
        return self.text_in(lang).title.zh_only or any(s.zh_only for s in self.sections(lang))

    def lines(self, lang: str = "zh") -> list[str]:
        """Plain-text lines for printing or reading aloud, with the language's punctuation;
        when some of it has no translation, the second line says so."""
        v = self.text_in(lang)
        c = colon(lang)
        out = [v.title.text]
        if self.chinese_only(lang):
            out.append(t("notice_zh_only", lang))
        if v.services:
            out.append(t("line_includes", lang) + c + join_list([x.text for x in v.services], lang))
        if v.conditions:
            out.append(t("line_conditions", lang) + c.rstrip())
            out += [f"  {x.text}" for x in v.conditions]
        out.append(t("line_materials", lang) + c.rstrip())
        out += [f"  {m.line(i, lang)}" for i, m in enumerate(v.materials, 1)]
        out += [t("line_fees", lang) + c + x.text for x in v.fees]
        out += [t("line_time_limit", lang) + c + x.text for x in v.time_limits]
        out += [t("line_window", lang) + c + x.text for x in v.windows if x.text]
        return out


def _items(materials: list[Material]) -> list[NoticeItem]:
    return [NoticeItem(m.name, m.mark, m.copies, m.note) for m in materials]


class Catalogue:
    def __init__(self, hall: HallConfig) -> None:
        self.hall = hall
        self.entries: list[Entry] = []
        for s in hall.services:
            self.entries.append(
                Entry("service", s.id, s.name, s.name_in("en") or "", s.queue, _names(s))
            )
        for b in hall.bundles:
            self.entries.append(
                Entry("bundle", b.id, b.name, b.name_in("en") or "", BUNDLES, _names(b))
            )
        self._index = [(e, self._haystack(e)) for e in self.entries]

    def _haystack(self, e: Entry) -> tuple[str, str, str, str]:
        extra = ""
        other: list[str] = [name for _lang, name in e.names]
        if e.kind == "service":
            s = self.hall.service(e.id)
            extra = " ".join([*s.keywords, s.department])
            other += [w for tr in s.i18n.values() for w in tr.keywords]
        text = f"{e.name} {extra} {' '.join(other)}".lower()
        full, initials = _keys(e.name)
        words = [_keys(w) for w in extra.split()]
        full_all = full + " " + " ".join(w[0] for w in words)
        init_all = initials + " " + " ".join(w[1] for w in words)
        return text + " " + text.replace(" ", ""), full_all, init_all, initials

    # -------------------------------------------------------------- translation
    def _tr(self, zh: str, lang: str, own: str = "") -> Text:
        """``zh`` in ``lang``: the item's own translation, the hall's glossary, the built-in
        one, else the Chinese marked ``zh_only``."""
        if lang == "zh":
            return Text(zh)
        if own:
            return Text(own)
        if not zh:
            return Text("")
        out = self.hall.tr(zh, lang) or BUILTIN.get(zh, {}).get(lang)
        return Text(out) if out else Text(zh, zh_only=True)

    def _material(self, m: Material, own: MaterialText | None, lang: str) -> NoticeItem:
        parts = [
            self._tr(m.name, lang, own.name if own else ""),
            self._tr(m.copies, lang, own.copies if own else ""),
            self._tr(m.note, lang, own.note if own else ""),
        ]
        name, copies, note = parts
        zh_only = any(p.zh_only for p in parts)
        return NoticeItem(name.text, m.mark, copies.text, note.text, zh_only)

    def _service_parts(
        self, s: Service, lang: str
    ) -> tuple[Text, list[Text], dict[int, NoticeItem], Text, Text]:
        """(name, conditions, materials by ``id()`` of the config's Material, fees, window
        hint) of ``s`` in ``lang``."""
        tr = s.text_in(lang) if lang != "zh" else None
        name = s.name_in(lang)
        conds = [
            self._tr(c, lang, tr.conditions[i] if tr and tr.conditions else "")
            for i, c in enumerate(s.conditions)
        ]
        mats = {
            id(m): self._material(m, tr.materials[i] if tr and tr.materials else None, lang)
            for i, m in enumerate(s.materials)
        }
        return (
            Text(name) if name else Text(s.name, zh_only=True),
            conds,
            mats,
            self._tr(s.fees, lang, tr.fees if tr else ""),
            self._tr(s.window_hint, lang, tr.window_hint if tr else ""),
        )

    # -------------------------------------------------------------- browsing
    def categories(self, lang: str = "zh") -> list[tuple[str, str]]:
        """(id, name) of categories that have services, in queue order, then the bundles
        (a queue that only bundles use has no services of its own and is not listed)."""
        used = {e.category for e in self.entries}
        out = []
        for q in self.hall.queues:
            if q.id in used:
                out.append((q.id, q.name_in(lang) or q.name))
        if BUNDLES in used:
            out.append((BUNDLES, t("bundle", lang)))
        return out

    def in_category(self, cat: str) -> list[Entry]:
        return [e for e in self.entries if e.category == cat]

    def entry(self, kind: str, eid: str) -> Entry:
        for e in self.entries:
            if e.kind == kind and e.id == eid:
                return e
        raise KeyError(f"{kind}:{eid}")

    # -------------------------------------------------------------- search
    def search(self, query: str, limit: int = 20) -> list[Entry]:
        """Search by Chinese text, English or Uyghur names and keywords, full pinyin or
        pinyin initials ("sfz")."""
        q = query.strip().lower().replace(" ", "")
        if not q:
            return []
        scored: list[tuple[int, int, Entry]] = []
        for i, (e, (text, full, init_all, initials)) in enumerate(self._index):
            if initials.startswith(q) or full.startswith(q):
                score = 0
            elif q in text:
                score = 1
            elif q in init_all.replace(" ", "") or q in initials:
                score = 2
            elif q in full.replace(" ", ""):
                score = 3
            else:
                continue
            scored.append((score, i, e))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [e for _s, _i, e in scored[:limit]]

    # -------------------------------------------------------------- notices
    def notice(self, kind: str, eid: str) -> Notice:
        if kind == "bundle":
            return self.bundle_notice(self.hall.bundle(eid))
        return self.service_notice(self.hall.service(eid))

    @staticmethod
    def _time_limit(s: Service, lang: str) -> str:
        """法定60个工作日，承诺15个工作日 / 法定10个工作日，即办 / 即办."""
        if not s.legal_days:
            return t("tl_now", lang)
        legal = _days(s.legal_days, lang)
        if not s.promised_days:
            return t("tl_days_now", lang, legal=legal)
        return t("tl_days", lang, legal=legal, promised=_days(s.promised_days, lang))

    @staticmethod
    def _promised(s: Service, lang: str) -> str:
        """A bundle's line per service: 承诺N个工作日, or 即办."""
        if not s.promised_days:
            return t("tl_now", lang)
        return t("tl_promised", lang, promised=_days(s.promised_days, lang))

    def service_notice(self, s: Service) -> Notice:
        n = Notice(
            kind="service",
            id=s.id,
            title=s.name,
            title_en=s.name_in("en") or "",
            conditions=list(s.conditions),
            materials=_items(s.materials),
            fees=[s.fees],
            time_limits=[self._time_limit(s, "zh")],
            windows=[s.window_hint],
            queue=s.queue,
        )
        for lang in LANGS[1:]:
            name, conds, mats, fees, window = self._service_parts(s, lang)
            n.tr[lang] = NoticeText(
                title=name,
                conditions=conds,
                materials=[mats[id(m)] for m in s.materials],
                fees=[fees],
                time_limits=[Text(self._time_limit(s, lang))],
                windows=[window],
            )
        return n

    def bundle_notice(self, b: Bundle) -> Notice:
        services = [self.hall.service(sid) for sid in b.services]
        conditions: list[str] = []
        for s in services:
            for c in s.conditions:
                if c not in conditions:
                    conditions.append(c)
        merged = self.hall.bundle_materials(b.id)
        n = Notice(
            kind="bundle",
            id=b.id,
            title=b.name,
            title_en=b.name_in("en") or "",
            conditions=conditions,
            materials=_items(merged),
            fees=[f"{s.name}：{s.fees}" for s in services],
            time_limits=[f"{s.name}：{self._promised(s, 'zh')}" for s in services],
            windows=sorted({s.window_hint for s in services if s.window_hint}),
            services=[s.name for s in services],
            queue=b.queue,
        )
        for lang in LANGS[1:]:
            c = colon(lang)
            conds: dict[str, Text] = {}
            mats: dict[int, NoticeItem] = {}
            names, fees, limits = [], [], []
            windows: dict[str, Text] = {}
            for s in services:
                name, s_conds, s_mats, s_fees, s_window = self._service_parts(s, lang)
                for zh, tr in zip(s.conditions, s_conds, strict=True):
                    if zh not in conds or (conds[zh].zh_only and not tr.zh_only):
                        conds[zh] = tr
                mats.update(s_mats)
                names.append(name)
                fees.append(Text(name.text + c + s_fees.text, name.zh_only or s_fees.zh_only))
                limits.append(Text(name.text + c + self._promised(s, lang), name.zh_only))
                if s.window_hint:
                    windows.setdefault(s.window_hint, s_window)
            title = b.name_in(lang)
            n.tr[lang] = NoticeText(
                title=Text(title) if title else Text(b.name, zh_only=True),
                conditions=[conds[zh] for zh in conditions],
                materials=[mats[id(m)] for m in merged],
                fees=fees,
                time_limits=limits,
                windows=[windows[w] for w in sorted(windows)],
                services=names,
            )
        return n


def _days(n: int, lang: str) -> str:
    return t("work_day_one" if n == 1 else "work_days", lang, n=n)


def _names(x: Service | Bundle) -> tuple[tuple[str, str], ...]:
    out = []
    for lang in LANGS[1:]:
        name = x.name_in(lang)
        if name:
            out.append((lang, name))
    return tuple(out)
