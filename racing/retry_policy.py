"""One retry policy for every job type: how many retries, and how long before each.

A policy is either a configured list of delays (the morning tasks, the pre-race
windows, the post-race follow-ups) or exponential backoff with a cap (HTTP requests).
Where a retry runs is each caller's business: the TAB client sleeps briefly in-process,
Prefect re-runs a task after its delay, and the post-race follow-ups are due times
recorded in the database. What the delays are is decided here only.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Retries allowed after a first attempt, and the wait before each."""

    retries: int
    delays: tuple[float, ...] = ()
    backoff_base: float = 0.0
    backoff_cap: float = 0.0

    @classmethod
    def from_delays(cls, delays: Sequence[float]) -> "RetryPolicy":
        """One retry per delay, in order (seconds)."""
        return cls(retries=len(delays), delays=tuple(delays))

    @classmethod
    def exponential(cls, *, retries: int, base: float, cap: float) -> "RetryPolicy":
        """`base`, then doubling, never more than `cap` (seconds)."""
        return cls(retries=retries, backoff_base=base, backoff_cap=cap)

    @property
    def attempts(self) -> int:
        """The first attempt and every retry."""
        return 1 + self.retries

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if not 1 <= retry <= self.retries:
            raise ValueError(f"retry {retry} is outside 1..{self.retries}")
        if self.delays:
            return self.delays[retry - 1]
        return min(self.backoff_base * 2.0 ** (retry - 1), self.backoff_cap)

    def seconds(self) -> list[float]:
        """Every delay in order, as Prefect's `retry_delay_seconds` takes them."""
        return [self.delay(retry) for retry in range(1, self.retries + 1)]

    def timedeltas(self) -> list[timedelta]:
        """Every delay in order, as durations."""
        return [timedelta(seconds=s) for s in self.seconds()]

    def scaled(self, factor: float) -> "RetryPolicy":
        """The same policy with every wait multiplied by `factor` (replays)."""
        return RetryPolicy(
            self.retries,
            tuple(delay * factor for delay in self.delays),
            self.backoff_base * factor,
            self.backoff_cap * factor,
        )
