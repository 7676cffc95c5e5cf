"""People's names as each group forms them, and as fashions changed over the decades."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from registry import names
from registry.refdata import ethnic_groups
from registry.synthetic.dates import FIRST_BIRTH_YEAR, TODAY
from registry.synthetic.draws import Weighted
from registry.synthetic.tables import person_names

__all__ = [
    "FEMALE_GIVEN_CLASSIC",
    "KINH_STYLES",
    "MALE_GIVEN_CLASSIC",
    "STYLES",
    "Style",
    "full_name",
]


def _weighted(pool: str) -> Weighted[str]:
    return Weighted(person_names(pool))


# The south says Huỳnh for Hoàng (a naming taboo of the Nguyễn lords) and mostly Võ for Vũ.
_SPLITS = {
    "north": {"Hoàng": (("Hoàng", 0.97), ("Huỳnh", 0.03)), "Vũ": (("Vũ", 0.9), ("Võ", 0.1))},
    "central": {"Hoàng": (("Hoàng", 0.45), ("Huỳnh", 0.55)), "Vũ": (("Vũ", 0.3), ("Võ", 0.7))},
    "south": {"Hoàng": (("Hoàng", 0.12), ("Huỳnh", 0.88)), "Vũ": (("Vũ", 0.15), ("Võ", 0.85))},
}


def _kinh_surnames(region: str) -> Weighted[str]:
    pairs: list[tuple[str, float]] = []
    for name, weight in person_names("kinh_surnames"):
        if name in _SPLITS[region]:
            pairs.extend((part, weight * share) for part, share in _SPLITS[region][name])
        else:
            pairs.append((name, weight))
    return Weighted(pairs)


MALE_GIVEN_CLASSIC = _weighted("male_given_classic")
FEMALE_GIVEN_CLASSIC = _weighted("female_given_classic")


def _kinh_pools(male: bool, decade: int) -> tuple[Weighted[str], Weighted[str]]:
    """(middle names, given names) of people born in ``decade``, as fashions changed.

    "Văn" and "Thị" were the usual middle names of the older generations and are rarer today;
    some people have two middle syllables, a few none; "modern" given names rise after 1970.
    """
    sex = "male" if male else "female"
    words = person_names(f"{sex}_middle")
    classic, modern = person_names(f"{sex}_given_classic"), person_names(f"{sex}_given_modern")
    if male:
        marker, none = "Văn", 0.03
        share = (
            0.55 if decade < 1960 else 0.45 if decade < 1980 else 0.25 if decade < 2000 else 0.08
        )
    else:
        marker, none = "Thị", 0.02
        share = 0.8 if decade < 1960 else 0.65 if decade < 1980 else 0.4 if decade < 2000 else 0.12
    two = 0.18 if decade >= 1990 else 0.08
    total = sum(weight for _, weight in words)
    firsts = [(marker, share)] + [(w, (1 - share - none) * v / total) for w, v in words]
    middles: list[tuple[str, float]] = [("", none)]
    for first, p_first in firsts:
        middles.append((first, p_first * (1 - two)))
        middles.extend(
            (f"{first} {second}", p_first * two * v / total)
            for second, v in words
            if second != first
        )
    p_modern = min(max((decade + 5 - 1970) / 35.0, 0.0), 0.9)
    given: dict[str, float] = {}
    for pairs, share_of in ((classic, 1 - p_modern), (modern, p_modern)):
        pool_total = sum(weight for _, weight in pairs)
        for word, weight in pairs:
            given[word] = given.get(word, 0.0) + share_of * weight / pool_total
    return (
        Weighted((names.normalize(m) if m else "", w) for m, w in middles),
        Weighted(given.items()),
    )


_DECADES = range(FIRST_BIRTH_YEAR, TODAY.year + 1, 10)
_KINH_POOLS = {
    (male, decade): _kinh_pools(male, decade) for male in (True, False) for decade in _DECADES
}

_HMONG_MALE = _weighted("hmong_male")
_HMONG_FEMALE = _weighted("hmong_female")
_KHMER_MALE = _weighted("khmer_male")
_KHMER_FEMALE = _weighted("khmer_female")
# Ê-đê, Gia-rai, Ra-glai and Chu-ru are matrilineal: children take their mother's clan name,
# which comes last; "Y" (men) and "H'" (women) come first.
_MATRI_CLANS = ("12", "10", "21", "36")
_MATRI_MALE = _weighted("matri_male")
_MATRI_FEMALE = _weighted("matri_female")
_HIGHLAND_GIVEN = _weighted("highland_given")


@dataclass(frozen=True, slots=True)
class Style:
    """How a group forms names: surname pool, middle names, given names, clan last."""

    kind: Literal["kinh", "hmong", "khmer", "matri", "highland"]
    surnames: Weighted[str]


def _styles() -> dict[str, Style]:
    north_minority = Style("kinh", _weighted("north_minority_surnames"))
    thai = Style("kinh", _weighted("thai_surnames"))
    highland = Style("highland", _weighted("highland_surnames"))
    styles: dict[str, Style] = {}
    for code in ethnic_groups():
        styles[code] = north_minority
    for code in ("29", "33", "34", "35", "37", "39", "41", "42", "45", "48", "50", "03"):
        styles[code] = thai
    for code in ("13", "14", "16", "19", "20", "22", "23", "26", "27", "28", "30", "31", "52"):
        styles[code] = highland
    for code in ("53", "54", "32"):
        styles[code] = highland
    styles["06"] = styles["44"] = Style("kinh", _weighted("muong_surnames"))
    styles["04"] = Style("kinh", _weighted("hoa_surnames"))
    styles["17"] = Style("kinh", _weighted("cham_surnames"))
    styles["08"] = Style("hmong", _weighted("hmong_surnames"))
    styles["05"] = Style("khmer", _weighted("khmer_surnames"))
    for code in _MATRI_CLANS:
        styles[code] = Style("matri", _weighted(f"matri_clans_{code}"))
    return styles


STYLES = _styles()
KINH_STYLES = {region: Style("kinh", _kinh_surnames(region)) for region in _SPLITS}


def full_name(rng: random.Random, style: Style, gender: str, year: int, surname: str) -> str:
    """A full name for someone of ``gender`` born in ``year`` with ``surname``, in ``style``."""
    male = gender == "male"
    kind = style.kind
    if kind == "kinh":
        decade = FIRST_BIRTH_YEAR + 10 * min(max((year - FIRST_BIRTH_YEAR) // 10, 0), 10)
        middles, givens = _KINH_POOLS[male, decade]
        middle = middles.pick(rng)
        if not middle:
            return f"{surname} {givens.pick(rng)}"
        given = givens.pick(rng)
        if middle.endswith(given):  # not "Minh Minh"
            given = givens.pick(rng)
        return f"{surname} {middle} {given}"
    if kind == "hmong":
        roll = rng.random()
        if male:
            middle = "A " if roll < 0.7 else "Seo " if roll < 0.8 else ""
            return f"{surname} {middle}{_HMONG_MALE.pick(rng)}"
        middle = "Thị " if roll < 0.6 else "Mí " if roll < 0.9 else ""
        return f"{surname} {middle}{_HMONG_FEMALE.pick(rng)}"
    if kind == "khmer":
        if male:
            return f"{surname} {_KHMER_MALE.pick(rng)}"
        middle = "Thị " if rng.random() < 0.4 else ""
        return f"{surname} {middle}{_KHMER_FEMALE.pick(rng)}"
    if kind == "matri":
        if male:
            return f"Y {_MATRI_MALE.pick(rng)} {surname}"
        return f"{_MATRI_FEMALE.pick(rng)} {surname}"
    # Other Central Highlands and Trường Sơn groups.
    roll = rng.random()
    middle = ("Văn " if roll < 0.35 else "") if male else ("Thị " if roll < 0.5 else "")
    if rng.random() < 0.6:
        given = _HIGHLAND_GIVEN.pick(rng)
    else:
        given = (MALE_GIVEN_CLASSIC if male else FEMALE_GIVEN_CLASSIC).pick(rng)
    return f"{surname} {middle}{given}"
