"""The inclusion proof's node rule in SQL (audit.repository.PROOF_NODE_IDS_SQL, PostgreSQL's one
round trip for a proof) names exactly the nodes merkle.inclusion_node_set names in Python, the
rule's definition: for every leaf of every tree up to a few perfect sizes past 64, and for leaves
at the edges of large trees up to the 62 levels the SQL walks."""

from __future__ import annotations

from collections import defaultdict

import pytest

from audit import merkle
from audit.repository import PROOF_NODE_IDS_SQL
from core.db import Database, driver_connection

pytestmark = pytest.mark.postgresql_only  # the statement is PostgreSQL's; SQLite reads by merkle

SMALL = [(i, n) for n in range(1, 70) for i in range(n)]
LARGE = [
    (i, n)
    for n in (2**20, 2**20 + 1, 2**33 - 1, 2**40 + 12_345, 2**61 + 7, 2**62 - 1, 2**62)
    for i in (0, 1, n // 2 - 1, n // 2, n // 3, n - 2, n - 1)
]


async def test_the_sql_names_the_nodes_the_python_rule_names(database: Database) -> None:
    pairs = SMALL + LARGE
    sql = (
        "WITH t AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS t(leaf_index, tree_size))"
        + PROOF_NODE_IDS_SQL
    )
    async with database.unit_of_work() as session:
        driver = await driver_connection(session)
        assert driver is not None
        rows = await driver.fetch(sql, [i for i, _ in pairs], [n for _, n in pairs])
    named: dict[tuple[int, int], set[tuple[int, int]]] = defaultdict(set)
    for row in rows:
        named[(row["leaf_index"], row["tree_size"])].add((row["level"], row["idx"]))
    for index, size in pairs:
        assert named[(index, size)] == merkle.inclusion_node_set(index, size), (index, size)
