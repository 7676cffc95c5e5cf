"""Bulk import of citizen records: streamed, validated like the API, resumable, audited."""

from __future__ import annotations

import ctypes
import multiprocessing
from multiprocessing.context import ForkServerContext

# A file larger than this is validated by a pool of worker processes (default up to 2).
POOL_MIN_BYTES = 8 << 20
# What the validating workers' fork server imports once, for every worker it forks.
WORKER_MODULES = ["registry.bulk.pipeline"]


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap, not from a mapping of their own; freed heap memory
# up to _KEEP_FREED stays with the process instead of going back to the kernel at once.
_HEAP_UP_TO = 32 << 20  # glibc's largest mmap threshold on 64 bits
_KEEP_FREED = 256 << 20


def keep_freed_memory() -> bool:
    """Tune this process's malloc (glibc) for an import's buffers; whether it could.

    An import allocates and frees buffers of 1 to 10 MB all the time (a chunk read from the
    file, its COPY text, a batch). By default glibc maps some of these from the kernel and
    gives others back to it when they are freed, so the next one page-faults its memory in,
    zeroed, again. Kept on the heap instead, validation takes clearly less of the workers' CPU
    (docs/performance.md, "Heap kept for buffers"). Memory stays
    bounded: what is kept is what the import needed at its peak, not more.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): its own defaults stay
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO) and mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED))


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
