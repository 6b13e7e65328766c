"""A small racing day for the metrics tests, replayed without Prefect.

Two meetings and six races between 07:30 and 09:05 Sydney time, with something for
every metric: a morning scrape that is partial (a malformed race), a T-60 window that
gives a race up after three failed attempts (a failed run and a coverage miss), a race
that needs two retries in its T-60 window, an abandoned race, and result checks that
need follow-ups.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from racing.replay import DirectJobs, day_ticks, replay_day
from racing.settings import load_settings
from racing.simulator.scenario import Scenario
from racing.simulator.server import SimulatorServer
from racing.tab_client import TabClient
from tests.factories import local, meeting, race, scenario

SYDNEY = ZoneInfo("Australia/Sydney")
# Mid-morning: one race in each pre-race window, one awaiting its result.
MID_DAY = local(8, 0)


def metrics_scenario() -> Scenario:
    """The day described above."""
    return scenario(
        [
            meeting(
                "AAA",
                [
                    race(1, local(7, 30)),
                    race(2, local(7, 50)),
                    race(3, local(8, 20)),
                    race(4, local(9, 5)),
                ],
            ),
            meeting(
                "BBB",
                [
                    race(1, local(7, 40), abandonedAt=local(6, 30).isoformat()),
                    race(2, local(8, 40)),
                ],
                raceType="G",
            ),
        ],
        faults=[
            _fault("AAA", 4, "malformed", local(5), local(6, 5)),
            # The whole T-60 window of AAA 3: its first run gives it up.
            _fault("AAA", 3, "status", local(7, 5), local(7, 30), status=500),
            # BBB 2's first T-60 run needs its third attempt.
            _fault("BBB", 2, "status", local(7, 25), local(7, 50), status=503, count=2),
        ],
    )


@contextmanager
def replayed_day(sessions: sessionmaker[Session]) -> Iterator["DayReplay"]:
    """A simulator serving the day, and a replay that can stop and resume."""
    card = metrics_scenario()
    # Entering the server starts it.
    with SimulatorServer(card, clock=local(5, 55)) as server:
        settings = load_settings(
            tab_base_url=server.base_url, http_attempts=1, http_backoff_seconds=0
        )
        with TabClient.from_settings(settings) as client:
            yield DayReplay(card, server, DirectJobs(client, sessions))


class DayReplay:
    """Replays the day's ticks up to an instant, then on from there."""

    def __init__(
        self, card: Scenario, server: SimulatorServer, jobs: DirectJobs
    ) -> None:
        starts = [r.start_time for m in card.meetings for r in m.races]
        self.card = card
        self.server = server
        self.jobs = jobs
        self.ticks = list(day_ticks(card.date, SYDNEY, min(starts), max(starts)))
        self.last_tick = self.ticks[-1]

    def until(self, instant: datetime) -> None:
        """Run every tick up to and including `instant`."""
        due = [tick for tick in self.ticks if tick <= instant]
        self.ticks = self.ticks[len(due) :]
        replay_day(
            self.card.date,
            SYDNEY,
            self.jobs,
            ticks=iter(due),
            set_clock=self.server.set_clock,
        )


def _fault(
    venue: str,
    number: int,
    kind: str,
    start: datetime,
    until: datetime,
    **extra: object,
) -> dict[str, object]:
    return {
        "endpoint": "race",
        "venueMnemonic": venue,
        "raceNumber": number,
        "kind": kind,
        "from": start.isoformat(),
        "until": until.isoformat(),
        **extra,
    }
