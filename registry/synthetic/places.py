"""Where people live and were born: provinces by population, addresses, communes, home towns."""

from __future__ import annotations

import random
from dataclasses import dataclass

from registry.refdata import province_table
from registry.synthetic.draws import Weighted, between, pick
from registry.synthetic.tables import place_names, provinces

__all__ = [
    "KINH_PROVINCES",
    "LABELS",
    "MIGRANT_CITIES",
    "MIGRANT_MAGNETS",
    "POPULATION",
    "PROVINCES",
    "Place",
    "locality",
    "place",
    "region",
]

POPULATION = {province.code: province.population for province in provinces()}
_URBAN_SHARE = {province.code: province.urban_share for province in provinces()}
_CENTRAL_CITIES = frozenset({"001", "031", "048", "079", "092"})
MIGRANT_MAGNETS = frozenset({"001", "079", "074", "075", "077", "027"})
# Where the young go to work, registered there as temporary residents.
MIGRANT_CITIES = Weighted([("079", 45.0), ("001", 25.0), ("074", 18.0), ("075", 12.0)])
_MOUNTAIN = frozenset({"002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "020"})
PROVINCES = Weighted(POPULATION.items())
KINH_PROVINCES = Weighted(
    (province.code, province.population * province.kinh_share) for province in provinces()
)


def region(code: str) -> str:
    return "north" if code < "038" else "central" if code < "070" else "south"


def _province_label(code: str) -> str:
    name = province_table().name(code) or code
    if name.startswith("Thành phố"):
        return name
    return ("Thành phố " if code in _CENTRAL_CITIES else "Tỉnh ") + name


LABELS = {code: _province_label(code) for code in POPULATION}
_COMMUNES = place_names("communes")
_HAMLETS_MOUNTAIN = place_names("mountain_hamlets")
_STREETS = place_names("streets")
_DISTRICTS_URBAN = {code: place_names(f"urban_districts_{code}") for code in ("001", "079")}
_DISTRICTS_RURAL = {code: place_names(f"rural_districts_{code}") for code in ("001", "079")}


@dataclass(frozen=True, slots=True)
class Place:
    address: str  # house, street or hamlet, commune, district, province
    locality: str  # commune, district, province (a birth place, a home town)


def place(rng: random.Random, code: str) -> Place:
    """A permanent address in province ``code``, urban or rural as the province is."""
    label = LABELS[code]
    if rng.random() < _URBAN_SHARE[code]:
        districts = _DISTRICTS_URBAN.get(code)
        if districts is not None:
            district = pick(rng, districts)
        elif code in _CENTRAL_CITIES:
            district = "Quận " + pick(rng, _COMMUNES)
        else:
            district = ("Thành phố " if rng.random() < 0.7 else "Thị xã ") + pick(rng, _COMMUNES)
        if code == "079" and rng.random() < 0.5:
            ward = f"Phường {between(rng, 1, 28)}"
        else:
            ward = "Phường " + pick(rng, _COMMUNES)
        locality = f"{ward}, {district}, {label}"
        number = between(rng, 1, 400)
        street = pick(rng, _STREETS)
        if code >= "070":  # the south says "hẻm" for an alley, the north "ngõ"
            lane = f"Hẻm {between(rng, 1, 300)}, " if rng.random() < 0.6 else ""
            return Place(f"Số {number}, {lane}Đường {street}, {locality}", locality)
        lane = f"Ngõ {between(rng, 1, 300)}, " if rng.random() < 0.6 else ""
        kind = "Phố" if code == "001" else "Đường"
        return Place(f"Số {number}, {lane}{kind} {street}, {locality}", locality)
    locality = _rural_locality(rng, code, label)
    if code in _MOUNTAIN and rng.random() < 0.6:
        hamlet = "Bản " + pick(rng, _HAMLETS_MOUNTAIN)
    elif code >= "070":
        hamlet = "Ấp " + pick(rng, _COMMUNES)
    else:
        hamlet = f"{'Thôn' if rng.random() < 0.6 else 'Xóm'} {between(rng, 1, 16)}"
    return Place(f"{hamlet}, {locality}", locality)


def _rural_locality(rng: random.Random, code: str, label: str) -> str:
    districts = _DISTRICTS_RURAL.get(code)
    district = pick(rng, districts) if districts is not None else "Huyện " + pick(rng, _COMMUNES)
    return f"Xã {pick(rng, _COMMUNES)}, {district}, {label}"


def locality(rng: random.Random, code: str) -> str:
    """A commune-level place in province ``code`` (a birth place or home town elsewhere)."""
    if rng.random() < _URBAN_SHARE[code]:
        return place(rng, code).locality
    return _rural_locality(rng, code, LABELS[code])
