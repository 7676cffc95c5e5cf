"""Identity documents: unique 12-digit ID numbers, old 9-digit numbers, and the 12-digit card."""

from __future__ import annotations

import random
from datetime import date

from registry import idnumber
from registry.refdata import province_table
from registry.synthetic.dates import TODAY, TODAY_ORDINAL, age_on, anniversary
from registry.synthetic.draws import between, coprime
from registry.synthetic.households import Member

__all__ = ["CARDS_FROM", "Documents"]

_SERIALS = idnumber.SERIALS
_OLD_SERIALS = 10**idnumber.OLD_CARD_LENGTH
# 12-digit cards (CCCD) were first issued on 2016-01-01; chip cards from 2021, mostly in 2021-22;
# from 2024-07-01 (Law on Identification 2023) the issuer is the Ministry of Public Security.
CARDS_FROM = date(2016, 1, 1).toordinal()
_CHIP_FROM = date(2021, 1, 1).toordinal()
_CAMPAIGN_END = date(2022, 7, 1).toordinal()
_MINISTRY_FROM = date(2024, 7, 1).toordinal()
_ISSUERS = (
    (_MINISTRY_FROM, "Bộ Công an"),
    (_CHIP_FROM, "Cục Cảnh sát quản lý hành chính về trật tự xã hội"),
    (CARDS_FROM, "Cục Cảnh sát ĐKQL cư trú và DLQG về dân cư"),
)
# Law on Citizen Identification 2014 Art. 21: the card is renewed at 25, 40 and 60; a card issued
# within two years before one of these ages stays valid until the next; after 60 it does not expire.
_RENEWAL_AGES = (25, 40, 60)


class _Serials:
    """The numbers handed out under one prefix: the k-th has serial (a * k + b) mod 10^6.

    With gcd(a, 10^6) = 1 the map k -> serial is a permutation of 0..999999, so the numbers of a
    prefix never repeat and look unordered, and a run keeps only this per prefix (at most
    63 provinces x 105 years x 2 genders of them), not the numbers it has issued.
    """

    __slots__ = ("a", "b", "k", "prefix")

    def __init__(self, prefix: str, a: int, b: int) -> None:
        self.prefix, self.a, self.b, self.k = prefix, a, b, 0


class Documents:
    """The numbers handed out in one run (none twice) and the cards issued on them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.prefixes: dict[tuple[str, int, str], _Serials] = {}
        self.old_a = coprime(rng.randrange(1, _OLD_SERIALS), _OLD_SERIALS)
        self.old_b = rng.randrange(_OLD_SERIALS)
        self.old_k = 0
        self.codes = tuple(province_table())

    def id_number(self, province: str, birth_year: int, gender: str) -> tuple[str, str]:
        """A number unique in this run, and the birth province it encodes.

        When a prefix has issued all its 10^6 serials (only for files far larger than the
        country), the person is recorded as born in the next province of the table instead.
        """
        serials = self.serials(province, birth_year, gender)
        if serials.k >= _SERIALS:
            start = self.codes.index(province)
            for step in range(1, len(self.codes)):
                province = self.codes[(start + step) % len(self.codes)]
                serials = self.serials(province, birth_year, gender)
                if serials.k < _SERIALS:
                    break
            else:
                raise OverflowError("every ID-number prefix for this year and gender is used up")
        serial = (serials.a * serials.k + serials.b) % _SERIALS
        serials.k += 1
        return idnumber.compose(serials.prefix, serial), province

    def serials(self, province: str, birth_year: int, gender: str) -> _Serials:
        key = (province, birth_year, gender)
        serials = self.prefixes.get(key)
        if serials is None:
            prefix = idnumber.prefix_for(
                province_code=province, birth_year=birth_year, gender=gender
            )
            a = coprime(self.rng.randrange(1, _SERIALS), _SERIALS)
            serials = self.prefixes[key] = _Serials(prefix, a, self.rng.randrange(_SERIALS))
        return serials

    def old_id_number(self) -> str:
        """A 9-digit identity-card number unique in this run."""
        if self.old_k >= _OLD_SERIALS:
            raise OverflowError("the 9-digit card numbers are used up")
        value = (self.old_a * self.old_k + self.old_b) % _OLD_SERIALS
        self.old_k += 1
        return f"{value:09d}"

    # ------------------------------------------------------------------ small draws
    def card(self, row: dict[str, str], m: Member, birth: date, end: int) -> None:
        """The 12-digit card, if one was issued before ``end``, valid as the rules say."""
        if end - m.birth < 14 * 365 or end <= CARDS_FROM:
            return
        rng = self.rng
        if rng.random() >= 0.93:
            return  # not every adult has a card yet
        start = CARDS_FROM
        if m.birth + 14 * 366 > CARDS_FROM:
            start = max(start, anniversary(birth, m.birth, 14))
        age_at_end = age_on(birth, TODAY if end == TODAY_ORDINAL else date.fromordinal(end))
        for age in reversed(_RENEWAL_AGES):
            if age <= age_at_end:
                # A card that expired before ``end`` would have been renewed since.
                start = max(start, anniversary(birth, m.birth, age - 2))
                break
        if start >= end:
            return
        if start < _CAMPAIGN_END and end > _CHIP_FROM and rng.random() < 0.7:
            lo, hi = max(start, _CHIP_FROM), min(end, _CAMPAIGN_END)
        else:
            lo, hi = start, end
        issued = between(rng, lo, hi)
        issued_date = date.fromordinal(issued)
        row["card_number"] = m.id_number
        row["card_issue_date"] = issued_date.isoformat()
        row["card_issue_place"] = next(name for since, name in _ISSUERS if issued >= since)
        age_at_issue = age_on(birth, issued_date)
        for age in _RENEWAL_AGES:
            if age_at_issue < age - 2:
                expiry = anniversary(birth, m.birth, age)
                row["card_expiry_date"] = date.fromordinal(expiry).isoformat()
                break
