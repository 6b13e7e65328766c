"""What each race of a scenario shows, instant by instant: the truth a strategy is
scored against.

A `RaceTimeline` holds the instants at which a race's feed changes: start-time
announcements, the jump, interim and official placings, abandonment, scratchings, and
the simulator's 5-minute odds buckets. It mirrors `racing.simulator.state.race_state`
(a test keeps the two in step) but can also be written by hand for tests.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

from racing.simulator.odds import BUCKET, bucket_start
from racing.simulator.scenario import Meeting, Race, Scenario

# (race type, venue mnemonic, race number), as in the API path.
RaceKey = tuple[str, str, int]
MeetingKey = tuple[str, str]

OPEN, CLOSED, INTERIM, PAYING, ABANDONED = (
    "Open",
    "Closed",
    "Interim",
    "Paying",
    "Abandoned",
)
# Prices freeze just before the jump, as the simulator freezes them.
_FREEZE = timedelta(microseconds=1)


@dataclass(frozen=True)
class RaceTimeline:
    """One race's feed over the day, as instants."""

    key: RaceKey
    start_time: datetime
    jump: datetime
    interim_at: datetime
    # None for a feed that never says Paying.
    paying_at: datetime | None
    abandoned_at: datetime | None = None
    # (announced at, new start), in order.
    start_changes: tuple[tuple[datetime, datetime], ...] = ()
    scratchings: tuple[datetime, ...] = ()

    @property
    def meeting(self) -> MeetingKey:
        """The race type and venue of the race's meeting."""
        return self.key[0], self.key[1]

    @property
    def ran(self) -> bool:
        """Whether the race was run (neither it nor its meeting was abandoned)."""
        return self.abandoned_at is None

    @property
    def final_start(self) -> datetime:
        """The start time advertised after the last change."""
        return self.start_changes[-1][1] if self.start_changes else self.start_time

    @property
    def result_at(self) -> datetime | None:
        """When the final result shows: official, or the last placings of a feed
        that never says Paying; None for a race that did not run."""
        if not self.ran:
            return None
        return self.paying_at or self.interim_at

    def advertised_start(self, now: datetime) -> datetime:
        """The start time the feed shows at `now`."""
        start = self.start_time
        for announced, new_start in self.start_changes:
            if announced <= now:
                start = new_start
        return start

    def status(self, now: datetime) -> str:
        """The race status the feed shows at `now`."""
        if self.abandoned_at is not None and now >= self.abandoned_at:
            return ABANDONED
        if now < self.jump:
            return OPEN
        if now < self.interim_at:
            return CLOSED
        if self.paying_at is None or now < self.paying_at:
            return INTERIM
        return PAYING

    def finished(self, now: datetime) -> bool:
        """Whether nothing about the race will change after `now`."""
        return self.status(now) in (PAYING, ABANDONED)

    def state(self, now: datetime) -> Hashable:
        """Everything a fetch at `now` shows that can change, so equal states mean
        a fetch brought nothing new."""
        prices = bucket_start(min(now, self.jump - _FREEZE))
        scratched = sum(1 for at in self.scratchings if at <= now)
        return self.status(now), self.advertised_start(now), prices, scratched

    def odds_changes(self, since: datetime) -> list[datetime]:
        """The instants from `since` on at which the race's prices move."""
        change = bucket_start(since)
        if change < since:
            change += BUCKET
        changes = []
        while change < self.jump:
            changes.append(change)
            change += BUCKET
        return changes


def timelines_of(scenario: Scenario) -> list[RaceTimeline]:
    """Every race of the scenario as a timeline, in scenario order."""
    return [
        race_timeline(scenario, meeting, race)
        for meeting in scenario.meetings
        for race in meeting.races
    ]


def race_timeline(scenario: Scenario, meeting: Meeting, race: Race) -> RaceTimeline:
    """The timeline of one race of a scenario."""
    jump = race.jump_time
    return RaceTimeline(
        key=(meeting.race_type, meeting.venue_mnemonic, race.race_number),
        start_time=race.start_time,
        jump=jump,
        interim_at=jump + scenario.interim_after(race),
        paying_at=None if race.never_paying else jump + scenario.paying_after(race),
        abandoned_at=meeting.race_abandoned_at(race),
        start_changes=tuple((c.at, c.start_time) for c in race.start_time_changes),
        scratchings=tuple(
            sorted(r.scratching.at for r in race.runners if r.scratching is not None)
        ),
    )
