"""Service catalogue: categories, search (incl. pinyin initials) and 一次性告知 notices.

Pure Python over :class:`hall_contract.hallconfig.HallConfig`; no Kivy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from hall_contract.hallconfig import Bundle, HallConfig, Material, Service

MARK_TEXT = {
    "zh": {"required": "必交", "may_be_missing": "可容缺", "commitment": "可告知承诺"},
    "en": {
        "required": "required",
        "may_be_missing": "may be missing",
        "commitment": "commitment accepted",
    },
}
#: A symbol as well as words: the mark never depends on colour.
MARK_SYMBOL = {"required": "●", "may_be_missing": "○", "commitment": "◇"}
#: The category of the 一件事 bundles; not a valid queue id, so a queue (even one called
#: ``bundle``) never shares it.
BUNDLES = "@bundles"


@lru_cache(maxsize=4096)
def _keys(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of ``text``, lower case, no spaces."""
    full = "".join(lazy_pinyin(text)).lower().replace(" ", "")
    initials = "".join(p[0] for p in lazy_pinyin(text, style=Style.FIRST_LETTER) if p).lower()
    return full, initials


@dataclass(frozen=True)
class Entry:
    kind: str  # "service" or "bundle"
    id: str
    name: str
    name_en: str
    category: str


@dataclass(frozen=True)
class NoticeItem:
    name: str
    mark: str
    copies: str
    note: str = ""


@dataclass
class Notice:
    """The one-time notice of a service or bundle (what is shown and printed)."""

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

    def lines(self, lang: str = "zh") -> list[str]:
        """Plain-text lines for printing or reading aloud."""
        zh = lang == "zh"
        out = [self.title if zh or not self.title_en else self.title_en]
        if self.services:
            out.append(("包含事项：" if zh else "Includes: ") + "、".join(self.services))
        if self.conditions:
            out.append("办理条件：" if zh else "Conditions:")
            out += [f"  {c}" for c in self.conditions]
        out.append("所需材料：" if zh else "Materials:")
        for i, m in enumerate(self.materials, 1):
            mark = MARK_TEXT[lang][m.mark]
            out.append(
                f"  {i}. {MARK_SYMBOL[m.mark]}{m.name}（{m.copies}，{mark}）"
                + (f" {m.note}" if m.note else "")
            )
        out += [("收费：" if zh else "Fees: ") + f for f in self.fees]
        out += [("时限：" if zh else "Time limit: ") + t for t in self.time_limits]
        out += [("窗口：" if zh else "Window: ") + w for w in self.windows if w]
        return out


def _items(materials: list[Material]) -> list[NoticeItem]:
    return [NoticeItem(m.name, m.mark, m.copies, m.note) for m in materials]


class Catalogue:
    def __init__(self, hall: HallConfig) -> None:
        self.hall = hall
        self.entries: list[Entry] = []
        for s in hall.services:
            self.entries.append(Entry("service", s.id, s.name, s.name_en, self._category_of(s)))
        for b in hall.bundles:
            self.entries.append(Entry("bundle", b.id, b.name, b.name_en, BUNDLES))
        self._index = [(e, self._haystack(e)) for e in self.entries]

    def _category_of(self, s: Service) -> str:
        return s.queue

    def _haystack(self, e: Entry) -> tuple[str, str, str, str]:
        extra = ""
        if e.kind == "service":
            s = self.hall.service(e.id)
            extra = " ".join([*s.keywords, s.department])
        text = f"{e.name} {extra}"
        full, initials = _keys(e.name)
        words = [_keys(w) for w in extra.split()]
        full_all = full + " " + " ".join(w[0] for w in words)
        init_all = initials + " " + " ".join(w[1] for w in words)
        return text.lower() + " " + e.name_en.lower(), full_all, init_all, initials

    # -------------------------------------------------------------- browsing
    def categories(self, lang: str = "zh") -> list[tuple[str, str]]:
        """(id, name) of categories that have services, in queue order, then the bundles
        (a queue that only bundles use has no services of its own and is not listed)."""
        used = {e.category for e in self.entries}
        out = []
        for q in self.hall.queues:
            if q.id in used:
                out.append((q.id, q.name if lang == "zh" or not q.name_en else q.name_en))
        if BUNDLES in used:
            out.append((BUNDLES, "一件事一次办" if lang == "zh" else "One-go bundles"))
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
        """Search by Chinese text, English, full pinyin or pinyin initials ("sfz")."""
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

    def service_notice(self, s: Service) -> Notice:
        return Notice(
            kind="service",
            id=s.id,
            title=s.name,
            title_en=s.name_en,
            conditions=list(s.conditions),
            materials=_items(s.materials),
            fees=[s.fees],
            time_limits=[
                f"法定{s.legal_days}个工作日，承诺{s.promised_days}个工作日"
                if s.legal_days
                else "即办"
            ],
            windows=[s.window_hint],
            queue=s.queue,
        )

    def bundle_notice(self, b: Bundle) -> Notice:
        services = [self.hall.service(sid) for sid in b.services]
        conditions: list[str] = []
        for s in services:
            for c in s.conditions:
                if c not in conditions:
                    conditions.append(c)
        return Notice(
            kind="bundle",
            id=b.id,
            title=b.name,
            title_en=b.name_en,
            conditions=conditions,
            materials=_items(self.hall.bundle_materials(b.id)),
            fees=[f"{s.name}：{s.fees}" for s in services],
            time_limits=[f"{s.name}：承诺{s.promised_days}个工作日" for s in services],
            windows=sorted({s.window_hint for s in services if s.window_hint}),
            services=[s.name for s in services],
            queue=b.queue,
        )
