"""One person's import row: the household's facts, their own, their relatives', their card."""

from __future__ import annotations

import random
from datetime import date

from registry.record import COLUMNS, format_partial_date
from registry.synthetic.dates import TODAY_ORDINAL, YEAR
from registry.synthetic.documents import CARDS_FROM, Documents
from registry.synthetic.draws import Weighted, between
from registry.synthetic.households import Household, Member
from registry.synthetic.naming import FEMALE_GIVEN_CLASSIC, MALE_GIVEN_CLASSIC, full_name
from registry.synthetic.places import LABELS, MIGRANT_CITIES, locality, place

__all__ = ["person_row"]

_EMPTY_ROW = dict.fromkeys(COLUMNS, "")
_RELATIVE_KEYS = tuple(
    (f"{who}_id_number", f"{who}_name", f"{who}_nationality")
    for who in ("father", "mother", "spouse")
)
# fmt: off
_BLOOD = Weighted(
    [("O", 42.0), ("B", 30.5), ("A", 21.0), ("AB", 6.0), ("O-", 0.2), ("A-", 0.1),
     ("B-", 0.1), ("AB-", 0.02)]
)
# fmt: on


def person_row(
    rng: random.Random, documents: Documents, m: Member, head: Member, household: Household
) -> dict[str, str]:
    """The import row of ``m``: the household's facts plus the person's own."""
    random_ = rng.random
    birth = date.fromordinal(m.birth)
    year = m.year
    roll = random_()
    # Older records often know only the year of birth, or the year and month.
    if year < 1960:
        precision = "year" if roll < 0.2 else "month" if roll < 0.33 else "day"
    else:
        precision = "year" if roll < 0.005 else "month" if roll < 0.009 else "day"
    style = household.style
    alive = m.death == 0
    age = (TODAY_ORDINAL - m.birth) / YEAR

    row = _EMPTY_ROW.copy()
    row["id_number"] = m.id_number
    row["full_name"] = m.full_name
    if year < 1975 and style.kind == "kinh" and random_() < 0.015:
        pool = MALE_GIVEN_CLASSIC if m.gender == "male" else FEMALE_GIVEN_CLASSIC
        row["other_names"] = f"{m.surname} {pool.pick(rng)}"
    row["birth_date"] = format_partial_date(birth, precision)
    row["gender"] = m.gender
    row["birth_province"] = m.province
    if m.province == household.province and random_() < 0.7:
        row["birth_place"] = household.place.locality
    elif year < 1975 and random_() < 0.3:
        row["birth_place"] = LABELS[m.province]
    else:
        row["birth_place"] = locality(rng, m.province)
    row["hometown"] = m.hometown
    row["ethnicity"] = household.ethnicity
    row["religion"] = household.religion
    row["nationality"] = "VN"
    row["marital_status"] = _marital(m)
    if random_() < 0.28:
        row["blood_type"] = _BLOOD.pick(rng)
    address = row["permanent_address"] = household.place.address
    row["household_id"] = household.ident
    row["household_relationship"] = _relationship(m, head)

    father, mother = m.father, m.mother
    if father is None and mother is None and age >= 18:
        # Parents outside the household: their names only, when the record has them.
        if random_() < 0.85:
            surname = m.surname if style.kind != "matri" else style.surnames.pick(rng)
            row["father_name"] = full_name(rng, style, "male", year - 28, surname)
            row["father_nationality"] = "VN"
        if random_() < 0.9:
            surname = m.surname if style.kind == "matri" else style.surnames.pick(rng)
            row["mother_name"] = full_name(rng, style, "female", year - 25, surname)
            row["mother_nationality"] = "VN"
    for keys, relative in zip(_RELATIVE_KEYS, (father, mother, m.spouse), strict=True):
        if relative is not None:
            number_key, name_key, nationality_key = keys
            if relative.emit:
                row[number_key] = relative.id_number
            row[name_key] = relative.full_name
            row[nationality_key] = relative.nationality
    if m.spouse is None and m.foreign_spouse is not None:
        row["spouse_nationality"], row["spouse_name"] = m.foreign_spouse
    if m.representative is not None:
        row["representative_id_number"] = m.representative.id_number
        row["representative_name"] = m.representative.full_name
        row["representative_nationality"] = "VN"

    end = TODAY_ORDINAL
    if not alive:
        row["status"] = "deceased"
        row["death_date"] = date.fromordinal(m.death).isoformat()
        end = m.death
    elif m is not head and 18 <= age < 70 and random_() < 0.0008:
        end = between(rng, max(m.birth + int(18 * YEAR), CARDS_FROM), TODAY_ORDINAL - 1)
        row["status"] = "missing"
        row["missing_date"] = date.fromordinal(end).isoformat()
    else:
        row["status"] = "alive"
        current = address
        if 18 <= age < 40 and m is not head and random_() < 0.08:
            # Working in a big city, registered there as a temporary resident.
            city = MIGRANT_CITIES.pick(rng)
            if city != household.province:
                current = row["temporary_address"] = place(rng, city).address
        row["current_address"] = current
    documents.card(row, m, birth, end)
    if year < 1990 and random_() < 0.4:
        row["old_id_number"] = documents.old_id_number()
    return row


def _same(a: Member | None, b: Member | None) -> bool:
    return a is not None and a is b


def _relationship(m: Member, head: Member) -> str:
    """The relationship to the head of household, as the household book words it."""
    female = m.gender == "female"
    spouse = head.spouse
    if m is head:
        return "Chủ hộ"
    if _same(m, spouse):
        return "Vợ" if female else "Chồng"
    heads = (head, spouse)
    if any(_same(m.father, h) or _same(m.mother, h) for h in heads):
        return "Con"
    partner = m.spouse
    if partner is not None and any(
        _same(partner.father, h) or _same(partner.mother, h) for h in heads
    ):
        return "Con dâu" if female else "Con rể"
    if _same(head.father, m) or _same(head.mother, m):
        return "Mẹ" if female else "Cha"
    if spouse is not None and (_same(spouse.father, m) or _same(spouse.mother, m)):
        if head.gender == "male":
            return "Mẹ vợ" if female else "Cha vợ"
        return "Mẹ chồng" if female else "Cha chồng"
    for parent in (m.father, m.mother):
        if parent is not None and any(
            _same(parent.father, h) or _same(parent.mother, h) for h in heads
        ):
            return "Cháu"
    return "Người thân"


def _marital(m: Member) -> str:
    spouse = m.spouse
    if spouse is not None:
        if spouse.death and (m.death == 0 or spouse.death < m.death):
            return "widowed"
        return "married"
    if m.foreign_spouse is not None:
        return "married"
    return m.marital
