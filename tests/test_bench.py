"""The race-day benchmark: the pollers' exact calls, ours, and the scoring maths."""

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from racing.bench.baselines import NAIVE, baseline_ticks, replay_baseline
from racing.bench.chart import chart_available, write_chart
from racing.bench.day import DayBench, bench_day
from racing.bench.job_times import JobTime, morning_gap, summarise_times
from racing.bench.minimum import checks_on_schedule, minimum_calls
from racing.bench.model import WHOLE_DAY, predicted_polls
from racing.bench.report import (
    BenchReport,
    console_summary,
    job_times_table,
    render,
)
from racing.bench.scoring import Fetch, fetches_from_log, score
from racing.bench.timelines import RaceTimeline, race_timeline, timelines_of
from racing.simulator.generate import build_carnival
from racing.simulator.scenario import load_scenario, parse_scenario
from racing.simulator.state import race_state
from tests.factories import local, meeting, race, scenario

ROOT = Path(__file__).resolve().parent.parent
FOLLOWUPS = [timedelta(minutes=m) for m in (5, 5, 10)]
# One race at noon: interim at 12:05, official at 12:12 (the scenario defaults).
ONE_RACE = scenario([meeting("BEN", [race(1, local(12))])])


def polls_per_race(server_log: list[Fetch]) -> Counter[int]:
    return Counter(fetch.key[2] for fetch in server_log)


def test_naive_polling_fetches_one_race_every_5_minutes_from_t75_to_official(
    sessions: sessionmaker[Session],
) -> None:
    ticks = baseline_ticks(local(10, 30), local(13), NAIVE.every)

    requests = replay_baseline(NAIVE, ONE_RACE, sessions=sessions, ticks=ticks)

    fetches = fetches_from_log(requests)
    # 10:45 (T-75) to 12:15, the first tick to see the 12:12 official result.
    assert len(fetches) == 90 // 5 + 1
    assert [f.at for f in fetches] == predicted_polls(timelines_of(ONE_RACE)[0], ticks)
    assert fetches[0].at == local(10, 45) and all(f.ok for f in fetches)
    assert Counter(r.endpoint for r in requests)["meetings"] == 1


def test_the_model_predicts_the_poller_for_re_timed_unpaid_and_abandoned_races(
    sessions: sessionmaker[Session],
) -> None:
    card = scenario(
        [
            meeting(
                "BEN",
                [
                    race(
                        1,
                        local(12),
                        startTimeChanges=[
                            {
                                "at": local(11, 30).isoformat(),
                                "startTime": local(12, 20).isoformat(),
                            }
                        ],
                    ),
                    race(2, local(12, 30), neverPaying=True),
                    race(3, local(13), abandonedAt=local(11, 50).isoformat()),
                ],
            )
        ]
    )
    ticks = baseline_ticks(local(10, 30), local(14), NAIVE.every)

    requests = replay_baseline(NAIVE, card, sessions=sessions, ticks=ticks)

    polled = polls_per_race(fetches_from_log(requests))
    predicted = {tl.key[2]: predicted_polls(tl, ticks) for tl in timelines_of(card)}
    assert polled == {n: len(instants) for n, instants in predicted.items()}
    # Delayed to 12:20 at 11:30: polled to 12:35, the first tick past 12:32 official.
    # Never official: polled to start + 45. Abandoned at 11:50: 11:45 and 11:50.
    assert polled == {1: 23, 2: 25, 3: 2}
    whole_day = predicted_polls(timelines_of(card)[1], ticks, lead=WHOLE_DAY)
    assert len(whole_day) == len(ticks[: ticks.index(local(13, 15)) + 1])


@pytest.fixture(scope="module")
def one_race_day(tmp_path_factory: pytest.TempPathFactory) -> DayBench:
    """The one-race day benched: ours (in its own process) and both baselines."""
    folder = tmp_path_factory.mktemp("bench")
    path = folder / "one-race.json"
    path.write_text(json.dumps(ONE_RACE.model_dump(mode="json", by_alias=True)))
    return bench_day(path, folder / "work", baseline_budget=0)


def test_our_scheduler_makes_the_minimum_on_its_result_schedule(
    one_race_day: DayBench,
) -> None:
    ours, minimum = one_race_day.figures[0], one_race_day.minimum

    # Morning, T-60 at 10:50, T-15 at 11:35, checks at 12:05, 12:10 and 12:15.
    assert ours.calls == 6 == len(one_race_day.ours.scrapes)
    assert (minimum.total, minimum.on_schedule) == (4, 6)
    assert ours.covered == {"t60": 1, "t15": 1, "result": 1}
    assert (ours.missed, ours.duplicates) == (0, 1)  # 12:10 saw 12:05's interim
    odds = ours.lags["odds"]
    assert (odds.median, odds.worst, odds.never) == (
        timedelta(minutes=15),
        timedelta(minutes=40),
        0,
    )
    assert ours.lags["result"].stored == (timedelta(minutes=3),)
    result_job = one_race_day.jobs[-1]
    assert (result_job.minimum, result_job.on_schedule, result_job.ours) == (1, 3, 3)
    assert result_job.reasons == {"follow-ups the result timing forced": 2}


def test_the_bench_day_matches_the_real_pollers_and_renders(
    one_race_day: DayBench, tmp_path: Path
) -> None:
    # Old: every minute from 10:45 to 12:12, when the result turns official.
    assert [f.calls for f in one_race_day.figures] == [6, 87 + 1, 90 // 5 + 1]
    assert [run.sample_calls for run in one_race_day.baselines] == [88, 19]
    assert all(run.mismatched == [] for run in one_race_day.baselines)

    report = BenchReport("racing bench", "now", "a test", [one_race_day])
    text = render(report) + console_summary(report)

    assert "| ours: T-60, T-15 and result checks | 6 | 6.0 | 1.50 |" in text
    assert "| minimum (below) | 4 |" in text
    if chart_available():
        write_chart(one_race_day, tmp_path / "chart.png")
        assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_every_job_run_of_our_replay_is_timed_and_tabled_per_job(
    one_race_day: DayBench,
) -> None:
    # Ticks from 05:55 to 12:45, 45 minutes after the race: 83 of them.
    runs = Counter(one.job for one in one_race_day.ours.job_times)
    table = job_times_table(one_race_day)

    assert runs == {
        "morning": 1,
        "morning retry": 3,
        "t60": 83,
        "t15": 83,
        "post-race": 83,
    }
    assert sum(runs.values()) == one_race_day.ours.jobs
    assert table[0] == (
        "| job | runs | median, s | slowest, s | slowest at | most race calls "
        "in a run | must end within | runs over |"
    )
    cells = [row.split(" | ") for row in table[2:]]
    assert [(c[0], c[1], c[5], c[6]) for c in cells] == [
        ("| morning", "1", "1", "900 s"),
        ("| morning retries", "3", "0", "900 s"),
        ("| T-60", "83", "1", "300 s"),
        ("| T-15", "83", "1", "300 s"),
        ("| results (post-race)", "83", "1", "300 s"),
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="a quirk of Linux's ru_maxrss")
def test_a_child_process_reports_its_own_peak_memory_not_its_parents() -> None:
    # Linux keeps the peak RSS across exec: measured that way, a child of the big
    # `racing bench` process reported the parent's size as the replay's.
    _ballast = bytearray(b"x") * (384 * 1024 * 1024)
    code = "from racing.bench.ours import peak_rss_mib; print(peak_rss_mib())"

    found = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )

    assert float(found.stdout) < 256


def test_a_run_overruns_when_it_ends_at_or_after_the_next_run_of_its_job() -> None:
    at = datetime(2026, 11, 14, 1, 0, tzinfo=UTC)
    times = [
        JobTime("t60", at, 12.0, 3),
        JobTime("t60", at + timedelta(minutes=5), 300.0, 40),
        JobTime("t60", at + timedelta(minutes=10), 2.0, 1),
        JobTime("morning", at, 899.0, 361),
    ]

    morning, t60 = summarise_times(times, morning=timedelta(minutes=15))

    assert (t60.runs, t60.median_seconds, t60.slowest_seconds) == (3, 12.0, 300.0)
    assert (t60.slowest_tick, t60.most_calls, t60.overran) == (times[1].tick, 40, 1)
    assert (morning.runs, morning.overran) == (1, 0)


def test_a_morning_run_has_until_the_first_retry() -> None:
    retries = [time(6, 30), time(6, 15), time(7, 0)]

    assert morning_gap(retries) == timedelta(minutes=15)
    assert morning_gap([]) == timedelta(days=1)


NOON = datetime(2026, 11, 14, 1, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return NOON + timedelta(minutes=n)


def hand_made(number: int, **overrides: object) -> RaceTimeline:
    """A race at NOON + 2 h (03:00 UTC): interim 5 and official 12 minutes later."""
    fields: dict[str, object] = {
        "key": ("R", "BEN", number),
        "start_time": minutes(120),
        "jump": minutes(120),
        "interim_at": minutes(125),
        "paying_at": minutes(132),
        **overrides,
    }
    return RaceTimeline(**fields)  # type: ignore[arg-type]


def test_coverage_duplicates_misses_and_lags_on_hand_made_fetches() -> None:
    covered = hand_made(1, scratchings=(minutes(100.5),))
    late = hand_made(2)
    abandoned = hand_made(3, abandoned_at=minutes(90))
    fetches = [
        Fetch(covered.key, minutes(50)),  # T-60 (start 70 min away)
        Fetch(covered.key, minutes(51)),  # same 5-minute bucket: nothing new
        Fetch(covered.key, minutes(95)),  # T-15, before the scratching
        Fetch(covered.key, minutes(130)),  # interim placings, not yet official
        Fetch(covered.key, minutes(135)),  # official, 3 minutes late
        Fetch(late.key, minutes(50), ok=False),  # failed: stores nothing
        Fetch(late.key, minutes(96)),  # T-15 only
        Fetch(abandoned.key, minutes(50)),
    ]

    figures = score("test", [covered, late, abandoned], fetches, since=minutes(0))

    assert (figures.calls, figures.races, figures.races_run) == (8, 3, 2)
    assert figures.covered == {"t60": 1, "t15": 2, "result": 1}
    assert figures.missed == 1  # race 2: no T-60, no result
    assert figures.duplicates == 1
    assert figures.coverage("t15") == 100.0 and figures.coverage("t60") == 50.0
    scratching = figures.lags["scratching"]
    assert scratching.stored == (timedelta(minutes=29.5),) and scratching.never == 0
    result = figures.lags["result"]
    assert result.stored == (timedelta(minutes=3),) and result.never == 1
    # Odds move at 45, 50, ... 115 (15 buckets up to the jump), for each race that ran.
    odds = figures.lags["odds"]
    assert len(odds.stored) + odds.never == 30
    assert odds.stored[:3] == (
        timedelta(minutes=5),
        timedelta(0),
        timedelta(minutes=40),
    )


@pytest.mark.parametrize(
    ("paying_after", "checks"),
    [(3, 1), (12, 3), (14, 3), (16, 4), (None, 4)],
)
def test_result_checks_our_schedule_needs_until_the_official_result(
    paying_after: int | None, checks: int
) -> None:
    paying = None if paying_after is None else minutes(120 + paying_after)
    tl = hand_made(1, paying_at=paying)

    # First check 12:05, then 12:10, 12:15 and 12:25.
    assert checks_on_schedule(tl, minutes(0), FOLLOWUPS) == checks


def test_the_minimum_skips_windows_a_race_was_abandoned_before() -> None:
    timelines = [
        hand_made(1),
        hand_made(2, abandoned_at=minutes(95)),  # after T-60 opens, before T-15
        hand_made(3, abandoned_at=minutes(0)),
        hand_made(4, paying_at=None),
    ]

    minimum = minimum_calls(timelines, first_tick=minutes(0), followups=FOLLOWUPS)

    assert (minimum.morning, minimum.t60, minimum.t15) == (4, 3, 2)
    assert minimum.results == 1 + 2  # a feed never official needs two looks
    assert minimum.results_on_schedule == 3 + 4


def test_timelines_agree_with_the_simulator_over_the_default_day() -> None:
    day = load_scenario(ROOT / "scenarios" / "default.json")
    instants = [local(h, m) for h in range(6, 24, 2) for m in (0, 7, 31)]

    for found in day.meetings:
        for one in found.races:
            tl = race_timeline(day, found, one)
            for instant in instants:
                state = race_state(day, found, one, instant)
                assert tl.status(instant) == state.status, (tl.key, instant)
                assert tl.advertised_start(instant) == state.advertised_start


def test_a_carnival_day_is_the_default_card_scale_times_over_in_more_countries() -> (
    None
):
    card = parse_scenario(build_carnival(2))

    races = [r for m in card.meetings for r in m.races]
    assert (len(card.meetings), len(races)) == (80, 722)
    assert {m.location for m in card.meetings} >= {"NSW", "NZL", "JPN"}
    assert sum(1 for r in races if r.never_paying) == 4
