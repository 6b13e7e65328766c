"""The two baselines: simple pollers that fetch every race on a fixed tick.

`OLD` is the scheduler this project replaced, polling every race every minute;
`NAIVE` is cron */5 polling of every race of the day, blind to the windows. Both store
each answer with the same upserts as the scheduler, and a Scrape row of their own kind,
in a database of their own.

A poller looks at a race only in its span: from `LEAD` (75 minutes) before the start it
last saw until the feed says Paying or Abandoned, or `TAIL` (45 minutes) after that
start. Before the span neither baseline has anything the windows need, and polling
the whole day would cost seven to eight times the calls for the same scores;
`racing.bench.model` counts that cost without making the calls.
"""

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from racing import morning
from racing.bench.timelines import MeetingKey
from racing.database import transaction
from racing.job_runs import JobSummary, finish_job_run, open_job_run, save_summary
from racing.models import Meeting, Race
from racing.race_scrape import scrape_race
from racing.replay import LEAD, TAIL
from racing.settings import Settings, load_settings
from racing.simulator.scenario import Scenario
from racing.simulator.server import RequestRecord, SimulatorServer
from racing.store import RaceRef
from racing.tab_client import TabClient
from racing.tab_payloads import RaceStatus

log = logging.getLogger(__name__)

_FINISHED = (RaceStatus.PAYING.value, RaceStatus.ABANDONED.value)


@dataclass(frozen=True)
class Baseline:
    """A poller: its name in the report, its Scrape kind and its tick."""

    name: str
    kind: str
    every: timedelta


OLD = Baseline("old: every race every minute", "poll_1m", timedelta(minutes=1))
NAIVE = Baseline("naive: */5 every race", "poll_5m", timedelta(minutes=5))
BASELINES = (OLD, NAIVE)


def in_span(start: datetime, tick: datetime, *, lead: timedelta = LEAD) -> bool:
    """Whether a poller looks at a race advertised to start at `start` at `tick`."""
    return start - lead <= tick <= start + TAIL


def baseline_ticks(first: datetime, last: datetime, every: timedelta) -> list[datetime]:
    """Ticks `every` apart from `first` to `last` inclusive."""
    count = int((last - first) / every) + 1
    return [first + every * n for n in range(count)]


@dataclass
class Poller:
    """Polls, at each tick, every race of its meetings that is in its span."""

    baseline: Baseline
    client: TabClient
    sessions: sessionmaker[Session]
    # None polls every meeting; a sample polls these only.
    meetings: Collection[MeetingKey] | None = None

    def list_day(self, scenario: Scenario, as_of: datetime) -> None:
        """Fetch and store the day's meetings once, to know the races."""
        listing = self.client.meetings(scenario.date)
        morning.store_meeting_list(
            listing, listing_day=scenario.date, sessions=self.sessions, now=as_of
        )

    def poll(self, as_of: datetime) -> int:
        """Fetch and store every race in its span; returns how many were polled."""
        due = self._due(as_of)
        if not due:
            return 0
        flow_run_id = str(uuid4())
        with transaction(self.sessions) as session:
            job_run_id = open_job_run(
                session=session,
                flow_run_id=flow_run_id,
                job_type=self.baseline.kind,
                started_at=as_of,
            ).id
        failed = [ref.code for ref in due if not self._scrape(ref, job_run_id, as_of)]
        with transaction(self.sessions) as session:
            summary = JobSummary(len(due), len(failed), {"failedRaces": failed})
            save_summary(session=session, job_run_id=job_run_id, summary=summary)
            finish_job_run(session=session, flow_run_id=flow_run_id, finished_at=as_of)
        return len(due)

    def _due(self, as_of: datetime) -> list[RaceRef]:
        with self.sessions() as session:
            rows = session.execute(
                select(Race, Meeting)
                .join(Meeting, Race.meeting_id == Meeting.id)
                .where(
                    Race.start_time >= as_of - TAIL,
                    Race.start_time <= as_of + LEAD,
                    Race.status.not_in(_FINISHED),
                )
                .order_by(Race.start_time, Meeting.venue_mnemonic, Race.race_number)
            ).all()
        return [
            RaceRef.of(race, meeting)
            for race, meeting in rows
            if self.meetings is None
            or (meeting.race_type, meeting.venue_mnemonic) in self.meetings
        ]

    def _scrape(self, ref: RaceRef, job_run_id: int, as_of: datetime) -> bool:
        # No claim guard (busy=()): a poller fetches the race at every tick by design.
        attempt = scrape_race(
            ref,
            kind=self.baseline.kind,
            busy=(),
            client=self.client,
            sessions=self.sessions,
            job_run_id=job_run_id,
            clock=lambda: as_of,
        )
        return attempt is not None and attempt.error is None


def replay_baseline(
    baseline: Baseline,
    scenario: Scenario,
    *,
    sessions: sessionmaker[Session],
    ticks: Sequence[datetime],
    meetings: Collection[MeetingKey] | None = None,
    settings: Settings | None = None,
) -> list[RequestRecord]:
    """Run a baseline over the day on its own simulator; returns its request log."""
    with SimulatorServer(scenario, clock=ticks[0]) as server:
        overrides = {"tab_base_url": server.base_url}
        config = (settings or load_settings()).model_copy(update=overrides)
        with TabClient.from_settings(config) as client:
            poller = Poller(baseline, client, sessions, meetings)
            poller.list_day(scenario, ticks[0])
            polled = 0
            for tick in ticks:
                server.set_clock(tick)
                polled += poller.poll(tick)
        log.info("%s: %d polls over %d ticks", baseline.name, polled, len(ticks))
        return server.request_log()
