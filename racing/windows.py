"""Pre-race windows: which races a T-60 or T-15 run at a given instant must scrape.

A race is in a window at instant `t` when its start time lies in
`(t + closes_before, t + opens_before]`, i.e. the window opens `opens_before` ahead of
the start (inclusive) and closes `closes_before` ahead of it (exclusive). Both windows
are 15 minutes wide, so with runs every 5 minutes each race is in exactly three runs of
each window and is never missed; a race exactly on an edge belongs to one side only,
so no run boundary counts it twice. The first of those runs that succeeds scrapes it;
the Scrape rows tell later runs to leave it alone. After downtime, a race whose window
was missed is caught up by the next run, marked late, while the data still means
something (before the T-15 window for T-60, before the jump for T-15).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from racing.models import Meeting, Race, Scrape, ScrapeOutcome
from racing.store import RaceRef
from racing.tab_payloads import RaceStatus


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@dataclass(frozen=True)
class Window:
    """A pre-race window, named by its kind on Scrape rows."""

    kind: str
    job_type: str
    opens_before: timedelta
    closes_before: timedelta
    # A race whose window was missed (downtime) is still worth scraping, late, while
    # its start is more than this far away; past that the snapshot means nothing.
    late_until: timedelta

    def contains(self, start_time: datetime, instant: datetime) -> bool:
        """Whether a race starting at `start_time` is in this window at `instant`."""
        ahead = start_time - instant
        return self.closes_before < ahead <= self.opens_before

    def accepts(self, start_time: datetime, instant: datetime, *, late: bool) -> bool:
        """Whether a scrape at `instant` counts for this window (a late one too)."""
        ahead = start_time - instant
        floor = self.late_until if late else self.closes_before
        return floor < ahead <= self.opens_before


# A missed T-60 matters until the T-15 window opens; a missed T-15 until the jump.
T60 = Window("t60", "pre_race_t60", _minutes(70), _minutes(55), _minutes(25))
T15 = Window("t15", "pre_race_t15", _minutes(25), _minutes(10), _minutes(0))
WINDOWS = {window.kind: window for window in (T60, T15)}
# The window flows are scheduled every 5 minutes.
RUN_EVERY = _minutes(5)


def superseded(scheduled: datetime, started: datetime) -> bool:
    """Whether a scheduled run starts so late that a later run already covers it.

    After downtime Prefect starts every late run it missed; only the newest is worth
    running, and it catches up the windows the others would have scraped.
    """
    return started - scheduled >= RUN_EVERY


# A race is scraped in a window only while TAB still takes bets on it.
_OPEN = RaceStatus.OPEN.value


@dataclass(frozen=True)
class Chosen:
    """A race a window run will scrape; `late` if its window was missed."""

    race: RaceRef
    late: bool = False


def races_in_window(
    window: Window, instant: datetime, *, session: Session, max_attempts: int
) -> list[Chosen]:
    """Races to scrape now: in the window, open, not done, attempts left.

    Also, marked late, open races whose window passed without a scrape (the
    scheduler was down) while a snapshot is still meaningful.
    """
    done = exists().where(
        Scrape.race_id == Race.id,
        Scrape.kind == window.kind,
        # Done, or being scraped by a run that is still going.
        Scrape.outcome.in_([ScrapeOutcome.OK.value, ScrapeOutcome.RUNNING.value]),
    )
    failed_attempts = (
        select(func.count(Scrape.id))
        .where(
            Scrape.race_id == Race.id,
            Scrape.kind == window.kind,
            Scrape.outcome == ScrapeOutcome.FAILED.value,
        )
        .scalar_subquery()
    )
    missed = instant + window.closes_before
    query = (
        select(Race, Meeting)
        .join(Meeting, Race.meeting_id == Meeting.id)
        .where(
            and_(
                Race.start_time > instant + window.late_until,
                Race.start_time <= instant + window.opens_before,
            ),
            Race.status == _OPEN,
            Meeting.abandoned.is_(False),
            ~done,
            failed_attempts < max_attempts,
        )
        .order_by(Race.start_time, Meeting.venue_mnemonic, Race.race_number)
    )
    return [
        Chosen(RaceRef.of(race, meeting), late=race.start_time <= missed)
        for race, meeting in session.execute(query)
    ]
