"""The baselines' polls worked out from the scenario, without HTTP or a database.

A poller's decisions depend only on what the feed showed it: the start time (from the
meeting list, then from each poll) and whether the race has finished. The timelines
say what the feed showed at any instant, so the polls can be counted exactly for any
day, however large; the benchmark runs the real poller on a sample of meetings and
checks that it polled at exactly the predicted instants.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from racing.bench.baselines import in_span
from racing.bench.scoring import Fetch
from racing.bench.timelines import RaceKey, RaceTimeline
from racing.replay import LEAD, TAIL

# Far enough back to poll every race from the first tick of the day.
WHOLE_DAY = timedelta(days=2)


def predicted_polls(
    tl: RaceTimeline, ticks: Sequence[datetime], *, lead: timedelta = LEAD
) -> list[datetime]:
    """The ticks at which a poller polls the race, having read the list at
    `ticks[0]`; a `lead` longer than 75 minutes counts what an earlier start of the
    span would cost."""
    if tl.finished(ticks[0]):
        return []
    known = tl.advertised_start(ticks[0])
    polls: list[datetime] = []
    for tick in ticks[bisect_left(ticks, known - lead) :]:
        if tick > known + TAIL:
            break
        if not in_span(known, tick, lead=lead):
            continue  # the start moved later than the poller thought
        polls.append(tick)
        known = tl.advertised_start(tick)
        if tl.finished(tick):
            break
    return polls


def predicted_fetches(
    timelines: Iterable[RaceTimeline],
    ticks: Sequence[datetime],
    *,
    lead: timedelta = LEAD,
) -> dict[RaceKey, list[datetime]]:
    """Every race's predicted polls."""
    return {tl.key: predicted_polls(tl, ticks, lead=lead) for tl in timelines}


def as_fetches(polls: dict[RaceKey, list[datetime]]) -> list[Fetch]:
    """Predicted polls as successful fetches, for scoring."""
    return [Fetch(key, at) for key, instants in polls.items() for at in instants]
