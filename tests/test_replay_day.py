"""The whole default race day, replayed tick by tick with `as_of`.

Runs the domain jobs directly (the flows add only Prefect's bookkeeping; `racing
replay` drives the flows themselves), so the full day fits in a test.
"""

from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from racing.models import JobRun, Meeting, Race, Runner, Scrape
from racing.replay import DirectJobs, build_report, day_ticks, replay_day
from racing.settings import load_settings
from racing.simulator.scenario import load_scenario
from racing.simulator.server import SimulatorServer
from racing.tab_client import TabClient

DEFAULT = Path(__file__).resolve().parent.parent / "scenarios" / "default.json"
SYDNEY = ZoneInfo("Australia/Sydney")


def test_the_default_day_has_one_t60_and_one_t15_per_race_that_ran(
    sessions: sessionmaker[Session],
) -> None:
    scenario = load_scenario(DEFAULT)
    starts = [race.start_time for m in scenario.meetings for race in m.races]

    with SimulatorServer(scenario) as server:
        settings = load_settings(
            tab_base_url=server.base_url, http_attempts=1, http_backoff_seconds=0
        )
        with TabClient.from_settings(settings) as client:
            jobs = DirectJobs(client, sessions)
            replay_day(
                scenario.date,
                SYDNEY,
                jobs,
                ticks=day_ticks(scenario.date, SYDNEY, min(starts), max(starts)),
                set_clock=server.set_clock,
            )
        race_calls = server.request_counts()["race"]

    with sessions() as session:
        report = build_report(scenario.date, session=session)
        scrape_rows = session.scalar(select(func.count(Scrape.id)))
        statuses = set(session.scalars(select(JobRun.status)))

    assert report.races == 361 and report.races_run == 352
    for kind in ("t60", "t15"):
        assert report.covered[kind] == report.races_run, kind
        assert report.duplicates.get(kind, 0) == 0, kind
    # Each race call is one Scrape row: a race scraped, a retry, or a re-timed race.
    assert race_calls == scrape_rows
    assert (
        report.scrapes["t60"].get("moved", 0) + report.scrapes["t15"].get("moved", 0)
        <= 3
    ), "only the re-timed races cost an extra call"
    # Every race that ran ends confirmed: officially, or (the two feeds that never
    # say Paying) by unchanged placings at the last check; never more than 1 + 3.
    assert report.result_states == {"official": 350, "unchanged": 2}
    assert report.max_result_checks <= 4
    assert statuses == {"success"}


def test_a_replayed_faulty_morning_shows_the_retry_chain(
    sessions: sessionmaker[Session],
) -> None:
    scenario = load_scenario(DEFAULT.parent / "faulty-morning.json")
    starts = [race.start_time for m in scenario.meetings for race in m.races]

    with SimulatorServer(scenario) as server:
        settings = load_settings(
            tab_base_url=server.base_url, http_attempts=1, http_backoff_seconds=0
        )
        with TabClient.from_settings(settings) as client:
            replay_day(
                scenario.date,
                SYDNEY,
                DirectJobs(client, sessions),
                ticks=day_ticks(scenario.date, SYDNEY, min(starts), max(starts)),
                set_clock=server.set_clock,
                retry_times=settings.morning_retry_times,
            )

    with sessions() as session:
        chain = session.scalars(
            select(JobRun).filter_by(job_type="morning_scrape").order_by(JobRun.id)
        ).all()
        bare_races = session.execute(
            select(Meeting.venue_mnemonic, Race.race_number)
            .join(Meeting)
            .where(~Race.id.in_(select(Runner.race_id)))
        ).all()
    original, *retries = chain
    assert [(j.parent_job_run_id, j.retry_count) for j in retries] == [
        (original.id, 1),
        (original.id, 2),
        (original.id, 3),
    ]
    assert [j.status for j in chain] == ["partial", "failed", "partial", "failed"]
    # GOS and ADD recovered at 06:30; only WPK (one race always broken) is left.
    assert retries[1].meta["failedMeetings"] == ["2026-11-14/G/WPK"]
    assert list(retries[2].meta["meetings"]) == ["2026-11-14/G/WPK"]
    # Every race has its runners but WPK 3, whose payload is always broken.
    assert [tuple(row) for row in bare_races] == [("WPK", 3)]
    ok_by_meeting: dict[str, int] = {}
    for job in chain:
        for code, entry in job.meta["meetings"].items():
            ok_by_meeting[code] = ok_by_meeting.get(code, 0) + (
                entry["outcome"] == "ok"
            )
    assert ok_by_meeting == {
        "2026-11-14/R/GOS": 1,
        "2026-11-14/R/BEN": 1,
        "2026-11-14/H/ADD": 1,
        "2026-11-14/G/WPK": 0,
    }
