"""Households: who lives together (couples, children, elders), when they were born and died.

A plan is the people of one household (and the relatives they name who are not in the file),
drawn before anyone is named, placed or numbered.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

from registry.synthetic.dates import FIRST_ORDINAL, TODAY_ORDINAL, YEAR
from registry.synthetic.draws import Weighted, between
from registry.synthetic.naming import Style
from registry.synthetic.places import Place

__all__ = ["Household", "Member", "Planner"]

_SKEWED_BIRTHS_FROM = date(2005, 1, 1).toordinal()


@dataclass(eq=False, slots=True)
class Member:
    """One person of the household being built (``emit=False``: named but not in the file)."""

    gender: str
    birth: int  # date ordinal
    father: Member | None = None
    mother: Member | None = None
    spouse: Member | None = None
    death: int = 0  # date ordinal; 0 while alive
    marital: str = "single"  # when there is no spouse link
    emit: bool = True
    representative: Member | None = None
    foreign_spouse: tuple[str, str] | None = None  # (nationality, name)
    nationality: str = "VN"
    year: int = 0  # of birth, once named
    # filled when the household is materialised
    surname: str = ""
    full_name: str = ""
    id_number: str = ""
    province: str = ""
    hometown: str = ""


@dataclass(slots=True)
class Household:
    ident: str
    province: str
    ethnicity: str
    style: Style
    religion: str
    place: Place
    members: list[Member] = field(default_factory=list)


# fmt: off
_KINDS = Weighted(
    [("single", 9.0), ("couple", 11.0), ("nuclear", 47.0), ("single_parent", 6.0),
     ("three_generation", 14.0), ("extended", 9.0), ("skipped_generation", 4.0)]
)
# Age bands (years) of the mother in a nuclear family, with weights.
_MOTHER_AGES = Weighted(
    [((20, 25), 4.0), ((25, 30), 8.0), ((30, 35), 11.0), ((35, 40), 13.0), ((40, 45), 13.0),
     ((45, 50), 11.0), ((50, 55), 8.0), ((55, 62), 6.0)]
)
# fmt: on
# Children per mother by the mother's generation (fertility fell to about 2 by the 2000s).
_SIBLINGS_1970 = Weighted([(1, 15.0), (2, 55.0), (3, 25.0), (4, 5.0)])
_SIBLINGS_1985 = Weighted([(1, 20.0), (2, 55.0), (3, 23.0), (4, 2.0)])
# Age bands (years) of people over 60 living alone or as a couple.
_ELDER_AGES = Weighted([((60, 70), 40.0), ((70, 80), 34.0), ((80, 90), 20.0), ((90, 101), 6.0)])


def _survives(age_years: float) -> float:
    """Probability of being alive at ``age_years`` (a Weibull curve close to Vietnam's)."""
    return math.exp(-((age_years / 86.0) ** 8))


# Foreign spouses (not citizens, so not in the file): nationality and name.
# fmt: off
_FOREIGN_SPOUSES = Weighted(
    [(("KR", "Kim Min Jun"), 3.0), (("KR", "Lee Seung Ho"), 2.0), (("KR", "Park Ji Hoon"), 2.0),
     (("TW", "Chen Wei Ming"), 2.0), (("TW", "Lin Chih Hao"), 1.5), (("CN", "Wang Jian"), 1.5),
     (("CN", "Li Wei"), 1.0), (("JP", "Tanaka Hiroshi"), 0.8), (("US", "John Smith"), 0.5)]
)
# fmt: on


class Planner:
    """Draws the people of households: who lives with whom, their births and deaths."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rng.random()

    def born_aged(self, lo: float, hi: float) -> int:
        """A birth date for someone now aged between ``lo`` and ``hi`` years."""
        birth = TODAY_ORDINAL - int(self.uniform(lo, hi) * YEAR) - 1
        return max(birth, FIRST_ORDINAL)

    def sex_at_birth(self, birth: int) -> str:
        # The sex ratio at birth rose to about 111 boys per 100 girls from the mid-2000s.
        threshold = 0.525 if birth >= _SKEWED_BIRTHS_FROM else 0.51
        return "male" if self.rng.random() < threshold else "female"

    def age(self, birth: int) -> float:
        return (TODAY_ORDINAL - birth) / YEAR

    def maybe_dies(self, member: Member, *, after: int = 0, record: float = 1.0) -> None:
        """Decide whether ``member`` has died (after ``after``); the record is kept or not."""
        rng = self.rng
        if rng.random() < _survives(self.age(member.birth)):
            return
        lo = max(member.birth + int(45 * YEAR), after + 1)
        hi = min(TODAY_ORDINAL - 1, member.birth + int(104 * YEAR))
        if lo >= hi:
            return  # cannot have died yet: alive
        member.death = between(rng, lo, hi)
        if rng.random() >= record:
            member.emit = False  # a spouse or child still names them, without a number

    # ------------------------------------------------------------------ household plans

    def couple(self, wife_birth: int) -> tuple[Member, Member]:
        """A husband for a wife born on ``wife_birth``, married to her."""
        gap = self.rng.triangular(-3.0, 12.0, 2.5)
        husband_birth = max(FIRST_ORDINAL, wife_birth - int(gap * YEAR))
        husband_birth = min(husband_birth, TODAY_ORDINAL - int(20.5 * YEAR))
        wife = Member("female", wife_birth)
        husband = Member("male", husband_birth)
        wife.spouse, husband.spouse = husband, wife
        return husband, wife

    def children(
        self, father: Member | None, mother: Member, *, at_home: bool = True
    ) -> list[Member]:
        """The children of ``mother`` (and ``father``) who live with them now."""
        rng = self.rng
        year = date.fromordinal(mother.birth).year
        if year < 1955:
            count, first = between(rng, 3, 7), self.uniform(18.5, 25.0)
        elif year < 1970:
            count, first = between(rng, 2, 5), self.uniform(19.0, 26.0)
        elif year < 1985:
            count, first = _SIBLINGS_1970.pick(rng), self.uniform(20, 28)
        else:
            count, first = _SIBLINGS_1985.pick(rng), self.uniform(21, 31)
        kids: list[Member] = []
        birth = mother.birth + int(first * YEAR)
        if father is not None:
            birth = max(birth, father.birth + int(19 * YEAR))
        last = mother.birth + int(44 * YEAR)
        for _ in range(count):
            if birth >= TODAY_ORDINAL or birth > last:
                break
            if mother.death and birth >= mother.death:
                break
            age = self.age(birth)
            home = 1.0 if age < 18 else 0.85 if age < 23 else 0.5 if age < 28 else 0.2
            if age > 35:
                home = 0.05
            if not at_home or rng.random() < home:
                kids.append(Member(self.sex_at_birth(birth), birth, father=father, mother=mother))
            birth += int(self.uniform(1.3, 5.5) * YEAR)
        return kids

    def elders_of(self, child: Member) -> list[Member]:
        """The parents of ``child``: those alive or recorded as deceased."""
        mother = Member(
            "female", max(FIRST_ORDINAL, child.birth - int(self.uniform(19, 38) * YEAR))
        )
        husband, wife = self.couple(mother.birth)
        # The father is at least 19 at the birth and the mother at least 18.
        husband.birth = min(husband.birth, child.birth - int(19 * YEAR))
        child.father, child.mother = husband, wife
        for elder in (husband, wife):
            self.maybe_dies(elder, after=child.birth, record=0.8)
        return [husband, wife]

    def plan(self) -> list[Member]:
        """The people of one household (phantoms included), not yet named or numbered."""
        rng = self.rng
        kind = _KINDS.pick(rng)
        if kind == "single":
            return self.plan_single()
        if kind == "couple":
            if rng.random() < 0.3:
                husband, wife = self.couple(self.born_aged(19, 33))
                return [husband, wife]
            lo, hi = _ELDER_AGES.pick(rng)
            husband, wife = self.couple(self.born_aged(max(lo - 8, 52), hi - 5))
            self.maybe_dies(husband, record=0.7)
            if husband.death == 0:
                self.maybe_dies(wife, record=0.7)
            return [husband, wife]
        if kind == "nuclear":
            lo, hi = _MOTHER_AGES.pick(rng)
            husband, wife = self.couple(self.born_aged(lo, hi))
            return [husband, wife, *self.children(husband, wife)]
        if kind == "single_parent":
            return self.plan_single_parent()
        if kind == "three_generation":
            # The head's (usually the husband's) parents live with the young family.
            husband, wife = self.couple(self.born_aged(24, 50))
            kids = self.children(husband, wife)
            side = husband if rng.random() < 0.78 else wife
            elders = self.elders_of(side)
            return [husband, wife, *elders, *kids]
        if kind == "extended":
            # The elders head the household; a married child and grandchildren live with them.
            child_birth = self.born_aged(24, 45)
            # Usually a son and his wife (patrilocal), sometimes a daughter and her husband.
            child = Member("male" if rng.random() < 0.75 else "female", child_birth)
            elders = self.elders_of(child)
            age = self.age(child_birth)
            if child.gender == "male":
                partner = Member("female", self.born_aged(max(19.0, age - 7), age + 1))
            else:
                partner = Member("male", self.born_aged(max(20.5, age - 1), age + 7))
            child.spouse, partner.spouse = partner, child
            husband, wife = (child, partner) if child.gender == "male" else (partner, child)
            kids = self.children(husband, wife)
            return [*elders, child, partner, *kids]
        return self.plan_skipped_generation()

    def plan_single(self) -> list[Member]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            birth = self.born_aged(20, 36)
            person = Member(self.sex_at_birth(birth), birth)
            if person.gender == "female" and rng.random() < 0.03:
                person.foreign_spouse = _FOREIGN_SPOUSES.pick(rng)
            return [person]
        if roll < 0.6:
            birth = self.born_aged(36, 60)
            person = Member(self.sex_at_birth(birth), birth)
            person.marital = "divorced" if rng.random() < 0.55 else "single"
            return [person]
        # An elderly widow or widower; the late spouse's record is often still in the file.
        birth = self.born_aged(*_ELDER_AGES.pick(rng))
        person = Member("female" if rng.random() < 0.72 else "male", birth)
        person.marital = "widowed"
        if rng.random() < 0.8:
            other = "male" if person.gender == "female" else "female"
            late = Member(other, max(FIRST_ORDINAL, birth - int(self.uniform(-3, 8) * YEAR)))
            if other == "female":
                late.birth = min(
                    TODAY_ORDINAL - int(19 * YEAR), birth + int(self.uniform(0, 8) * YEAR)
                )
            lo = late.birth + int(40 * YEAR)
            late.death = between(rng, min(lo, TODAY_ORDINAL - 2), TODAY_ORDINAL - 1)
            late.spouse, person.spouse = person, late
            return [person, late]
        return [person]

    def plan_single_parent(self) -> list[Member]:
        """A parent raising children alone: divorced, widowed, or never married."""
        rng = self.rng
        lo, hi = _MOTHER_AGES.pick(rng)
        father, mother = self.couple(self.born_aged(max(lo, 24), hi))
        kids = self.children(father, mother)
        parent, absent = (mother, father) if rng.random() < 0.8 else (father, mother)
        parent.spouse = absent.spouse = None
        absent.emit = False
        roll = rng.random()
        if roll < 0.55 or not kids:
            parent.marital = "divorced"
        elif roll < 0.85:
            last = max(kid.birth for kid in kids)
            absent.death = between(
                rng, max(last - 200, absent.birth + int(20 * YEAR)), TODAY_ORDINAL - 1
            )
            if rng.random() < 0.5:  # the late spouse's record is still in the file
                absent.emit = True
                parent.spouse, absent.spouse = absent, parent
            else:
                parent.marital = "widowed"
        elif parent is mother and rng.random() < 0.3:
            # Married to a foreigner who lives abroad (not a citizen, so not in the file).
            nationality, name = _FOREIGN_SPOUSES.pick(rng)
            parent.foreign_spouse = (nationality, name)
            absent.full_name, absent.nationality = name, nationality
        elif parent is mother:
            # Never married; the father is not recorded and the children take her surname.
            for kid in kids:
                kid.father = None
        else:
            parent.marital = "divorced"
        return [parent, *kids, absent]

    def plan_skipped_generation(self) -> list[Member]:
        """Grandparents raising grandchildren whose parents work elsewhere."""
        rng = self.rng
        father, mother = self.couple(self.born_aged(25, 45))
        father.emit = mother.emit = False
        kids = [k for k in self.children(father, mother, at_home=False) if self.age(k.birth) < 18]
        if not kids:
            birth = max(mother.birth + int(19 * YEAR), father.birth + int(19 * YEAR))
            birth = max(birth, self.born_aged(0, 17))
            kids = [Member(self.sex_at_birth(birth), birth, father=father, mother=mother)]
        side = father if rng.random() < 0.75 else mother
        elders = self.elders_of(side)
        living = [elder for elder in elders if elder.emit and elder.death == 0]
        if not living:
            grandmother = elders[1]  # somebody raises them: the grandmother is alive after all
            grandmother.emit, grandmother.death = True, 0
            living = [grandmother]
        if rng.random() < 0.1:
            for kid in kids:
                kid.representative = living[0]
        return [*elders, father, mother, *kids]
