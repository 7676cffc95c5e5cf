"""Rows for bulk-import tests: the importing official, a valid person by index, a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from core.auth import Principal
from registry import idnumber
from registry.record import COLUMNS

ACTOR = Principal("official", "clerk-42")
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Lan", "Mai", "Nam", "Phúc", "Thảo"]


def person(i: int) -> dict[str, str]:
    gender = "male" if i % 2 else "female"
    year = 1950 + i % 60
    number = idnumber.compose(
        idnumber.prefix_for(province_code="001", birth_year=year, gender=gender), 1000 + i
    )
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        id_number=number,
        full_name=f"Nguyễn {'Văn' if gender == 'male' else 'Thị'} {GIVEN[i % 10]}",
        birth_date=f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        gender=gender,
        birth_province="001",
        ethnicity="01",
        nationality="VN",
        marital_status="single",
        status="alive",
        permanent_address=f"Số {i}, Phố Huế, Hà Nội",
    )
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
