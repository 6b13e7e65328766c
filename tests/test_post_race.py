"""Post-race result checks: provisional to official, bounded follow-ups, odd races."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from racing.models import JobRun, Race, Result, Scrape
from tests.factories import Day, at, local, meeting, race, race_calls, scenario, ticks

AFTER_START = ticks(local(13, 5), local(14, 0))


def _day(day: Day, faults: list[dict[str, Any]] | None = None, **overrides: Any) -> Any:
    server, jobs = day(
        scenario([meeting("GOS", [race(1, local(13), **overrides)])], faults)
    )
    at(server, jobs, local(6), "morning")
    return server, jobs


def _run_checks(server: Any, jobs: Any) -> None:
    for when in AFTER_START:
        at(server, jobs, when, "post_race")


def _checks(sessions: sessionmaker[Session]) -> list[tuple[int, str, Any]]:
    with sessions() as session:
        rows = session.execute(
            select(Scrape.attempt, Scrape.outcome, Scrape.started_at)
            .filter_by(kind="result")
            .order_by(Scrape.id)
        ).all()
    return [
        (attempt, outcome, started.astimezone(local(0).tzinfo).strftime("%H:%M"))
        for attempt, outcome, started in rows
    ]


def _race(sessions: sessionmaker[Session]) -> Race:
    with sessions() as session:
        return session.scalars(select(Race)).one()


def _results(sessions: sessionmaker[Session]) -> list[Result]:
    with sessions() as session:
        return list(session.scalars(select(Result).order_by(Result.id)))


def test_a_result_official_at_the_first_check_needs_no_follow_up(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(day, interimAfterSeconds=120, payingAfterSeconds=240)
    before = race_calls(server)

    _run_checks(server, jobs)

    assert [c[:2] for c in _checks(sessions)] == [(1, "ok")]
    assert race_calls(server) - before == 1
    assert _race(sessions).result_state == "official"
    [result] = _results(sessions)
    assert (result.official, result.confirmed_by) == (True, "official")
    assert result.positions == [[1], [2], [3]]
    assert {d["product"] for d in result.dividends} >= {"Win", "Quinella"}


def test_a_provisional_result_is_followed_until_official(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(day, interimAfterSeconds=240, payingAfterSeconds=720)

    _run_checks(server, jobs)

    assert _checks(sessions) == [
        (1, "ok", "13:05"),
        (2, "ok", "13:10"),
        (3, "ok", "13:15"),
    ]
    assert _race(sessions).result_state == "official"
    [result] = _results(sessions)
    assert (result.official, result.confirmed_by) == (True, "official")
    with sessions() as session:
        runs = session.scalars(
            select(JobRun).filter_by(job_type="post_race").order_by(JobRun.id)
        ).all()
        checked = [run.meta["races"] for run in runs if run.meta["races"]]
    assert [entry["2026-11-14/R/GOS/1"]["followUp"] for entry in checked] == [0, 1, 2]
    assert [entry["2026-11-14/R/GOS/1"]["state"] for entry in checked] == [
        "pending",
        "pending",
        "official",
    ]


def test_a_protest_keeps_the_provisional_version_and_stores_the_new_one(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(
        day,
        interimAfterSeconds=240,
        payingAfterSeconds=720,
        interimResults=[[2], [1], [3]],
        results=[[1], [2], [3]],
    )

    _run_checks(server, jobs)

    provisional, official = _results(sessions)
    assert provisional.positions == [[2], [1], [3]]
    assert provisional.superseded_at == local(13, 15)
    assert not provisional.official
    assert official.positions == [[1], [2], [3]]
    assert (official.official, official.superseded_at) == (True, None)


def test_a_race_never_confirmed_is_given_up_after_three_follow_ups(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    # The race jumps 40 minutes late: no placings at any check.
    server, jobs = _day(day, jumpDelaySeconds=2400)
    before = race_calls(server)

    _run_checks(server, jobs)

    assert _checks(sessions) == [
        (1, "ok", "13:05"),
        (2, "ok", "13:10"),
        (3, "ok", "13:15"),
        (4, "ok", "13:25"),
    ]
    assert race_calls(server) - before == 4
    assert _race(sessions).result_state == "unconfirmed"
    with sessions() as session:
        last = session.scalars(
            select(JobRun).filter_by(job_type="post_race", items_failed=1)
        ).one()
        assert last.status == "failed"
        assert last.meta["failedRaces"] == ["2026-11-14/R/GOS/1"]


def test_placings_unchanged_at_the_last_checks_confirm_a_feed_without_official(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(day, interimAfterSeconds=240, neverPaying=True)

    _run_checks(server, jobs)

    assert len(_checks(sessions)) == 4
    assert _race(sessions).result_state == "unchanged"
    [result] = _results(sessions)
    assert (result.official, result.confirmed_by) == (False, "unchanged")


def test_a_dead_heat_keeps_both_winners_and_split_dividends(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(
        day, interimAfterSeconds=120, payingAfterSeconds=240, results=[[1, 2], [3]]
    )

    _run_checks(server, jobs)

    [result] = _results(sessions)
    assert result.positions == [[1, 2], [3]]
    wins = [d for d in result.dividends if d["product"] == "Win"]
    assert sorted(d["selections"][0] for d in wins) == [1, 2]


def test_an_abandoned_race_is_checked_once_and_left(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    server, jobs = _day(day, abandonedAt=local(13, 3).isoformat())
    before = race_calls(server)

    _run_checks(server, jobs)

    assert race_calls(server) - before == 1
    race_row = _race(sessions)
    assert (race_row.status, race_row.result_state) == ("abandoned", None)
    assert _results(sessions) == []


def test_an_api_failure_during_a_follow_up_is_recorded_and_the_next_one_goes_on(
    day: Day, sessions: sessionmaker[Session]
) -> None:
    outage = {
        "endpoint": "race",
        "kind": "status",
        "status": 503,
        "from": local(13, 8).isoformat(),
        "until": local(13, 12).isoformat(),
    }
    server, jobs = _day(day, [outage], interimAfterSeconds=240, payingAfterSeconds=720)

    _run_checks(server, jobs)

    assert _checks(sessions) == [
        (1, "ok", "13:05"),
        (2, "failed", "13:10"),
        (3, "ok", "13:15"),
    ]
    assert _race(sessions).result_state == "official"
    with sessions() as session:
        failed = session.scalars(
            select(JobRun).filter_by(job_type="post_race", status="failed")
        ).one()
        assert "503" in failed.meta["races"]["2026-11-14/R/GOS/1"]["error"]
