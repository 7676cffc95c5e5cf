"""Bulk import of citizen records: streamed, validated like the API, resumable, audited."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext

# A file larger than this is validated by a pool of worker processes (default up to 2).
POOL_MIN_BYTES = 8 << 20
# What the validating workers' fork server imports once, for every worker it forks.
WORKER_MODULES = ["registry.bulk.pipeline"]


def worker_context() -> ForkServerContext:
    """The workers' multiprocessing context, with its fork server started.

    forkserver: workers do not inherit the importer's open database connections. The server
    imports WORKER_MODULES in the background; calling this early (the CLI does, before its own
    imports) lets that happen while the importer is still starting.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return context
