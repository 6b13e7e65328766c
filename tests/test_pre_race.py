"""Pre-race windows over a simulated day: one scrape per window, retries, re-timing."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from racing.models import JobRun, Meeting, OddsSnapshot, Race, Runner, Scrape
from tests.factories import (
    Day,
    at,
    local,
    meeting,
    race,
    race_calls,
    run_windows,
    runner,
    scenario,
)


def _scrapes(sessions: sessionmaker[Session], **where: Any) -> list[Scrape]:
    with sessions() as session:
        query = select(Scrape).filter_by(**where).order_by(Scrape.id)
        return list(session.scalars(query))


def test_each_race_is_scraped_once_per_window_over_its_three_runs(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13, 2))])]))
    at(server, jobs, local(6), "morning")
    calls_after_morning = race_calls(server)

    run_windows(server, jobs, local(11, 45), local(13, 0))

    t60 = _scrapes(sessions, kind="t60")
    t15 = _scrapes(sessions, kind="t15")
    assert [(s.outcome, s.started_at) for s in t60] == [("ok", local(11, 55))]
    assert [(s.outcome, s.started_at) for s in t15] == [("ok", local(12, 40))]
    assert race_calls(server) - calls_after_morning == 2


def test_an_empty_window_calls_nothing_and_still_records_its_run(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = day(scenario([meeting("GOS", [race(1, local(15))])]))
    at(server, jobs, local(6), "morning")
    before = server.request_counts()

    at(server, jobs, local(12), "t15")

    assert server.request_counts() == before
    with sessions() as session:
        job = session.scalars(select(JobRun).filter_by(job_type="pre_race_t15")).one()
        assert (job.status, job.items_processed) == ("success", 0)
        assert job.meta["races"] == {}


def test_a_late_scratching_between_t60_and_t15_is_recorded_when_seen(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    scratched = runner(3, scratching={"at": local(12, 20).isoformat(), "late": True})
    card = race(
        1,
        local(13),
        runners=[runner(1), runner(2), scratched, runner(4)],
        results=[[1], [2], [4]],
    )
    server, jobs = day(scenario([meeting("GOS", [card])]))
    at(server, jobs, local(6), "morning")

    at(server, jobs, local(11, 55), "t60")
    at(server, jobs, local(12, 40), "t15")

    with sessions() as session:
        horse = session.scalars(select(Runner).filter_by(runner_number=3)).one()
        assert horse.scratched
        assert horse.scratched_time == local(12, 20)
        assert horse.scratch_seen_at == local(12, 40)
        prices = session.execute(
            select(OddsSnapshot.betting_status, OddsSnapshot.win_fixed)
            .where(OddsSnapshot.runner_id == horse.id)
            .order_by(OddsSnapshot.captured_at)
        ).all()
    statuses = [status for status, _ in prices]
    assert statuses == ["open", "open", "late_scratched"]
    assert prices[1][1] is not None and prices[2][1] is None


def test_a_delayed_race_is_scraped_in_the_windows_of_its_new_time(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    delay = {"at": local(11).isoformat(), "startTime": local(13, 20).isoformat()}
    server, jobs = day(
        scenario([meeting("GOS", [race(1, local(13), startTimeChanges=[delay])])])
    )
    at(server, jobs, local(6), "morning")

    run_windows(server, jobs, local(11, 50), local(13, 5))

    t60 = [(s.outcome, s.started_at) for s in _scrapes(sessions, kind="t60")]
    t15 = [(s.outcome, s.started_at) for s in _scrapes(sessions, kind="t15")]
    # The first T-60 run learns the new time from the race itself: the scrape is
    # kept (odds stored) but the window is done only inside the new window.
    assert t60 == [("moved", local(11, 50)), ("ok", local(12, 10))]
    assert t15 == [("ok", local(12, 55))]
    with sessions() as session:
        assert session.scalars(select(Race.start_time)).one() == local(13, 20)


def test_a_race_brought_forward_is_scraped_in_its_earlier_window(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    earlier = {"at": local(11).isoformat(), "startTime": local(12, 50).isoformat()}
    server, jobs = day(
        scenario([meeting("GOS", [race(1, local(13), startTimeChanges=[earlier])])])
    )
    at(server, jobs, local(6), "morning")

    run_windows(server, jobs, local(11, 50), local(12, 40))

    t60 = [(s.outcome, s.started_at) for s in _scrapes(sessions, kind="t60")]
    t15 = [(s.outcome, s.started_at) for s in _scrapes(sessions, kind="t15")]
    assert t60 == [("ok", local(11, 50))]
    assert t15 == [("ok", local(12, 25))]


def test_a_failing_race_is_retried_twice_then_given_up(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    fault = {
        "endpoint": "race",
        "kind": "status",
        "status": 503,
        "venueMnemonic": "GOS",
        "from": local(12).isoformat(),
    }
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13))])], [fault]))
    at(server, jobs, local(6), "morning")
    calls_after_morning = race_calls(server)

    at(server, jobs, local(11, 55), "t60")
    at(server, jobs, local(12), "t60")
    at(server, jobs, local(12, 5), "t60")

    attempts = [(s.attempt, s.outcome) for s in _scrapes(sessions, kind="t60")]
    assert attempts == [(1, "ok")]
    t15_runs = [local(12, 40), local(12, 45), local(12, 50)]
    for when in t15_runs:
        at(server, jobs, when, "t15")
    attempts = [(s.attempt, s.outcome) for s in _scrapes(sessions, kind="t15")]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "failed")]
    # Given up: the later runs of the window made no call.
    assert race_calls(server) - calls_after_morning == 1 + 3
    with sessions() as session:
        jobs_t15 = session.scalars(
            select(JobRun).filter_by(job_type="pre_race_t15").order_by(JobRun.id)
        ).all()
        assert [(j.status, j.items_failed) for j in jobs_t15] == [
            ("failed", 1),
            ("success", 0),
            ("success", 0),
        ]
        assert "503" in jobs_t15[0].meta["races"]["2026-11-14/R/GOS/1"]["error"]


def test_a_failure_that_clears_is_recovered_by_a_retry(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    fault = {
        "endpoint": "race",
        "kind": "status",
        "status": 500,
        "count": 2,
        "from": local(12).isoformat(),
    }
    server, jobs = day(scenario([meeting("GOS", [race(1, local(13))])], [fault]))
    at(server, jobs, local(6), "morning")

    at(server, jobs, local(12, 40), "t15")

    attempts = [(s.attempt, s.outcome) for s in _scrapes(sessions, kind="t15")]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "ok")]


def test_abandoned_races_and_meetings_leave_the_windows(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    card = scenario(
        [
            meeting("GOS", [race(1, local(13), abandonedAt=local(12, 20).isoformat())]),
            meeting(
                "SCO",
                [race(1, local(13)), race(2, local(13, 30))],
                abandonedAt=local(5).isoformat(),
            ),
        ]
    )
    server, jobs = day(card)
    at(server, jobs, local(6), "morning")

    at(server, jobs, local(11, 55), "t60")
    at(server, jobs, local(12, 40), "t15")
    calls = race_calls(server)
    at(server, jobs, local(12, 45), "t15")
    at(server, jobs, local(12, 50), "t15")

    assert race_calls(server) == calls, "abandoned races leave the windows"
    with sessions() as session:
        rows = session.execute(
            select(Meeting.venue_mnemonic, Race.status, Scrape.kind, Scrape.outcome)
            .join(Race, Scrape.race_id == Race.id)
            .join(Meeting, Race.meeting_id == Meeting.id)
            .where(Scrape.kind != "morning")
            .order_by(Scrape.id)
        ).all()
    # GOS 1 had its T-60 while open; the T-15 run found it abandoned, stored that,
    # and no later run picked it. SCO was abandoned before the morning: no windows.
    assert [tuple(row) for row in rows] == [
        ("GOS", "abandoned", "t60", "ok"),
        ("GOS", "abandoned", "t15", "ok"),
    ]
