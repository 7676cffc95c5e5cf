"""PostgreSQL's own statements of an inclusion proof give what the portable ones and merkle's
rule give.

The node rule in SQL (audit.repository.PROOF_NODE_IDS_SQL) names exactly the nodes
merkle.inclusion_node_set names in Python, the rule's definition: for every leaf of every tree
up to a few perfect sizes past 64, and for leaves at the edges of large trees up to the 62
levels the SQL walks. The one-statement proof read and node read return, on the same log, what
the statements SQLite runs return (those run on PostgreSQL too).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from audit import merkle, record
from audit import repository as audit_repo
from audit import tree_repository as tree_repo
from audit.keys import load_signer
from audit.worker import AuditWorker
from core.auth import Principal
from core.db import Database, driver_connection
from core.settings import Settings

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
        + audit_repo.PROOF_NODE_IDS_SQL
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


async def test_the_one_statement_proof_reads_what_the_portable_reads_read(
    database: Database, settings: Settings
) -> None:
    agency = Principal("agency", "bank-001")
    uids = []
    for i in range(13):
        async with database.unit_of_work() as session:
            uids.append(
                await record(
                    session,
                    actor=agency,
                    action="citizen.lookup",
                    outcome="granted",
                    subject="001203004512",
                    fields=["full_name"],
                    purpose="kyc",
                    detail={"batch": i},
                )
            )
        if i in (4, 10):  # two checkpoints; the last events stay unsequenced
            worker = AuditWorker(database, load_signer(settings), origin=settings.audit_origin)
            await worker.sequence_pending()
            await worker.checkpoint()
    async with database.unit_of_work() as session:
        for uid in [*uids, "no-such-event"]:
            one = await audit_repo.proof_target_postgresql(session, uid)
            portable = await audit_repo.proof_target_portable(session, uid)
            if one is None or portable is None:
                assert one is portable is None, uid
                continue
            assert one.nodes is not None
            assert (one.event, one.leaf_index, one.leaf_hash, one.tree_size, one.note) == (
                portable.event,
                portable.leaf_index,
                portable.leaf_hash,
                portable.tree_size,
                portable.note,
            )
            if one.leaf_index is None or one.tree_size is None:
                assert one.nodes == {}
                continue
            ids = merkle.inclusion_node_set(one.leaf_index, one.tree_size)
            leaves = [i for level, i in ids if level == 0]
            nodes = [(level, i) for level, i in ids if level > 0]
            assert one.nodes == await tree_repo.fetch_nodes_portable(session, leaves, nodes)
        every = [(level, i) for level in range(1, 5) for i in range(16)]
        assert await tree_repo.fetch_nodes_postgresql(
            session, list(range(16)), every
        ) == await tree_repo.fetch_nodes_portable(session, list(range(16)), every)
