"""One customer counted once: the workspace's known customers (for the form's typeahead), near-duplicate
names ("Acme" and "Acme Corp") offered for a merge, and the merge itself, which renames the occurrences
and keeps the old name as an alias so that whoever types it later is counted as the same customer."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import update
from sqlmodel import Session, select

from storage.models import CustomerAlias, Occurrence, Person, utcnow
from storage.requests import customer_key

# Words that name a company's legal form, not the company: "Acme", "Acme Inc." and "ACME Corp" are one.
LEGAL_FORMS = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "bv",
        "nv",
        "oy",
        "ab",
        "pty",
        "pte",
        "srl",
        "spa",
        "kk",
        "group",
        "holdings",
        "the",
    ]
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Names this alike (0-100 on their core words) are offered for a merge; identical cores always are.
NEAR = 90
# The names compared pairwise for near-duplicates (most used first): enough for any real customer list.
COMPARED = 600


class CustomerError(ValueError):
    """A merge that cannot be made as asked; the message says why."""


def core_name(name: str) -> str:
    """The words that tell one customer from another: lower case, no punctuation, no legal form."""
    words = [w for w in _WORD.findall((name or "").casefold())]
    core = [w for w in words if w not in LEGAL_FORMS]
    return " ".join(core or words)


def known_customers(*, session: Session, workspace_id: int) -> list[tuple[str, int]]:
    """Each customer of the workspace once (the spelling most used), with how many occurrences name it,
    most named first."""
    spellings: dict[str, Counter[str]] = {}
    for name in session.exec(
        select(Occurrence.customer).where(Occurrence.workspace_id == workspace_id, Occurrence.customer != "")
    ).all():
        spellings.setdefault(customer_key(name), Counter())[name] += 1
    rows = [(c.most_common(1)[0][0], sum(c.values())) for c in spellings.values()]
    rows.sort(key=lambda r: (-r[1], r[0].casefold()))
    return rows


def suggest(*, session: Session, workspace_id: int, typed: str, limit: int = 20) -> list[str]:
    """Known customers that match what is being typed, best first: the same company (legal form aside)
    first, then fuzzy matches. Nothing typed: the most named."""
    known = known_customers(session=session, workspace_id=workspace_id)
    typed = " ".join((typed or "").split())
    if not typed:
        return [name for name, _ in known[:limit]]
    want = core_name(typed)
    names = [name for name, _ in known]
    scored: dict[str, float] = {}
    for name in names:
        core = core_name(name)
        if core == want:
            scored[name] = 200.0
        elif core.startswith(want):
            scored[name] = 150.0 + len(want) / max(len(core), 1)
    for _, score, name in process.extract(
        want, {n: core_name(n) for n in names}, scorer=fuzz.WRatio, limit=limit * 2, score_cutoff=60
    ):
        scored.setdefault(name, float(score))
    return [n for n, _ in sorted(scored.items(), key=lambda i: -i[1])][:limit]


def canonical_name(*, session: Session, workspace_id: int, name: str) -> str:
    """The customer a typed name counts as: the name it was merged into, else the name as typed."""
    name = " ".join((name or "").split())
    if not name:
        return name
    alias = session.exec(
        select(CustomerAlias).where(
            CustomerAlias.workspace_id == workspace_id, CustomerAlias.alias_key == customer_key(name)[:255]
        )
    ).first()
    return alias.name if alias is not None else name


@dataclass(frozen=True)
class NearDuplicate:
    """Two names that probably are one customer; `keep` is the more used one."""

    keep: str
    keep_count: int
    fold: str
    fold_count: int
    score: int


def near_duplicates(*, session: Session, workspace_id: int, limit: int = 10) -> list[NearDuplicate]:
    """Pairs of customer names that look like the same customer, most likely (and most used) first."""
    known = known_customers(session=session, workspace_id=workspace_id)[:COMPARED]
    cores = [core_name(name) for name, _ in known]
    pairs: list[NearDuplicate] = []
    for i, (a, a_count) in enumerate(known):
        for j in range(i + 1, len(known)):
            b, b_count = known[j]
            score = 100 if cores[i] == cores[j] else int(fuzz.ratio(cores[i], cores[j]))
            if score < NEAR and not (cores[i] and cores[j] and _one_extends(cores[i], cores[j])):
                continue
            pairs.append(NearDuplicate(keep=a, keep_count=a_count, fold=b, fold_count=b_count, score=score))
    pairs.sort(key=lambda p: (-p.score, -(p.keep_count + p.fold_count), p.keep.casefold()))
    return pairs[:limit]


def _one_extends(a: str, b: str) -> bool:
    """ "acme" and "acme industries": one name's words start the other's (a short name typed for a long one)."""
    short, long = sorted((a.split(), b.split()), key=len)
    return len(short) >= 1 and len(short[0]) >= 3 and long[: len(short)] == short


def merge_customers(
    *, session: Session, workspace_id: int, fold: str, into: str, by: Person | None
) -> CustomerAlias:
    """Count `fold` as `into` from now on: every occurrence naming `fold` is renamed, names merged into
    `fold` earlier follow it, and `fold` becomes an alias. Returns the alias (with how many it moved)."""
    fold, into = " ".join((fold or "").split()), " ".join((into or "").split())
    if not fold or not into:
        raise CustomerError("Say which customer to merge into which.")
    fold_key, into_key = customer_key(fold), customer_key(into)
    if fold_key == into_key:
        raise CustomerError(f"“{fold}” and “{into}” are already one customer.")
    into = canonical_name(session=session, workspace_id=workspace_id, name=into)
    if customer_key(into) == fold_key:
        raise CustomerError(f"“{into}” was merged into “{fold}” before; merge the other way round.")
    ids = [
        occ_id
        for occ_id, name in session.exec(
            select(Occurrence.id, Occurrence.customer).where(
                Occurrence.workspace_id == workspace_id, Occurrence.customer != ""
            )
        ).all()
        if customer_key(name) == fold_key
    ]
    for start in range(0, len(ids), 500):
        session.exec(
            update(Occurrence)
            .where(Occurrence.id.in_(ids[start : start + 500]))
            .values(customer=into[:255])
            .execution_options(synchronize_session=False)
        )
    # Names merged into `fold` before now count as `into` too.
    session.exec(
        update(CustomerAlias)
        .where(CustomerAlias.workspace_id == workspace_id, CustomerAlias.name == fold)
        .values(name=into[:255])
        .execution_options(synchronize_session=False)
    )
    alias = session.exec(
        select(CustomerAlias).where(
            CustomerAlias.workspace_id == workspace_id, CustomerAlias.alias_key == fold_key[:255]
        )
    ).first()
    if alias is None:
        alias = CustomerAlias(
            workspace_id=workspace_id, alias_key=fold_key[:255], alias=fold[:255], name=into
        )
    alias.name = into[:255]
    alias.moved = len(ids)
    alias.by_id = by.id if by is not None else None
    alias.created_at = utcnow()
    session.add(alias)
    session.flush()
    session.expire_all()
    return alias
