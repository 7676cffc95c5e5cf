"""Bulk import: validated like the API, idempotent, resumable, audited per batch."""

from __future__ import annotations

import csv
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from core.db import Database
from core.settings import Settings
from registry import repository as registry_repo
from registry.app import create_app
from registry.bulk import reader
from registry.bulk import repository as bulk_repo
from registry.bulk.reader import FileRefused
from registry.bulk.service import ImportReport, import_file
from registry.cli import app as cli_app
from registry.reads import state_at
from registry.record import COLUMNS
from tests.faults import fail_audit_inserts
from tests.http import asgi_client
from tests.registry.import_rows import (
    ACTOR,
    person,
    write_csv,
)

BAD_ROWS = [
    {"full_name": "Nguyễn Văn 7"},  # a digit in a name
    {"birth_date": "1990-02-30"},  # no such day
    {"gender": "unknown"},
    {"birth_province": "999"},
    {"id_number": "0012"},  # too short
]


def population(n: int = 50) -> list[dict[str, str]]:
    """n good rows with a bad row after every tenth, so batches mix good and bad."""
    rows: list[dict[str, str]] = []
    for i in range(n):
        rows.append(person(i))
        if i % 10 == 9:
            rows.append({**person(1000 + i), **BAD_ROWS[(i // 10) % len(BAD_ROWS)]})
    return rows


async def count(database: Database, sql: str) -> int:
    async with database.unit_of_work() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def fetch(database: Database, sql: str) -> list[tuple[Any, ...]]:
    async with database.unit_of_work() as session:
        return [tuple(row) for row in await session.execute(text(sql))]


async def imported_population(database: Database, tmp_path: Path) -> ImportReport:
    """The population (good rows and a bad one after every tenth) imported in batches of 20."""
    path = write_csv(tmp_path / "pop.csv", population())
    return await import_file(database, path, actor=ACTOR, batch_size=20)


async def test_import_loads_valid_rows_and_reports_the_rest(
    database: Database, tmp_path: Path
) -> None:
    report = await imported_population(database, tmp_path)
    assert (report.rows, report.loaded, report.rejected, report.skipped) == (55, 50, 5, 0)
    assert await count(database, "SELECT count(*) FROM citizen") == 50


async def test_imported_records_are_version_one_of_their_run_without_version_rows(
    database: Database, tmp_path: Path
) -> None:
    await imported_population(database, tmp_path)
    # Every record names this run, which is its version 1; none has a version row.
    assert await count(database, "SELECT count(*) FROM citizen_version") == 0
    assert await count(database, "SELECT count(*) FROM import_run") == 1
    created = (
        "SELECT count(*) FROM citizen WHERE version = 1 "
        "AND import_run_id = (SELECT id FROM import_run)"
    )
    assert await count(database, created) == 50


async def test_import_rejects_name_each_row_and_field_without_quoting_the_value(
    database: Database, tmp_path: Path
) -> None:
    report = await imported_population(database, tmp_path)
    with report.reject_path.open(newline="") as handle:  # type: ignore[union-attr]
        rejects = list(csv.DictReader(handle))
    by_row: dict[int, set[str]] = {}
    for r in rejects:
        by_row.setdefault(int(r["row"]), set()).add(r["field"])
    assert by_row == {
        11: {"full_name"},
        22: {"birth_date"},
        33: {"gender"},
        44: {"birth_province"},  # not a province code, and not the one in the ID number
        55: {"id_number"},
    }
    # Reasons explain without quoting the value (it is personal data).
    assert all("Nguyễn" not in r["reason"] for r in rejects)


async def test_import_records_each_batch_with_the_files_digest(
    database: Database, tmp_path: Path
) -> None:
    report = await imported_population(database, tmp_path)
    async with database.unit_of_work() as session:
        events = (
            await session.execute(
                text("SELECT detail FROM audit_event WHERE action = 'registry.import_batch'")
            )
        ).scalars()
        details = [json.loads(d) for d in events]
    assert [d["loaded"] for d in details] == [19, 18, 13]
    assert {d["file_digest"] for d in details} == {report.file_digest}


async def test_an_imported_name_is_stored_normalised_and_folded(
    database: Database, tmp_path: Path
) -> None:
    await imported_population(database, tmp_path)
    async with database.unit_of_work() as session:
        stored = (
            await session.execute(
                text("SELECT * FROM citizen WHERE id_number = :n"), {"n": person(3)["id_number"]}
            )
        ).one()
    assert stored.full_name == "Nguyễn Văn Dũng"
    assert stored.name_folded == "nguyen van dung"
    assert stored.birth_date_precision == "day"


async def test_rerunning_adds_nothing(database: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pop.csv", population(30))
    first = await import_file(database, path, actor=ACTOR, batch_size=7)
    again = await import_file(database, path, actor=ACTOR, batch_size=7)
    assert first.loaded == 30
    assert again.already_done
    assert await count(database, "SELECT count(*) FROM citizen") == 30
    # A different file holding the same people adds nothing either (no duplicates).
    copy = write_csv(tmp_path / "copy.csv", [person(i) for i in range(30)])
    other = await import_file(database, copy, actor=ACTOR, batch_size=7)
    assert (other.loaded, other.skipped) == (0, 30)
    assert await count(database, "SELECT count(*) FROM citizen") == 30


class Killed(Exception):
    pass


SECONDARY = (
    "ix_citizen_household_id",
    "ix_citizen_name_folded_birth_date",
    "ix_citizen_old_id_number",
    "fk_citizen_replaced_by_citizen",
)


async def missing(database: Database) -> list[str]:
    async with database.unit_of_work() as session:
        return await bulk_repo.missing_deferred(session)


@pytest.mark.postgresql_only
async def test_an_initial_load_builds_the_secondary_indexes_once_at_its_end(
    database: Database, tmp_path: Path
) -> None:
    first = await import_file(
        database, write_csv(tmp_path / "a.csv", population(40)), actor=ACTOR, batch_size=20
    )
    assert first.deferred_built == SECONDARY
    assert await missing(database) == []
    async with database.unit_of_work() as session:
        definitions = await session.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
            {"name": "ix_citizen_name_folded_birth_date"},
        )
        assert "(name_folded, birth_date)" in definitions.scalar_one()
    # A table that has records keeps its indexes through a load.
    more = write_csv(tmp_path / "b.csv", [person(i) for i in range(100, 130)])
    second = await import_file(database, more, actor=ACTOR, batch_size=10)
    assert second.loaded == 30 and second.deferred_built == ()


@pytest.mark.postgresql_only
async def test_the_replaced_by_key_comes_back_checked_and_enforced(
    database: Database, tmp_path: Path
) -> None:
    """The key an initial load drops is added again NOT VALID, then validated: every new row is
    checked from the first step on, a run stopped between the steps leaves the validation to the
    next, and a row that breaks the key makes the validation fail without dropping the key."""
    from sqlalchemy.exc import IntegrityError

    key = "fk_citizen_replaced_by_citizen"
    await import_file(database, write_csv(tmp_path / "a.csv", population(10)), actor=ACTOR)
    assert await missing(database) == []
    bogus = (
        "UPDATE citizen SET replaced_by = '001099999999' "
        "WHERE id_number = (SELECT min(id_number) FROM citizen)"
    )
    with pytest.raises(IntegrityError):
        async with database.unit_of_work() as session:
            await session.execute(text(bogus))

    # Stopped between the two steps: added, not validated.
    async with database.unit_of_work() as session:
        await session.execute(text(f"ALTER TABLE citizen DROP CONSTRAINT {key}"))
        await session.execute(
            text(
                f"ALTER TABLE citizen ADD CONSTRAINT {key} FOREIGN KEY (replaced_by) "
                "REFERENCES citizen (id_number) NOT VALID"
            )
        )
    assert await missing(database) == [key]
    async with database.unit_of_work() as session:
        assert await bulk_repo.build_deferred(session, key)
    assert await missing(database) == []

    # A row written while the key was missing that breaks it: validation fails, and the key
    # (not valid) still checks new rows.
    async with database.unit_of_work() as session:
        await session.execute(text(f"ALTER TABLE citizen DROP CONSTRAINT {key}"))
        await session.execute(text(bogus))
    with pytest.raises(IntegrityError):
        async with database.unit_of_work() as session:
            await bulk_repo.build_deferred(session, key)
    assert await missing(database) == [key]
    with pytest.raises(IntegrityError):
        async with database.unit_of_work() as session:
            await session.execute(text(bogus.replace("min(", "max(")))


@pytest.mark.postgresql_only
async def test_an_initial_load_keeps_the_replaced_by_index_and_checks_the_key_through_it(
    database: Database, tmp_path: Path
) -> None:
    """The partial index on replaced_by stays through a first load (it holds no imported
    record), and the key's validation, planned as PostgreSQL plans it (ri_triggers.c's initial
    check, with the import's settings), reads that index, not the table, which has no
    statistics yet."""
    assert "ix_citizen_replaced_by" not in bulk_repo.DEFERRED
    report = await import_file(
        database, write_csv(tmp_path / "a.csv", population(40)), actor=ACTOR, batch_size=20
    )
    assert report.deferred_built == SECONDARY
    initial_check = (
        "SELECT fk.replaced_by FROM ONLY citizen fk LEFT OUTER JOIN ONLY citizen pk "
        "ON pk.id_number OPERATOR(pg_catalog.=) fk.replaced_by "
        "WHERE pk.id_number IS NULL AND (fk.replaced_by IS NOT NULL)"
    )
    async with database.unit_of_work() as session:
        stats = await session.execute(
            text("SELECT count(*) FROM pg_stats WHERE tablename = 'citizen'")
        )
        assert stats.scalar_one() == 0
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            str(row[0]) for row in await session.execute(text(f"EXPLAIN {initial_check}"))
        )
    fk_side = plan.splitlines()[1:]
    assert any("ix_citizen_replaced_by" in line for line in fk_side), plan
    assert not any("Seq Scan" in line for line in fk_side), plan


@pytest.mark.postgresql_only
async def test_an_initial_load_keeps_the_indexes_when_the_table_is_in_use(
    database: Database, tmp_path: Path
) -> None:
    async with database.unit_of_work() as reader:
        await reader.execute(text("SELECT count(*) FROM citizen"))  # holds ACCESS SHARE
        report = await import_file(
            database, write_csv(tmp_path / "a.csv", population(20)), actor=ACTOR
        )
    assert report.loaded == 20 and report.deferred_built == ()
    assert await missing(database) == []


async def test_a_killed_import_resumes_and_loads_each_row_exactly_once(
    database: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "pop.csv", population())
    batches = 0

    def die_after_two(_rows: int, _position: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise Killed

    with pytest.raises(Killed):
        await import_file(database, path, actor=ACTOR, batch_size=20, progress=die_after_two)
    assert await count(database, "SELECT count(*) FROM citizen") == 37
    assert await count(database, "SELECT rows_done FROM import_job") == 40
    postgres = database.dialect == "postgresql"
    if postgres:  # the stopped initial load left the secondary indexes to the run finishing it
        assert tuple(await missing(database)) == SECONDARY

    resumed = await import_file(database, path, actor=ACTOR, batch_size=20)
    assert resumed.deferred_built == (SECONDARY if postgres else ())
    if postgres:
        assert await missing(database) == []
    assert resumed.resumed_from == 40
    assert (resumed.loaded, resumed.rejected) == (13, 2)
    assert await count(database, "SELECT count(*) FROM citizen") == 50
    # Two runs: the killed one created the first 37 records, the resumed one the other 13.
    by_run = await fetch(
        database,
        "SELECT import_run_id, count(*) FROM citizen GROUP BY import_run_id ORDER BY import_run_id",
    )
    assert [n for _run, n in by_run] == [37, 13]
    runs = await fetch(database, "SELECT id FROM import_run ORDER BY id")
    assert [run for run, _n in by_run] == [run for (run,) in runs]
    with resumed.reject_path.open(newline="") as handle:  # type: ignore[union-attr]
        rows = sorted({int(r["row"]) for r in csv.DictReader(handle)})
    assert rows == [11, 22, 33, 44, 55]
    assert await count(database, "SELECT loaded FROM import_job") == 50


async def moved_then_reimported(
    database: Database, tmp_path: Path
) -> tuple[ImportReport, ImportReport]:
    """Five people imported, then their move imported without the update flag, then three of
    the moves with it; the reports of the last two runs."""
    await import_file(
        database, write_csv(tmp_path / "a.csv", [person(i) for i in range(5)]), actor=ACTOR
    )
    moved = [{**person(i), "permanent_address": "Số 1, Tràng Tiền, Hà Nội"} for i in range(5)]
    path = write_csv(tmp_path / "b.csv", moved)
    plain = await import_file(database, path, actor=ACTOR)
    path2 = write_csv(tmp_path / "c.csv", moved[:3])
    flagged = await import_file(database, path2, actor=ACTOR, update=True)
    return plain, flagged


async def test_a_changed_row_is_skipped_without_the_update_flag(
    database: Database, tmp_path: Path
) -> None:
    plain, _ = await moved_then_reimported(database, tmp_path)
    assert (plain.loaded, plain.updated, plain.skipped) == (0, 0, 5)


async def test_with_the_update_flag_a_changed_row_is_a_new_version(
    database: Database, tmp_path: Path
) -> None:
    _, flagged = await moved_then_reimported(database, tmp_path)
    assert flagged.updated == 3
    async with database.unit_of_work() as session:
        version = (
            await session.execute(
                text("SELECT * FROM citizen_version WHERE id_number = :n AND version = 2"),
                {"n": person(0)["id_number"]},
            )
        ).one()
    assert json.loads(version.changed_fields) == ["permanent_address"]
    assert json.loads(version.previous) == {"permanent_address": "Số 0, Phố Huế, Hà Nội"}


async def test_an_updated_records_first_version_is_the_run_that_created_it(
    database: Database, tmp_path: Path
) -> None:
    await moved_then_reimported(database, tmp_path)
    # History: version 2 is the update; version 1 is the run that created the record.
    number = person(0)["id_number"]
    async with database.unit_of_work() as session:
        row = await registry_repo.get_citizen(session, number)
        versions = await registry_repo.versions(session, number)
        assert await registry_repo.last_valid_from(session, number) == versions[0]["valid_from"]
    assert row is not None and [v["version"] for v in versions] == [2, 1]
    first = versions[1]
    assert first == {
        "id_number": number,
        "version": 1,
        "valid_from": row["created_at"],
        "kind": "import",
        "is_correction": False,
        "legal_basis": "bulk import",
        "actor_type": ACTOR.actor_type,
        "actor_id": ACTOR.actor_id,
        "changed_fields": '["*"]',
        "previous": None,
    }
    before = state_at(row, versions, first["valid_from"])
    assert before is not None and before["version"] == 1
    assert before["permanent_address"] == "Số 0, Phố Huế, Hà Nội"
    assert state_at(row, versions, first["valid_from"] - timedelta(microseconds=1)) is None


async def test_a_record_only_imported_has_its_import_as_its_one_version(
    database: Database, tmp_path: Path
) -> None:
    await moved_then_reimported(database, tmp_path)
    # Version 1 alone, and new versions must come after its creation.
    async with database.unit_of_work() as session:
        untouched = person(4)["id_number"]
        only = await registry_repo.versions(session, untouched)
        created = (await registry_repo.get_citizen(session, untouched) or {})["created_at"]
        assert await registry_repo.last_valid_from(session, untouched) == created
    assert [(v["version"], v["kind"], v["valid_from"]) for v in only] == [(1, "import", created)]


async def test_ndjson_and_unreadable_lines(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "pop.ndjson"
    lines = [json.dumps(person(i), ensure_ascii=False) for i in range(4)]
    lines.insert(2, "{not json")
    lines.insert(3, "[1, 2]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await import_file(database, path, actor=ACTOR)
    assert (report.loaded, report.rejected) == (4, 2)


async def test_broken_csv_rows_are_rejected_not_fatal(database: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pop.csv", [person(i) for i in range(3)])
    with path.open("ab") as handle:
        handle.write(b"only,three,columns\r\n")
        handle.write(",".join(person(9).values()).encode().replace(b"Nguy", b"Nguy\xff") + b"\r\n")
    report = await import_file(database, path, actor=ACTOR)
    assert (report.loaded, report.rejected) == (3, 2)


async def test_a_row_whose_name_mixes_scripts_is_rejected(
    database: Database, tmp_path: Path
) -> None:
    mixed = {**person(1), "full_name": "Nguyễn V\u0430n Bình"}  # a Cyrillic а
    path = write_csv(tmp_path / "pop.csv", [person(0), mixed])
    report = await import_file(database, path, actor=ACTOR)
    assert (report.loaded, report.rejected) == (1, 1)
    with report.reject_path.open(newline="") as handle:  # type: ignore[union-attr]
        (reject,) = csv.DictReader(handle)
    assert reject["field"] == "full_name"
    assert "CYRILLIC" in reject["reason"]


async def test_rows_with_a_nul_or_a_lone_surrogate_are_rejected(
    database: Database, tmp_path: Path
) -> None:
    rows = [
        person(0),
        {**person(1), "permanent_address": "S\x00 1"},
        {**person(2), "full_name": "Nguy\x00n An"},
        {**person(3), "religion": "\udcff"},  # written as the undecodable byte 0xFF
    ]
    path = tmp_path / "pop.csv"
    write_csv(path, rows[:1])
    with path.open("a", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        csv.DictWriter(handle, fieldnames=COLUMNS).writerows(rows[1:])
    report = await import_file(database, path, actor=ACTOR)
    assert (report.loaded, report.rejected) == (1, 3)


async def test_a_failing_audit_insert_loads_nothing(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    from core.errors import AuditUnavailable

    await fail_audit_inserts(database_url)
    path = write_csv(tmp_path / "pop.csv", [person(i) for i in range(5)])
    with pytest.raises(AuditUnavailable):
        await import_file(database, path, actor=ACTOR)
    assert await count(database, "SELECT count(*) FROM citizen") == 0


@pytest.mark.postgresql_only
async def test_the_service_says_when_a_stopped_initial_load_left_indexes_missing(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with database.unit_of_work() as session:
        await session.execute(text("DROP INDEX ix_citizen_household_id"))

    async def start() -> list[logging.LogRecord]:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with asgi_client(create_app(settings, database=database)) as client:
                assert (await client.get("/readyz")).status_code == 200
        return [r for r in caplog.records if r.msg == "startup.indexes_missing"]

    warned = await start()
    assert [r.fields["indexes"] for r in warned] == ["ix_citizen_household_id"]  # type: ignore[attr-defined]
    async with database.unit_of_work() as session:
        assert await bulk_repo.build_deferred(session, "ix_citizen_household_id")
    assert await start() == []


def test_the_import_command_says_what_it_did(database_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pop.csv", population(20))
    env = {"REGISTRY_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli_app, ["import", str(path), "--max-rejects", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "rows 22  loaded 20  updated 0  skipped (already present) 0  rejected 2" in result.output
    assert "2 rows rejected, within --max-rejects 2" in result.output
    # An empty table on PostgreSQL: the first load built its indexes at the end.
    built = "built the indexes and key deferred during the load in" in result.output
    assert built == database_url.startswith("postgresql")
    again = CliRunner().invoke(cli_app, ["import", str(path), "--max-rejects", "2"], env=env)
    assert again.exit_code == 0 and "already imported (22 rows); nothing to do" in again.output


def test_the_import_command_exits_1_when_more_rows_are_rejected_than_allowed(
    database_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "pop.csv", population(20))  # 2 bad rows
    env = {"REGISTRY_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli_app, ["import", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert "loaded 20" in result.output  # the valid rows are loaded all the same
    assert "2 rows rejected, more than --max-rejects 0 allows" in result.output
    # The file's verdict stays the same when it is run again (nothing more is loaded).
    again = CliRunner().invoke(cli_app, ["import", str(path), "--max-rejects", "1"], env=env)
    assert again.exit_code == 1 and "already imported (22 rows)" in again.output
    assert "2 rows rejected, more than --max-rejects 1 allows" in again.output


def test_the_import_command_exits_2_for_a_refused_file(database_url: str, tmp_path: Path) -> None:
    path = excel_csv(tmp_path / "pop.csv", [person(i) for i in range(3)], ";")
    env = {"REGISTRY_DATABASE_URL": database_url}
    result = CliRunner().invoke(cli_app, ["import", str(path)], env=env)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "';'" in result.output
    assert "rows" not in result.output  # refused before any row: no counts


def read_rejects(path: Path | None) -> list[dict[str, str]]:
    assert path is not None
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def excel_csv(path: Path, rows: list[dict[str, str]], delimiter: str) -> Path:
    """A CSV as Excel writes it where the list separator is not a comma (Vietnamese settings:
    ';'), with the UTF-8 byte order mark of its "CSV UTF-8" format."""
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(("delimiter", "named"), [(";", "';'"), ("\t", "tab")])
async def test_a_file_separated_by_another_delimiter_is_refused_before_any_row(
    database: Database, tmp_path: Path, delimiter: str, named: str
) -> None:
    path = excel_csv(tmp_path / "pop.csv", [person(i) for i in range(5)], delimiter)
    with pytest.raises(FileRefused) as refused:
        await import_file(database, path, actor=ACTOR)
    message = str(refused.value)
    assert named in message and "not by commas" in message
    assert ",".join(COLUMNS[:6]) in message  # the expected header
    assert await count(database, "SELECT count(*) FROM import_job") == 0
    assert await count(database, "SELECT count(*) FROM citizen") == 0
    assert not (tmp_path / "pop.csv.rejects.csv").exists()


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ([*COLUMNS, "note"], "unknown columns: note"),
        (
            [c for c in COLUMNS if c not in ("gender", "ethnicity")],
            "missing columns: gender, ethnicity",
        ),
        ([*COLUMNS, "gender"], "repeated columns: gender"),
        (["ID_NUMBER", *COLUMNS[1:]], "unknown columns: ID_NUMBER"),
    ],
)
async def test_a_header_that_is_not_the_records_columns_is_refused(
    database: Database, tmp_path: Path, header: list[str], named: str
) -> None:
    path = tmp_path / "pop.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[person(i).get(c, "") for c in header] for i in range(3)])
    with pytest.raises(FileRefused, match=named):
        await import_file(database, path, actor=ACTOR)
    assert await count(database, "SELECT count(*) FROM import_job") == 0


async def test_a_header_in_another_order_without_optional_columns_is_read(
    database: Database, tmp_path: Path
) -> None:
    header = [c for c in reversed(COLUMNS) if c not in ("religion", "blood_type")]
    path = tmp_path / "pop.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[person(i)[c] for c in header] for i in range(4)])
    report = await import_file(database, path, actor=ACTOR)
    assert (report.loaded, report.rejected) == (4, 0)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("", "is empty"),
        (",".join(COLUMNS) + "\n", "not a JSON object"),  # a CSV named .ndjson
        ('[{"id_number": "001090001000"}]\n', "not a JSON object"),  # a JSON array
        ('{"so_dinh_danh": "001090001000"}\n', "unknown keys: so_dinh_danh"),
    ],
)
async def test_an_ndjson_file_that_does_not_begin_with_a_record_is_refused(
    database: Database, tmp_path: Path, content: str, named: str
) -> None:
    path = tmp_path / "pop.ndjson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileRefused, match=named):
        await import_file(database, path, actor=ACTOR)
    assert await count(database, "SELECT count(*) FROM import_job") == 0


async def test_an_empty_csv_file_is_refused(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_bytes(b"")
    with pytest.raises(FileRefused, match="is empty"):
        await import_file(database, path, actor=ACTOR)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("workers", [1, 2])
async def test_bytes_that_are_not_utf8_are_an_encoding_reject_naming_their_offset(
    database: Database, tmp_path: Path, fmt: str, workers: int
) -> None:
    rows = [person(i) for i in range(6)]
    if fmt == "csv":
        data = write_csv(tmp_path / "pop.csv", rows).read_bytes()
    else:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    # Row 4's name as a legacy Vietnamese code page (Windows-1258) writes it: "Nguy\xeabn".
    name = rows[3]["full_name"].encode()
    offset = data.index(name) + len("Nguy")
    path = tmp_path / f"broken.{fmt}"
    path.write_bytes(data.replace(name, name.replace("ễ".encode(), b"\xea\xde")))
    report = await import_file(database, path, actor=ACTOR, workers=workers)
    assert (report.loaded, report.rejected) == (5, 1)
    [reject] = read_rejects(report.reject_path)
    assert reject == {
        "row": "4",
        "field": "full_name",
        "reason": f"invalid UTF-8 at byte offset {offset} of the file",
        "id_number": rows[3]["id_number"],
        "value": "Nguy\\xea\\xden Văn Dũng",
    }


async def test_reject_lines_carry_the_id_number_and_only_the_offending_value(
    database: Database, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "pop.csv", population(30))
    report = await import_file(database, path, actor=ACTOR)
    rejects = read_rejects(report.reject_path)
    assert list(rejects[0]) == ["row", "field", "reason", "id_number", "value"]
    by_row = {int(r["row"]): r for r in rejects}
    bad_name = person(1009)
    assert by_row[11] == {
        "row": "11",
        "field": "full_name",
        "reason": by_row[11]["reason"],
        "id_number": bad_name["id_number"],
        "value": "Nguyễn Văn 7",
    }
    assert (by_row[22]["field"], by_row[22]["value"]) == ("birth_date", "1990-02-30")
    assert (by_row[33]["field"], by_row[33]["value"]) == ("gender", "unknown")
    # Nothing else of the person: no address, no other field's value.
    assert all(bad_name["permanent_address"] not in ",".join(r.values()) for r in rejects)


async def test_a_long_or_unprintable_value_is_quoted_short_and_visible(
    database: Database, tmp_path: Path
) -> None:
    rows = [{**person(1), "religion": "x" * 500}, {**person(2), "hometown": "Huế\x07"}]
    report = await import_file(database, write_csv(tmp_path / "pop.csv", rows), actor=ACTOR)
    values = [r["value"] for r in read_rejects(report.reject_path)]
    assert values == ["x" * 64 + "…", "Huế\\x07"]


@pytest.mark.parametrize("update", [False, True])
async def test_each_batch_reports_how_far_into_the_file_it_reaches(
    database: Database, tmp_path: Path, update: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "BLOCK", 1024)  # the plain reader's position moves by blocks
    path = write_csv(tmp_path / "pop.csv", population(60))
    reports: list[tuple[int, int]] = []
    await import_file(
        database,
        path,
        actor=ACTOR,
        batch_size=20,
        update=update,
        progress=lambda rows, position: reports.append((rows, position)),
    )
    assert [rows for rows, _at in reports] == [20, 20, 20, 6]
    positions = [at for _rows, at in reports]
    assert positions == sorted(positions) and positions[-1] == path.stat().st_size
    assert 0 < positions[0] < positions[-1]
