"""The draws every part of the generator makes: weighted tables, uniform picks and integers.

Each draw takes exactly one ``rng.random()``, so that the output of a seed depends only on the
order of the draws.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """Items drawn with fixed relative weights (one ``rng.random()`` per draw)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            if weight > 0:
                total += weight
                items.append(item)
                cum.append(total)
        if not items:
            raise ValueError("a weighted table needs at least one positive weight")
        self._items = tuple(items)
        # The last bound is infinite so that rounding in random() * total never runs past it.
        self._cum = (*cum[:-1], math.inf)
        self._total = total

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect_right(self._cum, rng.random() * self._total)]


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """One of ``items``, uniformly (cheaper than ``rng.choice``; one ``rng.random()``)."""
    return items[int(rng.random() * len(items))]


def between(rng: random.Random, lo: int, hi: int) -> int:
    """An integer in ``lo..hi-1`` (cheaper than ``rng.randrange``; one ``rng.random()``)."""
    return lo + int(rng.random() * (hi - lo))


def coprime(value: int, modulus: int) -> int:
    """The first value at or after ``value`` that is coprime with ``modulus`` (wrapping)."""
    while math.gcd(value, modulus) != 1:
        value = value % (modulus - 1) + 1
    return value
