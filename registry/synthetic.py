"""Synthetic, realistic import files for load tests, demos and bulk import (pure except ``write``).

People are generated household by household (a head, a spouse, children, sometimes the head's
parents, sometimes grandchildren whose parents live elsewhere), so relatives point at each
other's ID numbers. Every row passes :func:`registry.record.parse_record` as of :data:`TODAY`.
The output depends only on ``n`` and ``seed`` (one ``random.Random(seed)``), never on the run
date or the machine, and memory stays bounded however many rows are asked for: only the current
household and one counter per ID-number prefix are kept.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Generic, Literal, TypeVar

from registry import idnumber, names
from registry.record import COLUMNS, format_partial_date
from registry.refdata import ethnic_groups, province_table

__all__ = ["FIRST_BIRTH_YEAR", "TODAY", "Format", "generate", "write"]

# The fixed "today" of the generated population: output must not depend on the run date.
TODAY = date(2025, 1, 1)
FIRST_BIRTH_YEAR = 1920

Format = Literal["csv", "ndjson"]
T = TypeVar("T")

_TODAY = TODAY.toordinal()
_FIRST = date(FIRST_BIRTH_YEAR, 1, 1).toordinal()
_YEAR = 365.2425
_SERIALS = idnumber.SERIALS
_OLD_SERIALS = 10**idnumber.OLD_CARD_LENGTH
# 12-digit cards (CCCD) were first issued on 2016-01-01; chip cards from 2021, mostly in 2021-22;
# from 2024-07-01 (Law on Identification 2023) the issuer is the Ministry of Public Security.
_CARDS_FROM = date(2016, 1, 1).toordinal()
_CHIP_FROM = date(2021, 1, 1).toordinal()
_CAMPAIGN_END = date(2022, 7, 1).toordinal()
_MINISTRY_FROM = date(2024, 7, 1).toordinal()
_SKEWED_BIRTHS_FROM = date(2005, 1, 1).toordinal()
_ISSUERS = (
    (_MINISTRY_FROM, "Bộ Công an"),
    (_CHIP_FROM, "Cục Cảnh sát quản lý hành chính về trật tự xã hội"),
    (_CARDS_FROM, "Cục Cảnh sát ĐKQL cư trú và DLQG về dân cư"),
)
# Law on Citizen Identification 2014 Art. 21: the card is renewed at 25, 40 and 60; a card issued
# within two years before one of these ages stays valid until the next; after 60 it does not expire.
_RENEWAL_AGES = (25, 40, 60)


class _Weighted(Generic[T]):
    """Items drawn with fixed relative weights (one ``rng.random()`` per draw)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            if weight > 0:
                total += weight
                items.append(item)
                cum.append(total)
        if not items:
            raise ValueError("a weighted table needs at least one positive weight")
        self._items = tuple(items)
        # The last bound is infinite so that rounding in random() * total never runs past it.
        self._cum = (*cum[:-1], math.inf)
        self._total = total

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect_right(self._cum, rng.random() * self._total)]


def _names(text: str) -> tuple[str, ...]:
    """A pool of name parts in their stored form (comma-separated source)."""
    return tuple(names.normalize(part) for part in text.split(",") if part.strip())


def _weighted_names(pairs: Sequence[tuple[str, float]]) -> _Weighted[str]:
    return _Weighted((names.normalize(name), weight) for name, weight in pairs)


def _even(pool: Iterable[str]) -> _Weighted[str]:
    return _Weighted((name, 1.0) for name in pool)


# ----------------------------------------------------------------------------- places

# fmt: off
# Approximate population in thousands (statistics office, 2023), by Circular 07/2016 code.
_POPULATION: dict[str, float] = {
    "001": 8500, "002": 900, "004": 540, "006": 320, "008": 800, "010": 770, "011": 640,
    "012": 480, "014": 1290, "015": 840, "017": 880, "019": 1330, "020": 800, "022": 1360,
    "024": 1920, "025": 1500, "026": 1200, "027": 1490, "030": 1950, "031": 2100, "033": 1290,
    "034": 1880, "035": 880, "036": 1880, "037": 1010, "038": 3740, "040": 3440, "042": 1330,
    "044": 910, "045": 650, "046": 1160, "048": 1250, "049": 1520, "051": 1250, "052": 1500,
    "054": 880, "056": 1260, "058": 600, "060": 1260, "062": 580, "064": 1610, "066": 1940,
    "067": 680, "068": 1340, "070": 1040, "072": 1190, "074": 2760, "075": 3260, "077": 1190,
    "079": 9460, "080": 1730, "082": 1790, "083": 1300, "084": 1020, "086": 1030, "087": 1600,
    "089": 1910, "091": 1740, "092": 1260, "093": 730, "094": 1200, "095": 920, "096": 1210,
}
# Approximate Kinh share where it is far from the national 85% (2019 census); elsewhere 0.97.
_KINH_SHARE: dict[str, float] = {
    "002": 0.13, "004": 0.05, "006": 0.12, "008": 0.45, "010": 0.35, "011": 0.18, "012": 0.15,
    "014": 0.17, "015": 0.50, "017": 0.27, "019": 0.73, "020": 0.16, "022": 0.88, "024": 0.87,
    "025": 0.85, "038": 0.84, "040": 0.85, "045": 0.88, "049": 0.94, "051": 0.88, "058": 0.77,
    "062": 0.47, "064": 0.53, "066": 0.65, "067": 0.68, "068": 0.77, "070": 0.82, "079": 0.93,
    "084": 0.68, "091": 0.86, "094": 0.63, "095": 0.90,
}
# fmt: on
_CENTRAL_CITIES = frozenset({"001", "031", "048", "079", "092"})
_MIGRANT_MAGNETS = frozenset({"001", "079", "074", "075", "077", "027"})
_MOUNTAIN = frozenset({"002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "020"})
_URBAN_SHARE: dict[str, float] = {"001": 0.5, "079": 0.8, "031": 0.47, "048": 0.87, "092": 0.7}
_PROVINCES = _Weighted(_POPULATION.items())
_KINH_PROVINCES = _Weighted(
    (code, weight * _KINH_SHARE.get(code, 0.97)) for code, weight in _POPULATION.items()
)


def _region(code: str) -> str:
    return "north" if code < "038" else "central" if code < "070" else "south"


def _province_label(code: str) -> str:
    name = province_table().name(code) or code
    if name.startswith("Thành phố"):
        return name
    return ("Thành phố " if code in _CENTRAL_CITIES else "Tỉnh ") + name


_LABELS = {code: _province_label(code) for code in _POPULATION}
_PLACES = _names(
    "An Phú,An Khánh,Bình An,Bình Minh,Cẩm Bình,Đông Hòa,Đông Xuân,Hòa Bình,Hòa Lợi,Hưng Long,"
    "Hưng Đạo,Hợp Thành,Kim Long,Long Hòa,Minh Khai,Nam Sơn,Nghĩa Đô,Phú Lâm,Phú Mỹ,Phú Thịnh,"
    "Phước Long,Quang Trung,Quyết Thắng,Tân An,Tân Hòa,Tân Lập,Tân Phong,Tân Thành,Tân Tiến,"
    "Thạnh Lộc,Thắng Lợi,Thịnh Liệt,Thuận An,Tiến Thành,Trung Hòa,Trường Thịnh,Vĩnh Hòa,"
    "Vĩnh Phúc,Xuân Phương,Yên Hòa,Đại Đồng,Đồng Tâm,Hồng Phong,Liên Hiệp,Mỹ Xuyên,Phong Điền,"
    "Hương Sơn,Cát Lái,Tam Hiệp,Bình Thạnh,Đức Thắng,Nhân Chính,Vạn Phúc,Hòa Khánh,Long Bình"
)
_HAMLETS_MOUNTAIN = _names(
    "Nà Làng,Pác Bó,Nậm Cang,Lũng Cú,Phiêng Luông,Huổi Só,Co Muông,Khuổi Nặm,Nà Phặc,Bó Lếch,"
    "Sín Chải,Tả Van,Lao Chải,Nậm Ty,Phìn Hồ"
)
_STREETS = _names(
    "Lê Lợi,Trần Hưng Đạo,Nguyễn Trãi,Hai Bà Trưng,Lý Thường Kiệt,Quang Trung,Nguyễn Huệ,Lê Duẩn,"
    "Hùng Vương,Điện Biên Phủ,Trần Phú,Nguyễn Du,Phan Chu Trinh,Phan Bội Châu,Lê Thánh Tông,"
    "Nguyễn Văn Cừ,Võ Thị Sáu,Cách Mạng Tháng Tám,Nguyễn Thị Minh Khai,Bà Triệu,Lạc Long Quân,"
    "Âu Cơ,Tôn Đức Thắng,Lê Hồng Phong,Ngô Quyền,Đinh Tiên Hoàng,Lý Thái Tổ,Nguyễn Chí Thanh,"
    "Hoàng Hoa Thám,Trường Chinh,Phạm Văn Đồng,Võ Văn Kiệt,Nguyễn Văn Linh,Chu Văn An,Bạch Đằng"
)
_DISTRICTS_URBAN: dict[str, tuple[str, ...]] = {
    "001": tuple(
        "Quận " + d
        for d in _names(
            "Ba Đình,Hoàn Kiếm,Tây Hồ,Long Biên,Cầu Giấy,Đống Đa,Hai Bà Trưng,Hoàng Mai,"
            "Thanh Xuân,Nam Từ Liêm,Bắc Từ Liêm,Hà Đông"
        )
    ),
    "079": tuple(f"Quận {n}" for n in (1, 3, 4, 5, 6, 7, 8, 10, 11, 12))
    + tuple("Quận " + d for d in _names("Bình Thạnh,Gò Vấp,Phú Nhuận,Tân Bình,Tân Phú,Bình Tân"))
    + ("Thành phố Thủ Đức",),
}
_DISTRICTS_RURAL: dict[str, tuple[str, ...]] = {
    "001": tuple(
        "Huyện " + d
        for d in _names("Đông Anh,Gia Lâm,Sóc Sơn,Thanh Trì,Thường Tín,Ba Vì,Chương Mỹ,Mê Linh")
    ),
    "079": tuple("Huyện " + d for d in _names("Củ Chi,Hóc Môn,Bình Chánh,Nhà Bè,Cần Giờ")),
}


@dataclass(frozen=True, slots=True)
class _Place:
    address: str  # house, street or hamlet, commune, district, province
    locality: str  # commune, district, province (a birth place, a home town)


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    """One of ``items``, uniformly (cheaper than ``rng.choice``; one ``rng.random()``)."""
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """An integer in ``lo..hi-1`` (cheaper than ``rng.randrange``; one ``rng.random()``)."""
    return lo + int(rng.random() * (hi - lo))


def _place(rng: random.Random, code: str) -> _Place:
    """A permanent address in province ``code``, urban or rural as the province is."""
    label = _LABELS[code]
    if rng.random() < _URBAN_SHARE.get(code, 0.32):
        districts = _DISTRICTS_URBAN.get(code)
        if districts is not None:
            district = _pick(rng, districts)
        elif code in _CENTRAL_CITIES:
            district = "Quận " + _pick(rng, _PLACES)
        else:
            district = ("Thành phố " if rng.random() < 0.7 else "Thị xã ") + _pick(rng, _PLACES)
        if code == "079" and rng.random() < 0.5:
            ward = f"Phường {_between(rng, 1, 28)}"
        else:
            ward = "Phường " + _pick(rng, _PLACES)
        locality = f"{ward}, {district}, {label}"
        number = _between(rng, 1, 400)
        street = _pick(rng, _STREETS)
        if code >= "070":  # the south says "hẻm" for an alley, the north "ngõ"
            lane = f"Hẻm {_between(rng, 1, 300)}, " if rng.random() < 0.6 else ""
            return _Place(f"Số {number}, {lane}Đường {street}, {locality}", locality)
        lane = f"Ngõ {_between(rng, 1, 300)}, " if rng.random() < 0.6 else ""
        kind = "Phố" if code == "001" else "Đường"
        return _Place(f"Số {number}, {lane}{kind} {street}, {locality}", locality)
    locality = _rural_locality(rng, code, label)
    if code in _MOUNTAIN and rng.random() < 0.6:
        hamlet = "Bản " + _pick(rng, _HAMLETS_MOUNTAIN)
    elif code >= "070":
        hamlet = "Ấp " + _pick(rng, _PLACES)
    else:
        hamlet = f"{'Thôn' if rng.random() < 0.6 else 'Xóm'} {_between(rng, 1, 16)}"
    return _Place(f"{hamlet}, {locality}", locality)


def _rural_locality(rng: random.Random, code: str, label: str) -> str:
    districts = _DISTRICTS_RURAL.get(code)
    district = _pick(rng, districts) if districts is not None else "Huyện " + _pick(rng, _PLACES)
    return f"Xã {_pick(rng, _PLACES)}, {district}, {label}"


def _locality(rng: random.Random, code: str) -> str:
    """A commune-level place in province ``code`` (a birth place or home town elsewhere)."""
    if rng.random() < _URBAN_SHARE.get(code, 0.32):
        return _place(rng, code).locality
    return _rural_locality(rng, code, _LABELS[code])


# ----------------------------------------------------------------------------- ethnicity, religion

# Share of the population in percent (2019 census) and the provinces where each group mostly lives.
_ETHNIC: tuple[tuple[str, float, str], ...] = (
    ("01", 85.32, ""),
    ("02", 1.92, "004 020 006 008 002 019 015 010 022 066"),
    ("03", 1.89, "014 040 038 011 012 015 017"),
    ("04", 0.78, "079 075 094 091 095 074 022"),
    ("05", 1.32, "094 084 091 089 095 096"),
    ("06", 1.51, "017 038 025 014 037"),
    ("07", 1.16, "020 004 024 002 019 066"),
    ("08", 1.45, "002 011 010 014 012 015 040 004"),
    ("09", 0.92, "002 010 015 008 022 006 004 012"),
    ("10", 0.54, "064 062 066"),
    ("11", 0.001, "022 024"),
    ("12", 0.41, "066 054 056 067"),
    ("13", 0.30, "064 062 052"),
    ("14", 0.22, "062 051 049"),
    ("15", 0.21, "008 019 024 020"),
    ("16", 0.21, "068"),
    ("17", 0.19, "058 060 089 079"),
    ("18", 0.19, "019 026 024 022 008"),
    ("19", 0.15, "051"),
    ("20", 0.13, "067 066"),
    ("21", 0.15, "058 056"),
    ("22", 0.10, "070"),
    ("23", 0.099, "045 044"),
    ("24", 0.095, "040 038"),
    ("25", 0.07, "010 002 012"),
    ("26", 0.08, "049 046"),
    ("27", 0.06, "062 049"),
    ("28", 0.05, "068 067"),
    ("29", 0.095, "040 011 014"),
    ("30", 0.04, "051 049"),
    ("31", 0.05, "046 045"),
    ("32", 0.03, "075"),
    ("33", 0.017, "014 011 012"),
    ("34", 0.03, "014 011"),
    ("35", 0.026, "012 011 010"),
    ("36", 0.024, "068 058"),
    ("37", 0.018, "011 014 012"),
    ("38", 0.016, "002"),
    ("39", 0.01, "014"),
    ("40", 0.013, "010 002"),
    ("41", 0.012, "012"),
    ("42", 0.007, "012"),
    ("43", 0.0045, "002 004"),
    ("44", 0.008, "044"),
    ("45", 0.0046, "012"),
    ("46", 0.0089, "002 008"),
    ("47", 0.004, "002"),
    ("48", 0.0025, "011 012"),
    ("49", 0.0035, "010 002"),
    ("50", 0.0009, "012 011"),
    ("51", 0.0009, "002"),
    ("52", 0.0005, "062"),
    ("53", 0.0004, "040"),
    ("54", 0.0005, "062"),
)
_ETHNICITIES = _Weighted((code, share) for code, share, _ in _ETHNIC)
_HOMELANDS: dict[str, _Weighted[str]] = {
    code: _Weighted((p, _POPULATION[p]) for p in homes.split())
    for code, _, homes in _ETHNIC
    if homes
}

# fmt: off
_RELIGIONS: dict[str, _Weighted[str]] = {
    "north": _Weighted([("", 89.0), ("Công giáo", 7.0), ("Phật giáo", 3.0), ("Tin lành", 0.6)]),
    "central": _Weighted(
        [("", 85.0), ("Phật giáo", 7.5), ("Công giáo", 6.0), ("Tin lành", 1.0), ("Cao Đài", 0.3)]
    ),
    "south": _Weighted(
        [("", 80.0), ("Phật giáo", 7.0), ("Công giáo", 6.5), ("Cao Đài", 2.5), ("Tin lành", 1.0)]
    ),
    "mekong": _Weighted(
        [
            ("", 77.0),
            ("Phật giáo", 7.0),
            ("Phật giáo Hòa Hảo", 6.0),
            ("Công giáo", 5.0),
            ("Cao Đài", 3.0),
            ("Tin lành", 0.5),
        ]
    ),
    "khmer": _Weighted([("Phật giáo", 92.0), ("", 8.0)]),
    "cham": _Weighted([("Hồi giáo", 35.0), ("Bà La Môn", 40.0), ("", 25.0)]),
    "hoa": _Weighted([("", 65.0), ("Phật giáo", 30.0), ("Công giáo", 5.0)]),
    "protestant": _Weighted([("", 50.0), ("Tin lành", 30.0), ("Công giáo", 20.0)]),
}
_BLOOD = _Weighted(
    [("O", 42.0), ("B", 30.5), ("A", 21.0), ("AB", 6.0), ("O-", 0.2), ("A-", 0.1),
     ("B-", 0.1), ("AB-", 0.02)]
)
# fmt: on

# ----------------------------------------------------------------------------- names

# fmt: off
_KINH_SURNAMES: list[tuple[str, float]] = [
    ("Nguyễn", 55.0), ("Trần", 15.0), ("Lê", 12.5), ("Phạm", 9.0), ("HOANG", 5.8), ("Phan", 5.0),
    ("VU", 4.4), ("Đặng", 2.4), ("Bùi", 2.2), ("Đỗ", 1.6), ("Hồ", 1.5), ("Ngô", 1.5),
    ("Dương", 1.1), ("Lý", 0.5), ("Đinh", 0.6), ("Trương", 0.6), ("Lâm", 0.5), ("Mai", 0.5),
    ("Trịnh", 0.5), ("Đoàn", 0.5), ("Lương", 0.5), ("Đào", 0.5), ("Cao", 0.4), ("Hà", 0.4),
    ("Lưu", 0.4), ("Tạ", 0.3), ("Tô", 0.3), ("Chu", 0.3), ("Châu", 0.3), ("Phùng", 0.3),
    ("Quách", 0.2), ("Thái", 0.2), ("Kiều", 0.2), ("Tăng", 0.2), ("Triệu", 0.2), ("Vương", 0.2),
    ("Thân", 0.15), ("Lại", 0.15), ("Nghiêm", 0.1), ("La", 0.1), ("Hứa", 0.1), ("Từ", 0.1),
    ("Giang", 0.1), ("Khúc", 0.05), ("Tôn", 0.05), ("Âu", 0.05), ("Kha", 0.05), ("Mạc", 0.05),
    ("Diệp", 0.05),
]
# fmt: on
# The south says Huỳnh for Hoàng (a naming taboo of the Nguyễn lords) and mostly Võ for Vũ.
_SPLITS = {
    "north": {"HOANG": (("Hoàng", 0.97), ("Huỳnh", 0.03)), "VU": (("Vũ", 0.9), ("Võ", 0.1))},
    "central": {"HOANG": (("Hoàng", 0.45), ("Huỳnh", 0.55)), "VU": (("Vũ", 0.3), ("Võ", 0.7))},
    "south": {"HOANG": (("Hoàng", 0.12), ("Huỳnh", 0.88)), "VU": (("Vũ", 0.15), ("Võ", 0.85))},
}


def _kinh_surnames(region: str) -> _Weighted[str]:
    pairs: list[tuple[str, float]] = []
    for name, weight in _KINH_SURNAMES:
        if name in _SPLITS[region]:
            pairs.extend((part, weight * share) for part, share in _SPLITS[region][name])
        else:
            pairs.append((name, weight))
    return _weighted_names(pairs)


# fmt: off
_MALE_MIDDLE_PAIRS: list[tuple[str, float]] = (
    [("Hữu", 6), ("Đức", 8), ("Minh", 10), ("Quang", 7), ("Công", 5), ("Thành", 4), ("Xuân", 4),
     ("Ngọc", 3), ("Hoàng", 5), ("Quốc", 6), ("Tuấn", 3), ("Trung", 3), ("Duy", 4), ("Gia", 4),
     ("Anh", 3), ("Bá", 2), ("Đình", 4), ("Thanh", 4), ("Mạnh", 2), ("Trọng", 3), ("Tiến", 2),
     ("Nhật", 3), ("Hải", 2), ("Bảo", 3), ("Phúc", 2), ("Thế", 3), ("Khắc", 1), ("Việt", 2)]
)
_FEMALE_MIDDLE_PAIRS: list[tuple[str, float]] = (
    [("Ngọc", 8), ("Thu", 7), ("Thanh", 7), ("Minh", 6), ("Phương", 5), ("Thùy", 5), ("Bảo", 4),
     ("Hồng", 5), ("Kim", 5), ("Mỹ", 4), ("Diệu", 2), ("Khánh", 4), ("Hoài", 3), ("Quỳnh", 3),
     ("Lan", 2), ("Bích", 3), ("Tuyết", 2), ("Hải", 3), ("Mai", 3), ("Cẩm", 2), ("Như", 3),
     ("Huyền", 2), ("Tú", 2), ("Xuân", 2), ("Gia", 2), ("Ánh", 2), ("Thảo", 2)]
)
_MALE_GIVEN_CLASSIC_PAIRS: list[tuple[str, float]] = (
    [("Hùng", 8), ("Dũng", 8), ("Tuấn", 7), ("Nam", 6), ("Long", 6), ("Minh", 6), ("Thắng", 5),
     ("Sơn", 6), ("Hải", 6), ("Cường", 5), ("Bình", 5), ("Thành", 5), ("Trung", 4), ("Hòa", 4),
     ("Lợi", 3), ("Toàn", 3), ("Tiến", 3), ("Hưng", 4), ("Quang", 4), ("Phong", 3), ("Vinh", 4),
     ("Hiếu", 3), ("Đức", 4), ("Mạnh", 3), ("Thịnh", 3), ("Tâm", 3), ("Nghĩa", 3), ("Lâm", 2),
     ("Tài", 2), ("Công", 2), ("Cảnh", 2), ("Anh", 5), ("Việt", 3), ("Thanh", 3), ("Phúc", 2),
     ("Tú", 2), ("Trí", 2), ("Hoàng", 3), ("Khánh", 2), ("Tư", 1), ("Sáu", 1), ("Bảy", 1)]
)
_MALE_GIVEN_MODERN_PAIRS: list[tuple[str, float]] = (
    [("Huy", 8), ("Khoa", 6), ("Anh", 8), ("Minh", 7), ("Khang", 5), ("Khôi", 5), ("Phát", 4),
     ("Bảo", 5), ("Nam", 5), ("Long", 5), ("Quân", 6), ("Đạt", 6), ("Duy", 4), ("Hiếu", 4),
     ("Kiên", 3), ("Lộc", 3), ("Nhân", 3), ("Phúc", 4), ("Thiện", 3), ("Tuấn", 4), ("Vũ", 3),
     ("Dương", 3), ("Khải", 2), ("Tùng", 3), ("Sơn", 3), ("Hoàng", 3), ("Thịnh", 3), ("Trí", 3),
     ("Khánh", 3), ("Phong", 3), ("Hưng", 3), ("Dũng", 2), ("An", 4), ("Kiệt", 3), ("Nguyên", 3)]
)
_FEMALE_GIVEN_CLASSIC_PAIRS: list[tuple[str, float]] = (
    [("Lan", 7), ("Hương", 8), ("Hoa", 6), ("Hằng", 6), ("Hạnh", 5), ("Mai", 6), ("Hà", 5),
     ("Nga", 5), ("Nhung", 4), ("Hồng", 5), ("Huyền", 4), ("Thủy", 5), ("Thúy", 4), ("Loan", 3),
     ("Liên", 3), ("Tuyết", 3), ("Xuân", 3), ("Dung", 4), ("Hiền", 4), ("Yến", 4), ("Phương", 4),
     ("Oanh", 3), ("Vân", 4), ("Lệ", 2), ("Hậu", 2), ("Tâm", 2), ("Thảo", 4), ("Trang", 4),
     ("Linh", 3), ("Ngọc", 4), ("Giang", 3), ("Thu", 3), ("Bích", 2), ("Nhàn", 2), ("Cúc", 2)]
)
_FEMALE_GIVEN_MODERN_PAIRS: list[tuple[str, float]] = (
    [("Linh", 8), ("Trang", 7), ("Anh", 8), ("Ngọc", 5), ("Thảo", 6), ("Vy", 6), ("Nhi", 6),
     ("Hân", 5), ("Ngân", 5), ("My", 5), ("An", 5), ("Chi", 5), ("Thư", 5), ("Quỳnh", 4),
     ("Uyên", 4), ("Trâm", 4), ("Hương", 3), ("Mai", 3), ("Hà", 3), ("Phương", 4), ("Ly", 4),
     ("Diệp", 2), ("Giang", 3), ("Yến", 2), ("Châu", 3), ("Như", 3), ("Tiên", 3), ("Hằng", 2),
     ("Lan", 2), ("Hoa", 1), ("Nhung", 1), ("Duyên", 3), ("Khánh", 2)]
)
# fmt: on

_MALE_GIVEN_CLASSIC = _weighted_names(_MALE_GIVEN_CLASSIC_PAIRS)
_FEMALE_GIVEN_CLASSIC = _weighted_names(_FEMALE_GIVEN_CLASSIC_PAIRS)


def _kinh_pools(male: bool, decade: int) -> tuple[_Weighted[str], _Weighted[str]]:
    """(middle names, given names) of people born in ``decade``, as fashions changed.

    "Văn" and "Thị" were the usual middle names of the older generations and are rarer today;
    some people have two middle syllables, a few none; "modern" given names rise after 1970.
    """
    if male:
        marker, words, none = "Văn", _MALE_MIDDLE_PAIRS, 0.03
        share = (
            0.55 if decade < 1960 else 0.45 if decade < 1980 else 0.25 if decade < 2000 else 0.08
        )
        classic, modern = _MALE_GIVEN_CLASSIC_PAIRS, _MALE_GIVEN_MODERN_PAIRS
    else:
        marker, words, none = "Thị", _FEMALE_MIDDLE_PAIRS, 0.02
        share = 0.8 if decade < 1960 else 0.65 if decade < 1980 else 0.4 if decade < 2000 else 0.12
        classic, modern = _FEMALE_GIVEN_CLASSIC_PAIRS, _FEMALE_GIVEN_MODERN_PAIRS
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
        _Weighted((names.normalize(m) if m else "", w) for m, w in middles),
        _weighted_names(list(given.items())),
    )


_DECADES = range(FIRST_BIRTH_YEAR, TODAY.year + 1, 10)
_KINH_POOLS = {
    (male, decade): _kinh_pools(male, decade) for male in (True, False) for decade in _DECADES
}

_HMONG_SURNAMES = _even(_names("Giàng,Sùng,Vàng,Lù,Thào,Hầu,Mùa,Ly,Lầu,Vừ,Tráng,Hạng,Chang"))
_HMONG_MALE = _even(_names("Páo,Pó,Sử,Chứ,Dế,Lử,Say,Tủa,Mang,Chá,Vư,Dình,Sình,Pao,Chư,Lồng,Cở"))
_HMONG_FEMALE = _even(_names("Dợ,Mỷ,Dính,Súa,Pà,Sua,Mai,Chi,Dua,Mo,Chía,Sinh,Dung,Xúa"))
# fmt: off
_KHMER_SURNAMES = _weighted_names(
    [("Thạch", 25), ("Sơn", 15), ("Danh", 15), ("Kim", 10), ("Lâm", 6), ("Châu", 6), ("Lý", 5),
     ("Trần", 4), ("Huỳnh", 3), ("Dương", 3), ("Tăng", 2)]
)
_KHMER_MALE = _even(
    _names("Sa Rinh,Sô Phăl,Sóc Kha,Chanh Đa,Sa Vong,Phol,Sang,Út,Rinh,Sa Ren,Kol,Mon")
)
_KHMER_FEMALE = _even(_names("Sa Phia,Sô Phia,Ny,Sa Ry,Chanh Thy,Sóc Thi,Srey Mom,Sa Ra,Nang,Phal"))
# Ê-đê, Gia-rai, Ra-glai and Chu-ru are matrilineal: children take their mother's clan name,
# which comes last; "Y" (men) and "H'" (women) come first.
_MATRI_CLANS: dict[str, _Weighted[str]] = {
    "12": _even(_names("Niê,Êban,Mlô,Byă,Adrơng,Ayun,Knul,Hwing,Ksơr")),
    "10": _even(_names("Ksor,Siu,Rơ Châm,Rah Lan,Nay,Kpă,Rơ Mah,Puih")),
    "21": _even(_names("Chamaléa,Pinăng,Katơr,Mang")),
    "36": _even(_names("Ya,Touneh,Ma,Bơnahria")),
}
_MATRI_MALE = _even(_names("Moan,Ngông,Bih,Blô,Đhăm,Khuê,Tlang,Lơi,Jut,Hin,Kông,Nuê,Siêng,Yơn"))
_MATRI_FEMALE = _even(
    "H'" + g for g in _names("Hen,Bia,Liên,Mai,Đam,Nhu,Bleo,Hiu,Yuen,Ni,Kim,Blin,Dju,Lia")
)
_HIGHLAND_SURNAMES = _weighted_names(
    [("Đinh", 25), ("A", 10), ("Y", 6), ("Hồ", 12), ("Điểu", 8), ("Alăng", 3), ("Pơloong", 2),
     ("Kpă", 3), ("Bh'riu", 2), ("Nguyễn", 5), ("Hoàng", 3)]
)
_HIGHLAND_GIVEN = _even(
    _names("Hlao,Khen,Thút,Blông,Brih,Hmưi,Rin,Nhơn,Ky,Pơ,Đrông,Ưng,Bút,Pher,Glông")
)
_NORTH_MINORITY_SURNAMES = _weighted_names(
    [("Hoàng", 15), ("Nông", 12), ("Lương", 6), ("Ma", 5), ("Bế", 4), ("Lục", 3), ("Hà", 4),
     ("Nguyễn", 8), ("Triệu", 5), ("Lâm", 3), ("Đàm", 3), ("Vi", 3), ("Chu", 2), ("Lý", 4),
     ("Mã", 2), ("Bàn", 4), ("Đặng", 4), ("Chảo", 2), ("Phùng", 2), ("Tẩn", 2)]
)
_THAI_SURNAMES = _weighted_names(
    [("Lò", 15), ("Lường", 10), ("Cầm", 10), ("Quàng", 8), ("Hà", 10), ("Vi", 6), ("Lữ", 4),
     ("Tòng", 5), ("Điêu", 4), ("Lê", 3), ("Lộc", 3), ("Sầm", 3), ("Lang", 3), ("Mè", 2)]
)
_MUONG_SURNAMES = _weighted_names(
    [("Bùi", 30), ("Đinh", 20), ("Quách", 10), ("Hà", 10), ("Xa", 5), ("Nguyễn", 8), ("Phạm", 5),
     ("Trương", 4), ("Cao", 3), ("Hoàng", 3)]
)
_HOA_SURNAMES = _weighted_names(
    [("Lý", 12), ("Trương", 10), ("Quách", 6), ("Lâm", 10), ("Hứa", 6), ("Mã", 5), ("Châu", 6),
     ("Tăng", 5), ("Lưu", 6), ("Diệp", 4), ("Hồ", 4), ("Trần", 8), ("Huỳnh", 6), ("Lương", 4),
     ("Vương", 4), ("Tạ", 3), ("Thái", 3), ("La", 3)]
)
_CHAM_SURNAMES = _weighted_names(
    [("Đàng", 15), ("Thuận", 8), ("Thiên", 6), ("Quảng", 10), ("Châu", 6), ("Bá", 6), ("Lưu", 5),
     ("Trượng", 5), ("Thổ", 4), ("Phú", 4), ("Nguyễn", 5), ("Hán", 3), ("Lộ", 3), ("Tài", 3)]
)

# Foreign spouses (not citizens, so not in the file): nationality and name.
_FOREIGN_SPOUSES = _Weighted(
    [(("KR", "Kim Min Jun"), 3.0), (("KR", "Lee Seung Ho"), 2.0), (("KR", "Park Ji Hoon"), 2.0),
     (("TW", "Chen Wei Ming"), 2.0), (("TW", "Lin Chih Hao"), 1.5), (("CN", "Wang Jian"), 1.5),
     (("CN", "Li Wei"), 1.0), (("JP", "Tanaka Hiroshi"), 0.8), (("US", "John Smith"), 0.5)]
)
# fmt: on


@dataclass(frozen=True, slots=True)
class _Style:
    """How a group forms names: surname pool, middle names, given names, clan last."""

    kind: Literal["kinh", "hmong", "khmer", "matri", "highland"]
    surnames: _Weighted[str]


def _styles() -> dict[str, _Style]:
    north_minority = _Style("kinh", _NORTH_MINORITY_SURNAMES)
    thai = _Style("kinh", _THAI_SURNAMES)
    highland = _Style("highland", _HIGHLAND_SURNAMES)
    styles: dict[str, _Style] = {}
    for code in ethnic_groups():
        styles[code] = north_minority
    for code in ("29", "33", "34", "35", "37", "39", "41", "42", "45", "48", "50", "03"):
        styles[code] = thai
    for code in ("13", "14", "16", "19", "20", "22", "23", "26", "27", "28", "30", "31", "52"):
        styles[code] = highland
    for code in ("53", "54", "32"):
        styles[code] = highland
    styles["06"] = styles["44"] = _Style("kinh", _MUONG_SURNAMES)
    styles["04"] = _Style("kinh", _HOA_SURNAMES)
    styles["17"] = _Style("kinh", _CHAM_SURNAMES)
    styles["08"] = _Style("hmong", _HMONG_SURNAMES)
    styles["05"] = _Style("khmer", _KHMER_SURNAMES)
    for code, clans in _MATRI_CLANS.items():
        styles[code] = _Style("matri", clans)
    return styles


_STYLES = _styles()
_KINH_STYLES = {region: _Style("kinh", _kinh_surnames(region)) for region in _SPLITS}


# ----------------------------------------------------------------------------- households


@dataclass(eq=False, slots=True)
class _Member:
    """One person of the household being built (``emit=False``: named but not in the file)."""

    gender: str
    birth: int  # date ordinal
    father: _Member | None = None
    mother: _Member | None = None
    spouse: _Member | None = None
    death: int = 0  # date ordinal; 0 while alive
    marital: str = "single"  # when there is no spouse link
    emit: bool = True
    representative: _Member | None = None
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
class _Household:
    ident: str
    province: str
    ethnicity: str
    style: _Style
    religion: str
    place: _Place
    members: list[_Member] = field(default_factory=list)


# fmt: off
_KINDS = _Weighted(
    [("single", 9.0), ("couple", 11.0), ("nuclear", 47.0), ("single_parent", 6.0),
     ("three_generation", 14.0), ("extended", 9.0), ("skipped_generation", 4.0)]
)
# Age bands (years) of the mother in a nuclear family, with weights.
_MOTHER_AGES = _Weighted(
    [((20, 25), 4.0), ((25, 30), 8.0), ((30, 35), 11.0), ((35, 40), 13.0), ((40, 45), 13.0),
     ((45, 50), 11.0), ((50, 55), 8.0), ((55, 62), 6.0)]
)
# fmt: on
# Children per mother by the mother's generation (fertility fell to about 2 by the 2000s).
_SIBLINGS_1970 = _Weighted([(1, 15.0), (2, 55.0), (3, 25.0), (4, 5.0)])
_SIBLINGS_1985 = _Weighted([(1, 20.0), (2, 55.0), (3, 23.0), (4, 2.0)])
# Age bands (years) of people over 60 living alone or as a couple.
_ELDER_AGES = _Weighted([((60, 70), 40.0), ((70, 80), 34.0), ((80, 90), 20.0), ((90, 101), 6.0)])


def _survives(age_years: float) -> float:
    """Probability of being alive at ``age_years`` (a Weibull curve close to Vietnam's)."""
    return math.exp(-((age_years / 86.0) ** 8))


class _Serials:
    """The numbers handed out under one prefix: the k-th has serial (a * k + b) mod 10^6.

    With gcd(a, 10^6) = 1 the map k -> serial is a permutation of 0..999999, so the numbers of a
    prefix never repeat and look unordered, and a run keeps only this per prefix (at most
    63 provinces x 105 years x 2 genders of them), not the numbers it has issued.
    """

    __slots__ = ("a", "b", "k", "prefix")

    def __init__(self, prefix: str, a: int, b: int) -> None:
        self.prefix, self.a, self.b, self.k = prefix, a, b, 0


class _Generator:
    """The state of one generation run: the rng, the ID-number counters, the household counter."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - test data, reproducible by design
        self.prefixes: dict[tuple[str, int, str], _Serials] = {}
        rng = self.rng
        self.old_a = _coprime(rng.randrange(1, _OLD_SERIALS), _OLD_SERIALS)
        self.old_b = rng.randrange(_OLD_SERIALS)
        self.old_k = 0
        self.households = 0
        self.codes = tuple(province_table())

    # ------------------------------------------------------------------ numbers

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
            a = _coprime(self.rng.randrange(1, _SERIALS), _SERIALS)
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

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rng.random()

    def born_aged(self, lo: float, hi: float) -> int:
        """A birth date for someone now aged between ``lo`` and ``hi`` years."""
        birth = _TODAY - int(self.uniform(lo, hi) * _YEAR) - 1
        return max(birth, _FIRST)

    def sex_at_birth(self, birth: int) -> str:
        # The sex ratio at birth rose to about 111 boys per 100 girls from the mid-2000s.
        threshold = 0.525 if birth >= _SKEWED_BIRTHS_FROM else 0.51
        return "male" if self.rng.random() < threshold else "female"

    def age(self, birth: int) -> float:
        return (_TODAY - birth) / _YEAR

    def maybe_dies(self, member: _Member, *, after: int = 0, record: float = 1.0) -> None:
        """Decide whether ``member`` has died (after ``after``); the record is kept or not."""
        rng = self.rng
        if rng.random() < _survives(self.age(member.birth)):
            return
        lo = max(member.birth + int(45 * _YEAR), after + 1)
        hi = min(_TODAY - 1, member.birth + int(104 * _YEAR))
        if lo >= hi:
            return  # cannot have died yet: alive
        member.death = _between(rng, lo, hi)
        if rng.random() >= record:
            member.emit = False  # a spouse or child still names them, without a number

    # ------------------------------------------------------------------ household plans

    def couple(self, wife_birth: int) -> tuple[_Member, _Member]:
        """A husband for a wife born on ``wife_birth``, married to her."""
        gap = self.rng.triangular(-3.0, 12.0, 2.5)
        husband_birth = max(_FIRST, wife_birth - int(gap * _YEAR))
        husband_birth = min(husband_birth, _TODAY - int(20.5 * _YEAR))
        wife = _Member("female", wife_birth)
        husband = _Member("male", husband_birth)
        wife.spouse, husband.spouse = husband, wife
        return husband, wife

    def children(
        self, father: _Member | None, mother: _Member, *, at_home: bool = True
    ) -> list[_Member]:
        """The children of ``mother`` (and ``father``) who live with them now."""
        rng = self.rng
        year = date.fromordinal(mother.birth).year
        if year < 1955:
            count, first = _between(rng, 3, 7), self.uniform(18.5, 25.0)
        elif year < 1970:
            count, first = _between(rng, 2, 5), self.uniform(19.0, 26.0)
        elif year < 1985:
            count, first = _SIBLINGS_1970.pick(rng), self.uniform(20, 28)
        else:
            count, first = _SIBLINGS_1985.pick(rng), self.uniform(21, 31)
        kids: list[_Member] = []
        birth = mother.birth + int(first * _YEAR)
        if father is not None:
            birth = max(birth, father.birth + int(19 * _YEAR))
        last = mother.birth + int(44 * _YEAR)
        for _ in range(count):
            if birth >= _TODAY or birth > last:
                break
            if mother.death and birth >= mother.death:
                break
            age = self.age(birth)
            home = 1.0 if age < 18 else 0.85 if age < 23 else 0.5 if age < 28 else 0.2
            if age > 35:
                home = 0.05
            if not at_home or rng.random() < home:
                kids.append(_Member(self.sex_at_birth(birth), birth, father=father, mother=mother))
            birth += int(self.uniform(1.3, 5.5) * _YEAR)
        return kids

    def elders_of(self, child: _Member) -> list[_Member]:
        """The parents of ``child``: those alive or recorded as deceased."""
        mother = _Member("female", max(_FIRST, child.birth - int(self.uniform(19, 38) * _YEAR)))
        husband, wife = self.couple(mother.birth)
        # The father is at least 19 at the birth and the mother at least 18.
        husband.birth = min(husband.birth, child.birth - int(19 * _YEAR))
        child.father, child.mother = husband, wife
        for elder in (husband, wife):
            self.maybe_dies(elder, after=child.birth, record=0.8)
        return [husband, wife]

    def plan(self) -> list[_Member]:
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
            child = _Member("male" if rng.random() < 0.75 else "female", child_birth)
            elders = self.elders_of(child)
            age = self.age(child_birth)
            if child.gender == "male":
                partner = _Member("female", self.born_aged(max(19.0, age - 7), age + 1))
            else:
                partner = _Member("male", self.born_aged(max(20.5, age - 1), age + 7))
            child.spouse, partner.spouse = partner, child
            husband, wife = (child, partner) if child.gender == "male" else (partner, child)
            kids = self.children(husband, wife)
            return [*elders, child, partner, *kids]
        return self.plan_skipped_generation()

    def plan_single(self) -> list[_Member]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            birth = self.born_aged(20, 36)
            person = _Member(self.sex_at_birth(birth), birth)
            if person.gender == "female" and rng.random() < 0.03:
                person.foreign_spouse = _FOREIGN_SPOUSES.pick(rng)
            return [person]
        if roll < 0.6:
            birth = self.born_aged(36, 60)
            person = _Member(self.sex_at_birth(birth), birth)
            person.marital = "divorced" if rng.random() < 0.55 else "single"
            return [person]
        # An elderly widow or widower; the late spouse's record is often still in the file.
        birth = self.born_aged(*_ELDER_AGES.pick(rng))
        person = _Member("female" if rng.random() < 0.72 else "male", birth)
        person.marital = "widowed"
        if rng.random() < 0.8:
            other = "male" if person.gender == "female" else "female"
            late = _Member(other, max(_FIRST, birth - int(self.uniform(-3, 8) * _YEAR)))
            if other == "female":
                late.birth = min(_TODAY - int(19 * _YEAR), birth + int(self.uniform(0, 8) * _YEAR))
            lo = late.birth + int(40 * _YEAR)
            late.death = _between(rng, min(lo, _TODAY - 2), _TODAY - 1)
            late.spouse, person.spouse = person, late
            return [person, late]
        return [person]

    def plan_single_parent(self) -> list[_Member]:
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
            absent.death = _between(
                rng, max(last - 200, absent.birth + int(20 * _YEAR)), _TODAY - 1
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

    def plan_skipped_generation(self) -> list[_Member]:
        """Grandparents raising grandchildren whose parents work elsewhere."""
        rng = self.rng
        father, mother = self.couple(self.born_aged(25, 45))
        father.emit = mother.emit = False
        kids = [k for k in self.children(father, mother, at_home=False) if self.age(k.birth) < 18]
        if not kids:
            birth = max(mother.birth + int(19 * _YEAR), father.birth + int(19 * _YEAR))
            birth = max(birth, self.born_aged(0, 17))
            kids = [_Member(self.sex_at_birth(birth), birth, father=father, mother=mother)]
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

    # ------------------------------------------------------------------ materialising

    def household(self, members: list[_Member]) -> _Household:
        """Place, name and number the people of one household; order them head first."""
        rng = self.rng
        ethnicity = _ETHNICITIES.pick(rng)
        if ethnicity == "01":
            province = _KINH_PROVINCES.pick(rng)
            style = _KINH_STYLES[_region(province)]
        else:
            province = _HOMELANDS[ethnicity].pick(rng)
            style = _STYLES[ethnicity]
        self.households += 1
        household = _Household(
            ident=f"HK{province}{self.households:09d}",
            province=province,
            ethnicity=ethnicity,
            style=style,
            religion=_religion(ethnicity, province).pick(rng),
            place=_place(rng, province),
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

    def name(self, member: _Member, household: _Household) -> None:
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
        member.full_name = self.full_name(style, member.gender, member.year, surname)

    def full_name(self, style: _Style, gender: str, year: int, surname: str) -> str:
        rng = self.rng
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
            given = (_MALE_GIVEN_CLASSIC if male else _FEMALE_GIVEN_CLASSIC).pick(rng)
        return f"{surname} {middle}{given}"

    def number(self, member: _Member, household: _Household) -> None:
        """Birth province and ID number (and the home town, which follows the father)."""
        rng = self.rng
        local = member.father is not None and member.father.emit
        local = local or (member.mother is not None and member.mother.emit)
        stay = 0.95 if local else 0.65 if household.province in _MIGRANT_MAGNETS else 0.9
        province = household.province if rng.random() < stay else _PROVINCES.pick(rng)
        member.id_number, member.province = self.id_number(province, member.year, member.gender)
        member.hometown = self.hometown(member, household)

    def hometown(self, member: _Member, household: _Household) -> str:
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
        return _locality(rng, own if rng.random() < 0.75 else _PROVINCES.pick(rng))

    def rows(self, household: _Household) -> Iterator[dict[str, str]]:
        head = household.members[0]
        for member in household.members:
            yield self.row(member, head, household)

    def row(self, m: _Member, head: _Member, household: _Household) -> dict[str, str]:
        """The import row of ``m``: the household's facts plus the person's own."""
        rng = self.rng
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
        age = (_TODAY - m.birth) / _YEAR

        row = _EMPTY_ROW.copy()
        row["id_number"] = m.id_number
        row["full_name"] = m.full_name
        if year < 1975 and style.kind == "kinh" and random_() < 0.015:
            pool = _MALE_GIVEN_CLASSIC if m.gender == "male" else _FEMALE_GIVEN_CLASSIC
            row["other_names"] = f"{m.surname} {pool.pick(rng)}"
        row["birth_date"] = format_partial_date(birth, precision)
        row["gender"] = m.gender
        row["birth_province"] = m.province
        if m.province == household.province and random_() < 0.7:
            row["birth_place"] = household.place.locality
        elif year < 1975 and random_() < 0.3:
            row["birth_place"] = _LABELS[m.province]
        else:
            row["birth_place"] = _locality(rng, m.province)
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
                row["father_name"] = self.full_name(style, "male", year - 28, surname)
                row["father_nationality"] = "VN"
            if random_() < 0.9:
                surname = m.surname if style.kind == "matri" else style.surnames.pick(rng)
                row["mother_name"] = self.full_name(style, "female", year - 25, surname)
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

        end = _TODAY
        if not alive:
            row["status"] = "deceased"
            row["death_date"] = date.fromordinal(m.death).isoformat()
            end = m.death
        elif m is not head and 18 <= age < 70 and random_() < 0.0008:
            end = _between(rng, max(m.birth + int(18 * _YEAR), _CARDS_FROM), _TODAY - 1)
            row["status"] = "missing"
            row["missing_date"] = date.fromordinal(end).isoformat()
        else:
            row["status"] = "alive"
            current = address
            if 18 <= age < 40 and m is not head and random_() < 0.08:
                # Working in a big city, registered there as a temporary resident.
                city = _MIGRANT_CITIES.pick(rng)
                if city != household.province:
                    current = row["temporary_address"] = _place(rng, city).address
            row["current_address"] = current
        self.card(row, m, birth, end)
        if year < 1990 and random_() < 0.4:
            row["old_id_number"] = self.old_id_number()
        return row

    def card(self, row: dict[str, str], m: _Member, birth: date, end: int) -> None:
        """The 12-digit card, if one was issued before ``end``, valid as the rules say."""
        if end - m.birth < 14 * 365 or end <= _CARDS_FROM:
            return
        rng = self.rng
        if rng.random() >= 0.93:
            return  # not every adult has a card yet
        start = _CARDS_FROM
        if m.birth + 14 * 366 > _CARDS_FROM:
            start = max(start, _anniversary(birth, m.birth, 14))
        age_at_end = _age_on(birth, TODAY if end == _TODAY else date.fromordinal(end))
        for age in reversed(_RENEWAL_AGES):
            if age <= age_at_end:
                # A card that expired before ``end`` would have been renewed since.
                start = max(start, _anniversary(birth, m.birth, age - 2))
                break
        if start >= end:
            return
        if start < _CAMPAIGN_END and end > _CHIP_FROM and rng.random() < 0.7:
            lo, hi = max(start, _CHIP_FROM), min(end, _CAMPAIGN_END)
        else:
            lo, hi = start, end
        issued = _between(rng, lo, hi)
        issued_date = date.fromordinal(issued)
        row["card_number"] = m.id_number
        row["card_issue_date"] = issued_date.isoformat()
        row["card_issue_place"] = next(name for since, name in _ISSUERS if issued >= since)
        age_at_issue = _age_on(birth, issued_date)
        for age in _RENEWAL_AGES:
            if age_at_issue < age - 2:
                expiry = _anniversary(birth, m.birth, age)
                row["card_expiry_date"] = date.fromordinal(expiry).isoformat()
                break


_EMPTY_ROW = dict.fromkeys(COLUMNS, "")
_RELATIVE_KEYS = tuple(
    (f"{who}_id_number", f"{who}_name", f"{who}_nationality")
    for who in ("father", "mother", "spouse")
)
_MIGRANT_CITIES = _Weighted([("079", 45.0), ("001", 25.0), ("074", 18.0), ("075", 12.0)])
_MEKONG_HOA_HAO = frozenset({"086", "087", "089", "091", "092", "093"})
_PROTESTANT_LEANING = frozenset({"08", "10", "12", "13", "14", "16", "20"})


def _religion(ethnicity: str, province: str) -> _Weighted[str]:
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
    return _RELIGIONS[_region(province)]


def _same(a: _Member | None, b: _Member | None) -> bool:
    return a is not None and a is b


def _relationship(m: _Member, head: _Member) -> str:
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


def _marital(m: _Member) -> str:
    spouse = m.spouse
    if spouse is not None:
        if spouse.death and (m.death == 0 or spouse.death < m.death):
            return "widowed"
        return "married"
    if m.foreign_spouse is not None:
        return "married"
    return m.marital


def _anniversary(birth: date, ordinal: int, years: int) -> int:
    """The ordinal of the day someone born on ``birth`` (``ordinal``) turns ``years``.

    Integer arithmetic instead of ``date.replace`` (this runs several times per row); someone
    born on 29 February has the birthday on 28 February in common years.
    """
    year = birth.year
    if birth.month == 2 and birth.day == 29:
        return date(year + years, 2, 29 if _is_leap(year + years) else 28).toordinal()
    # The 29 Februaries crossed: those of the years after the birth when born after February.
    first, last = (year, year + years) if birth.month > 2 else (year - 1, year + years - 1)
    return ordinal + 365 * years + _leap_days(last) - _leap_days(first)


def _age_on(birth: date, day: date) -> int:
    """Age in whole years on ``day`` (agrees with :func:`_anniversary` on 29 February)."""
    month, dom = birth.month, birth.day
    if month == 2 and dom == 29 and not _is_leap(day.year):
        dom = 28
    return day.year - birth.year - ((day.month, day.day) < (month, dom))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _leap_days(year: int) -> int:
    """The number of leap years in 1..``year``."""
    return year // 4 - year // 100 + year // 400


def _coprime(value: int, modulus: int) -> int:
    """The first value at or after ``value`` that is coprime with ``modulus`` (wrapping)."""
    while math.gcd(value, modulus) != 1:
        value = value % (modulus - 1) + 1
    return value


def generate(n: int, *, seed: int) -> Iterator[dict[str, str]]:
    """``n`` synthetic records keyed by ``COLUMNS`` ("" when absent), the same for the same seed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative integer")
    return _rows(n, seed)


def _rows(n: int, seed: int) -> Iterator[dict[str, str]]:
    generator = _Generator(seed)
    produced = 0
    while produced < n:
        remaining = n - produced
        for _ in range(20):
            members = generator.plan()
            if sum(1 for m in members if m.emit) <= remaining:
                break
        else:  # the last rows: a household small enough to fit
            birth = generator.born_aged(20, 36)
            members = [_Member(generator.sex_at_birth(birth), birth)]
        household = generator.household(members)
        for row in generator.rows(household):
            yield row
            produced += 1


def write(n: int, *, seed: int, path: str | os.PathLike[str], fmt: Format) -> int:
    """Write ``generate(n, seed=seed)`` to ``path`` as CSV (with a header) or NDJSON; the row count.

    The file appears complete or not at all: rows go to ``<path>.partial``, renamed at the end.
    """
    if fmt not in ("csv", "ndjson"):
        raise ValueError("fmt must be 'csv' or 'ndjson'")
    rows = generate(n, seed=seed)
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="", buffering=1 << 20) as out:
            if fmt == "csv":
                writer = csv.writer(out)
                writer.writerow(COLUMNS)
                for row in rows:
                    writer.writerow(list(row.values()))  # a list is faster than a view
                    count += 1
            else:
                encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
                for row in rows:
                    out.write(encode(row) + "\n")
                    count += 1
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count
