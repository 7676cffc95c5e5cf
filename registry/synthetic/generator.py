"""One generation run: households drawn, placed, named and numbered, then written as rows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

from registry.synthetic.documents import Documents
from registry.synthetic.draws import Weighted
from registry.synthetic.households import Household, Member, Planner
from registry.synthetic.naming import KINH_STYLES, STYLES, full_name
from registry.synthetic.places import (
    KINH_PROVINCES,
    MIGRANT_MAGNETS,
    POPULATION,
    PROVINCES,
    locality,
    place,
    region,
)
from registry.synthetic.records import person_row
from registry.synthetic.tables import ethnic_groups

__all__ = ["generate"]

_ETHNICITIES = Weighted((group.code, group.share) for group in ethnic_groups())
_HOMELANDS: dict[str, Weighted[str]] = {
    group.code: Weighted((p, POPULATION[p]) for p in group.homelands)
    for group in ethnic_groups()
    if group.homelands
}

# Religion by region, and for the groups whose faith differs from their region's.
# fmt: off
_RELIGIONS: dict[str, Weighted[str]] = {
    "north": Weighted([("", 89.0), ("Công giáo", 7.0), ("Phật giáo", 3.0), ("Tin lành", 0.6)]),
    "central": Weighted(
        [("", 85.0), ("Phật giáo", 7.5), ("Công giáo", 6.0), ("Tin lành", 1.0), ("Cao Đài", 0.3)]
    ),
    "south": Weighted(
        [("", 80.0), ("Phật giáo", 7.0), ("Công giáo", 6.5), ("Cao Đài", 2.5), ("Tin lành", 1.0)]
    ),
    "mekong": Weighted(
        [
            ("", 77.0),
            ("Phật giáo", 7.0),
            ("Phật giáo Hòa Hảo", 6.0),
            ("Công giáo", 5.0),
            ("Cao Đài", 3.0),
            ("Tin lành", 0.5),
        ]
    ),
    "khmer": Weighted([("Phật giáo", 92.0), ("", 8.0)]),
    "cham": Weighted([("Hồi giáo", 35.0), ("Bà La Môn", 40.0), ("", 25.0)]),
    "hoa": Weighted([("", 65.0), ("Phật giáo", 30.0), ("Công giáo", 5.0)]),
    "protestant": Weighted([("", 50.0), ("Tin lành", 30.0), ("Công giáo", 20.0)]),
}
# fmt: on
_MEKONG_HOA_HAO = frozenset({"086", "087", "089", "091", "092", "093"})
_PROTESTANT_LEANING = frozenset({"08", "10", "12", "13", "14", "16", "20"})


def _religion(ethnicity: str, province: str) -> Weighted[str]:
    if ethnicity == "05":
        return _RELIGIONS["khmer"]
    if ethnicity == "17":
        return _RELIGIONS["cham"]
    if ethnicity == "04":
        return _RELIGIONS["hoa"]
    if ethnicity in _PROTESTANT_LEANING:
        return _RELIGIONS["protestant"]
    if province in _MEKONG_HOA_HAO:
        return _RELIGIONS["mekong"]
    return _RELIGIONS[region(province)]


class Generator:
    """The state of one generation run: the rng, the ID-number counters, the household counter."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - test data, reproducible by design
        self.documents = Documents(self.rng)
        self.planner = Planner(self.rng)
        self.households = 0

    def household(self, members: list[Member]) -> Household:
        """Place, name and number the people of one household; order them head first."""
        rng = self.rng
        ethnicity = _ETHNICITIES.pick(rng)
        if ethnicity == "01":
            province = KINH_PROVINCES.pick(rng)
            style = KINH_STYLES[region(province)]
        else:
            province = _HOMELANDS[ethnicity].pick(rng)
            style = STYLES[ethnicity]
        self.households += 1
        household = Household(
            ident=f"HK{province}{self.households:09d}",
            province=province,
            ethnicity=ethnicity,
            style=style,
            religion=_religion(ethnicity, province).pick(rng),
            place=place(rng, province),
        )
        for member in members:
            self.name(member, household)
        living = [m for m in members if m.emit and m.death == 0]
        head = living[0]
        partner = head.spouse
        if partner is not None and partner.emit and partner.death == 0 and rng.random() < 0.2:
            head = partner  # a wife heads one couple in five (with widows, 30% of households)
        ordered = [head]
        if head.spouse is not None and head.spouse.emit:
            ordered.append(head.spouse)
        ordered.extend(m for m in members if m.emit and m is not head and m is not head.spouse)
        household.members = ordered
        for member in ordered:
            self.number(member, household)
        return household

    def name(self, member: Member, household: Household) -> None:
        """Give ``member`` (and first their parents) a surname and full name."""
        if member.full_name:
            return
        for parent in (member.father, member.mother):
            if parent is not None:
                self.name(parent, household)
        style = household.style
        # Children take their father's surname (their mother's clan in matrilineal groups);
        # with no father recorded, or a foreign one, their mother's.
        lineage = (member.mother,) if style.kind == "matri" else (member.father, member.mother)
        surname = next((p.surname for p in lineage if p is not None and p.surname), "")
        if not surname:
            surname = style.surnames.pick(self.rng)
        member.surname = surname
        member.year = date.fromordinal(member.birth).year
        member.full_name = full_name(self.rng, style, member.gender, member.year, surname)

    def number(self, member: Member, household: Household) -> None:
        """Birth province and ID number (and the home town, which follows the father)."""
        rng = self.rng
        local = member.father is not None and member.father.emit
        local = local or (member.mother is not None and member.mother.emit)
        stay = 0.95 if local else 0.65 if household.province in MIGRANT_MAGNETS else 0.9
        province = household.province if rng.random() < stay else PROVINCES.pick(rng)
        member.id_number, member.province = self.documents.id_number(
            province, member.year, member.gender
        )
        member.hometown = self.hometown(member, household)

    def hometown(self, member: Member, household: Household) -> str:
        """Quê quán: the father's home town (the mother's in matrilineal groups)."""
        if member.hometown:
            return member.hometown
        lineage = member.mother if household.style.kind == "matri" else member.father
        if lineage is not None:
            lineage.hometown = self.hometown(lineage, household)
            return lineage.hometown
        rng = self.rng
        own = member.province or household.province
        if own == household.province and rng.random() < 0.5:
            return household.place.locality
        return locality(rng, own if rng.random() < 0.75 else PROVINCES.pick(rng))

    def rows(self, household: Household) -> Iterator[dict[str, str]]:
        head = household.members[0]
        for member in household.members:
            yield person_row(self.rng, self.documents, member, head, household)


def generate(n: int, *, seed: int) -> Iterator[dict[str, str]]:
    """``n`` synthetic records keyed by ``COLUMNS`` ("" when absent), the same for the same seed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative integer")
    return _rows(n, seed)


def _rows(n: int, seed: int) -> Iterator[dict[str, str]]:
    generator = Generator(seed)
    produced = 0
    while produced < n:
        remaining = n - produced
        for _ in range(20):
            members = generator.planner.plan()
            if sum(1 for m in members if m.emit) <= remaining:
                break
        else:  # the last rows: a household small enough to fit
            birth = generator.planner.born_aged(20, 36)
            members = [Member(generator.planner.sex_at_birth(birth), birth)]
        household = generator.household(members)
        for values in generator.rows(household):
            yield values
            produced += 1
