"""The packaged reference tables load, are complete, immutable and versioned."""

import csv
import dataclasses
import io
import re
import unicodedata
from importlib import resources
from types import MappingProxyType

import pytest

from registry import refdata
from registry.refdata import (
    CIRCULAR_07_2016,
    ID_NUMBER_PROVINCES,
    ProvinceTable,
    ethnic_groups,
    province_table,
    province_table_versions,
)


def raw_codes(filename: str) -> list[str]:
    """The code column of a packaged CSV exactly as shipped (duplicates kept)."""
    text = resources.files("registry").joinpath("data", filename).read_text(encoding="utf-8")
    return [row["code"] for row in csv.DictReader(io.StringIO(text, newline=""))]


def test_there_are_63_provinces() -> None:
    assert len(province_table()) == 63
    assert len(raw_codes("vn_province_codes.csv")) == 63


def test_province_codes_are_unique_three_digit_strings() -> None:
    codes = raw_codes("vn_province_codes.csv")
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[0-9]{3}", code) for code in codes)
    assert sorted(province_table()) == sorted(codes)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("001", "Hà Nội"),
        ("031", "Hải Phòng"),
        ("048", "Đà Nẵng"),
        ("077", "Bà Rịa - Vũng Tàu"),
        ("079", "Thành phố Hồ Chí Minh"),
        ("092", "Cần Thơ"),
        ("096", "Cà Mau"),
    ],
)
def test_known_provinces(code: str, name: str) -> None:
    assert province_table().name(code) == name
    assert code in province_table()


@pytest.mark.parametrize("code", ["000", "003", "097", "999", "1", "0001", "", " 001"])
def test_codes_outside_the_table_have_no_name(code: str) -> None:
    assert province_table().name(code) is None
    assert code not in province_table()


def test_the_province_table_is_versioned() -> None:
    table = province_table()
    assert table.version == CIRCULAR_07_2016 == "Circular 07/2016/TT-BCA Appendix 1"
    assert ID_NUMBER_PROVINCES in province_table_versions()
    assert province_table(CIRCULAR_07_2016) is table
    with pytest.raises(LookupError):
        province_table("Decision 2025 (not shipped)")


def test_a_later_table_is_just_another_value() -> None:
    later = ProvinceTable(version="later", names=MappingProxyType({"001": "Hà Nội"}))
    assert "001" in later
    assert "079" not in later
    assert later != province_table()


def test_there_are_54_ethnic_groups_with_unique_two_digit_codes() -> None:
    codes = raw_codes("vn_ethnic_groups.csv")
    assert len(ethnic_groups()) == 54 == len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[0-9]{2}", code) for code in codes)
    assert sorted(ethnic_groups()) == [f"{i:02d}" for i in range(1, 55)]


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "Kinh"),
        ("02", "Tày"),
        ("04", "Hoa"),
        ("05", "Khơ-me"),
        ("53", "Ơ Đu"),
        ("54", "Rơ-măm"),
    ],
)
def test_known_ethnic_groups(code: str, name: str) -> None:
    assert ethnic_groups()[code] == name


def test_names_are_unique_trimmed_nfc() -> None:
    for table in (province_table().names, ethnic_groups()):
        names = list(table.values())
        assert len(set(names)) == len(names)
        for name in names:
            assert name == name.strip()
            assert unicodedata.is_normalized("NFC", name)


def test_tables_are_cached_and_immutable() -> None:
    assert ethnic_groups() is ethnic_groups()
    assert province_table() is province_table()
    with pytest.raises(TypeError):
        province_table().names["001"] = "X"  # type: ignore[index]
    with pytest.raises(TypeError):
        ethnic_groups()["01"] = "X"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        province_table().version = "other"  # type: ignore[misc]


def test_loading_refuses_a_malformed_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader is the only gate between a hand-edited CSV and the rules: it must fail loudly.
    monkeypatch.setattr(refdata, "_ETHNIC_GROUPS_FILE", "vn_province_codes.csv")
    refdata.ethnic_groups.cache_clear()
    try:
        with pytest.raises(ValueError, match="malformed code"):
            refdata.ethnic_groups()
    finally:
        monkeypatch.undo()
        refdata.ethnic_groups.cache_clear()
    assert len(refdata.ethnic_groups()) == 54
