"""Deterministic prices and dividends for the simulator.

Prices drift every five minutes by noise hashed from the scenario seed, the runner and
the time bucket, so any instant always gives the same price and no state is kept.
"""

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

BUCKET = dt.timedelta(minutes=5)
FLUC_COUNT = 3
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

# (upper bound, increment): TAB fixed prices move on a coarser ladder as they lengthen.
_LADDER = ((4.0, 0.05), (10.0, 0.1), (20.0, 0.5), (50.0, 1.0), (math.inf, 5.0))


@dataclass(frozen=True)
class Prices:
    """Fixed-odds and tote prices of one runner at one instant."""

    fixed_win: float
    fixed_place: float
    tote_win: float
    tote_place: float


def bucket_start(instant: dt.datetime) -> dt.datetime:
    """The start of the five-minute bucket holding `instant`."""
    return _EPOCH + BUCKET * ((instant - _EPOCH) // BUCKET)


def prices_at(key: str, opening_win: float, instant: dt.datetime) -> Prices:
    """The prices of the runner identified by `key` at `instant`."""
    bucket = (instant - _EPOCH) // BUCKET
    # Three time scales: a jitter each bucket, a half-hour trend and a three-hour one.
    drift = (
        0.05 * _noise(key, "b", bucket)
        + 0.06 * _noise(key, "h", bucket // 6)
        + 0.08 * _noise(key, "d", bucket // 36)
    )
    fixed_win = _on_ladder(opening_win * math.exp(drift))
    tote_win = round(max(1.01, fixed_win * (0.95 + 0.06 * _noise(key, "t", bucket))), 2)
    return Prices(
        fixed_win=fixed_win,
        fixed_place=_on_ladder(1 + (fixed_win - 1) / 4),
        tote_win=tote_win,
        tote_place=round(1 + (tote_win - 1) / 4.2, 2),
    )


def win_dividends(winners: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Win dividends for the first group; a dead heat splits the pool between them."""
    share = len(winners)
    return [(number, _dividend(tote / share)) for number, tote in winners]


def place_dividends(
    groups: Sequence[Sequence[tuple[int, float]]], places: int
) -> list[tuple[int, float]]:
    """Place dividends; runners dead-heating over the last place share it."""
    dividends: list[tuple[int, float]] = []
    position = 1
    for group in groups:
        paid_positions = min(len(group), max(0, places - position + 1))
        for number, tote_place in group:
            if paid_positions:
                dividends.append(
                    (number, _dividend(tote_place * paid_positions / len(group)))
                )
        position += len(group)
    return dividends


def combination_dividend(totes: Sequence[float], divisor: float) -> float:
    """An exotic dividend roughly in line with the runners' win prices."""
    return _dividend(math.prod(totes) / divisor)


def places_paid(starters: int) -> int:
    """How many places the tote pays for a field of this size."""
    if starters >= 8:
        return 3
    return 2 if starters >= 5 else 0


def _dividend(amount: float) -> float:
    return max(1.04, round(amount, 1))


def _on_ladder(price: float) -> float:
    lower = 1.0
    for upper, step in _LADDER:
        if price < upper:
            return round(max(lower + step, round(price / step) * step), 2)
        lower = upper
    raise AssertionError("the ladder ends at infinity")


def _noise(key: str, scale: str, bucket: int) -> float:
    """Uniform noise in [-1, 1] from a stable hash (Python's hash() is salted)."""
    digest = hashlib.blake2b(f"{key}|{scale}|{bucket}".encode(), digest_size=8)
    return int.from_bytes(digest.digest()) / 2**63 - 1
