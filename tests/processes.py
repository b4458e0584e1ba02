"""Forked processes over shared memory, for the state layer's tests without uWSGI."""

from __future__ import annotations

import mmap
import multiprocessing

fork = multiprocessing.get_context("fork")


def shared_memory(size: int) -> memoryview:
    return memoryview(mmap.mmap(-1, size))  # MAP_SHARED: forked children write the same pages


def run_in_child(target, *args) -> int:
    """Run ``target(*args)`` in a forked child; its exit code (None if it ran over 60 s)."""
    child = fork.Process(target=target, args=args)
    child.start()
    child.join(60)
    return child.exitcode
