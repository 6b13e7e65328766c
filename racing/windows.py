"""Pre-race windows: which races a T-60 or T-15 run at a given instant must scrape.

A race is in a window at instant `t` when its start time lies in
`(t + closes_before, t + opens_before]`, i.e. the window opens `opens_before` ahead of
the start (inclusive) and closes `closes_before` ahead of it (exclusive). Both windows
are 15 minutes wide, so with runs every 5 minutes each race is in exactly three runs of
each window and is never missed; a race exactly on an edge belongs to one side only,
so no run boundary counts it twice. The first of those runs that succeeds scrapes it;
the Scrape rows tell later runs to leave it alone.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from racing.models import Meeting, Race, Scrape, ScrapeOutcome
from racing.store import RaceRef
from racing.tab_payloads import RaceStatus


@dataclass(frozen=True)
class Window:
    """A pre-race window, named by its kind on Scrape rows."""

    kind: str
    job_type: str
    opens_before: timedelta
    closes_before: timedelta

    def contains(self, start_time: datetime, instant: datetime) -> bool:
        """Whether a race starting at `start_time` is in this window at `instant`."""
        ahead = start_time - instant
        return self.closes_before < ahead <= self.opens_before


T60 = Window("t60", "pre_race_t60", timedelta(minutes=70), timedelta(minutes=55))
T15 = Window("t15", "pre_race_t15", timedelta(minutes=25), timedelta(minutes=10))
WINDOWS = {window.kind: window for window in (T60, T15)}

# A race is scraped in a window only while TAB still takes bets on it.
_OPEN = RaceStatus.OPEN.value


def races_in_window(
    window: Window, instant: datetime, *, session: Session, max_attempts: int
) -> list[RaceRef]:
    """Races to scrape now: in the window, open, not done, attempts left."""
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
    query = (
        select(Race, Meeting)
        .join(Meeting, Race.meeting_id == Meeting.id)
        .where(
            and_(
                Race.start_time > instant + window.closes_before,
                Race.start_time <= instant + window.opens_before,
            ),
            Race.status == _OPEN,
            Meeting.abandoned.is_(False),
            ~done,
            failed_attempts < max_attempts,
        )
        .order_by(Race.start_time, Meeting.venue_mnemonic, Race.race_number)
    )
    return [RaceRef.of(race, meeting) for race, meeting in session.execute(query)]
