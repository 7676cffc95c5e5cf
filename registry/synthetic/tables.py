"""The generator's statistical tables, read once from ``registry/synthetic/data/*.csv``.

What each file holds and where its figures come from: ``registry/synthetic/data/README.md``.
A file that does not have the expected header, or a person's name not in its stored form,
fails the import rather than produce a population from a broken table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from registry import names

__all__ = ["EthnicGroup", "Province", "ethnic_groups", "person_names", "place_names", "provinces"]


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    population: float  # thousands
    kinh_share: float
    urban_share: float


@dataclass(frozen=True, slots=True)
class EthnicGroup:
    code: str
    share: float  # percent of the population
    homelands: tuple[str, ...]  # province codes where the group mostly lives; () for everywhere


def _rows(filename: str, header: list[str]) -> list[list[str]]:
    text = resources.files("registry.synthetic").joinpath("data", filename).read_text("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or rows[0] != header:
        raise ValueError(f"{filename}: the header must be {','.join(header)}")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{filename}:{line}: expected {len(header)} columns")
    return rows[1:]


def _pools(rows: list[list[str]]) -> Mapping[str, tuple[list[str], ...]]:
    """Rows grouped by their first column (the pool), in file order, without that column."""
    pools: dict[str, list[list[str]]] = {}
    for pool, *rest in rows:
        pools.setdefault(pool, []).append(rest)
    return MappingProxyType({pool: tuple(rest) for pool, rest in pools.items()})


_PROVINCES = tuple(
    Province(code, float(population), float(kinh), float(urban))
    for code, population, kinh, urban in _rows(
        "provinces.csv", ["code", "population_thousands", "kinh_share", "urban_share"]
    )
)
_ETHNIC_GROUPS = tuple(
    EthnicGroup(code, float(share), tuple(homelands.split()))
    for code, share, homelands in _rows(
        "ethnic_groups.csv", ["code", "population_percent", "homelands"]
    )
)
_PERSON_NAMES = _pools(_rows("person_names.csv", ["pool", "name", "weight"]))
_PLACE_NAMES = _pools(_rows("place_names.csv", ["pool", "name"]))


def provinces() -> tuple[Province, ...]:
    """Every province, in the order of its code."""
    return _PROVINCES


def ethnic_groups() -> tuple[EthnicGroup, ...]:
    """Every ethnic group, in the order of its code."""
    return _ETHNIC_GROUPS


def person_names(pool: str) -> list[tuple[str, float]]:
    """The names of ``pool`` (surnames, middle or given names of a group) and their weights."""
    pairs = [(name, float(weight)) for name, weight in _PERSON_NAMES[pool]]
    for name, _ in pairs:
        if names.normalize(name) != name:
            raise ValueError(f"person_names.csv: {name!r} ({pool}) is not in its stored form")
    return pairs


def place_names(pool: str) -> tuple[str, ...]:
    """The names of ``pool`` (communes, streets, a city's districts...), in file order."""
    return tuple(name for (name,) in _PLACE_NAMES[pool])
