"""The benchmark's markdown report and its console summary."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from racing.bench.day import OURS, DayBench
from racing.bench.job_times import (
    MORNING,
    MORNING_RETRY,
    POST_RACE,
    JobTimes,
    busiest_tick,
    summarise_times,
)
from racing.bench.scoring import Figures, Lags
from racing.replay import LEAD, TAIL
from racing.settings import load_settings

_JOB_LABELS = {
    MORNING: "morning",
    MORNING_RETRY: "morning retries",
    "t60": "T-60",
    "t15": "T-15",
    POST_RACE: "results (post-race)",
}


@dataclass(frozen=True)
class MorningTiming:
    """The morning flow with a slow API: the whole run against its meetings."""

    latency_ms: int
    concurrency: int
    meetings: int
    races: int
    flow_seconds: float
    # From the first race call's start to the last one's end.
    tasks_seconds: float
    slowest_meeting: str
    slowest_races: int
    slowest_in_run_seconds: float
    slowest_alone_seconds: float
    # Each meeting's first call to its last in the run, added up.
    meetings_sum_seconds: float

    @property
    def call_seconds(self) -> float:
        """One race call with nothing else running, from the slowest meeting alone."""
        return self.slowest_alone_seconds / self.slowest_races

    @property
    def floor_seconds(self) -> float:
        """No concurrency beats the slowest meeting, nor every call shared out."""
        shared = self.races * self.call_seconds / self.concurrency
        return max(self.slowest_alone_seconds, shared)


@dataclass(frozen=True)
class PrefectCosts:
    """Wall times of empty window flow runs."""

    mode: str
    first_seconds: float
    empty_seconds: tuple[float, ...]

    @property
    def per_run(self) -> float:
        return statistics.median(self.empty_seconds)


@dataclass(frozen=True)
class BenchReport:
    """Every figure of one `racing bench` run."""

    command: str
    when: str
    machine: str
    days: Sequence[DayBench]
    mornings: Sequence[MorningTiming] = ()
    prefect: PrefectCosts | None = None
    charts: Sequence[str] = ()
    notes: Sequence[str] = field(default_factory=list)

    def projected_replay(self, day: DayBench) -> float | None:
        """`racing replay` estimated: our domain time plus Prefect's floor."""
        if self.prefect is None:
            return None
        return day.ours.seconds + day.ours.jobs * self.prefect.per_run


def strategy_table(day: DayBench) -> list[str]:
    """The comparison table, one row per strategy and one for the minimum."""
    header = (
        "| strategy | race calls | calls/race | x minimum | T-60 | T-15 | result "
        "| duplicate scrapes | races missed | odds lag | scratching lag "
        "| result lag |"
    )
    rows = [header, "|---|" + "---:|" * 11]
    for figures in day.figures:
        rows.append(_row(figures, day.minimum.total))
    minimum = day.minimum.total
    rows.append(
        f"| minimum (below) | {minimum:,} | {minimum / day.races:.1f} | 1.00 "
        "| | | | | | | | |"
    )
    return rows


def job_times(day: DayBench) -> list[JobTimes]:
    """Our replay's runs per job, against the time each run has."""
    return summarise_times(day.ours.job_times, morning=day.ours.morning_budget)


def job_times_table(day: DayBench) -> list[str]:
    """Per job: runs, median and slowest wall seconds, and runs over their time."""
    zone = load_settings().zone
    rows = [
        "| job | runs | median, s | slowest, s | slowest at | most race calls "
        "in a run | must end within | runs over |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for job in job_times(day):
        rows.append(
            f"| {_JOB_LABELS.get(job.job, job.job)} | {job.runs:,} "
            f"| {job.median_seconds:.2f} | {job.slowest_seconds:.2f} "
            f"| {job.slowest_tick.astimezone(zone):%H:%M} | {job.most_calls:,} "
            f"| {job.budget.total_seconds():,.0f} s | {job.overran:,} |"
        )
    return rows


def render(report: BenchReport) -> str:
    """The whole report as markdown."""
    lines = [
        "# Race-day benchmark",
        "",
        f"`{report.command}`, run {report.when} on {report.machine}.",
        "",
        "Every strategy replays the same scenario on the same simulated clock, each on "
        "its own simulator and database. Lags are in minutes, median / worst; "
        "[what each column means](#what-the-columns-mean).",
    ]
    for index, day in enumerate(report.days):
        morning = report.mornings[index] if index < len(report.mornings) else None
        chart = report.charts[index] if index < len(report.charts) else None
        lines += ["", *_day_section(report, day, morning, chart)]
    if len(report.days) > 1:
        lines += ["", *_growth(report)]
    lines += ["", *_definitions()]
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def console_summary(report: BenchReport) -> str:
    """The strategy tables and the headline numbers, for the terminal."""
    lines: list[str] = []
    for index, day in enumerate(report.days):
        lines += [f"{day.name}: {day.meetings} meetings, {day.races:,} races", ""]
        lines += strategy_table(day)
        lines += ["", *job_times_table(day)]
        lines += [
            "",
            _ours_against_minimum(day),
            f"our replay without Prefect: {day.ours.seconds:.0f} s "
            f"({day.ours.cpu_seconds:.0f} s CPU) for {day.ours.jobs} job runs; "
            f"peak memory {day.ours.peak_rss_mib:.0f} MiB",
        ]
        if index < len(report.mornings):
            morning = report.mornings[index]
            lines.append(
                f"morning flow at {morning.latency_ms} ms per call, "
                f"{morning.concurrency} at once: {morning.flow_seconds:.1f} s; "
                f"slowest meeting alone {morning.slowest_alone_seconds:.1f} s"
            )
        prefect, projected = report.prefect, report.projected_replay(day)
        if prefect is not None and projected is not None:
            lines.append(
                f"Prefect: empty window flow run {prefect.per_run:.2f} s (the first "
                f"{prefect.first_seconds:.1f} s), so `racing replay` would take "
                f"about {projected / 60:.0f} min"
            )
        lines.append("")
    return "\n".join(lines)


def _row(figures: Figures, minimum: int) -> str:
    cells = [
        figures.strategy,
        f"{figures.calls:,}",
        f"{figures.calls_per_race:.1f}",
        f"{figures.calls / minimum:.2f}" if minimum else "",
        *(f"{figures.coverage(w):.1f}%" for w in ("t60", "t15", "result")),
        f"{figures.duplicates:,}",
        f"{figures.missed}",
        *(_lag(figures.lags[k]) for k in ("odds", "scratching", "result")),
    ]
    return "| " + " | ".join(cells) + " |"


def _lag(lags: Lags) -> str:
    if lags.median is None or lags.worst is None:
        text = "none"
    else:
        text = f"{_minutes(lags.median)} / {_minutes(lags.worst)}"
    return text + (f" ({lags.never} never)" if lags.never else "")


def _minutes(value: timedelta) -> str:
    return f"{value.total_seconds() / 60:.1f}"


def _ours_against_minimum(day: DayBench) -> str:
    ours = day.figures[0].calls
    minimum = day.minimum
    return (
        f"ours: {ours:,} race calls = {ours / minimum.total:.2f} x the minimum "
        f"({minimum.total:,}), {ours / minimum.on_schedule:.3f} x the minimum on our "
        f"result schedule ({minimum.on_schedule:,})"
    )


def _day_section(
    report: BenchReport,
    day: DayBench,
    morning: MorningTiming | None,
    chart: str | None,
) -> list[str]:
    ran = day.figures[0].races_run
    lines = [
        f"## {day.name}: {day.meetings} meetings, {day.races:,} races ({ran:,} ran)",
        "",
        *strategy_table(day),
    ]
    if chart:
        lines += ["", f"![calls, coverage and lag on {day.name}]({chart})"]
    lines += ["", *_minimum_section(day), "", *_baselines_section(day)]
    lines += ["", *_job_times_section(day)]
    if morning is not None:
        lines += ["", *_morning_section(morning)]
    lines += ["", *_overhead_section(report, day)]
    lines += [
        "",
        "<details><summary>Our replay's own report</summary>",
        "",
        "```",
        day.replay_report,
        "```",
        "",
        "</details>",
    ]
    return lines


def _minimum_section(day: DayBench) -> list[str]:
    m = day.minimum
    ours = day.figures[0].calls
    lines = [
        "### Our calls against the minimum",
        "",
        f"Minimum: {m.morning:,} morning + {m.t60:,} T-60 + {m.t15:,} T-15 + "
        f"{m.results:,} result checks = **{m.total:,}**. Result checks on our "
        f"follow-up schedule until each result shows: {m.results_on_schedule:,}, "
        f"so **{m.on_schedule:,}** with the result timing.",
        "",
        _ours_against_minimum(day) + ".",
    ]
    if ours > m.total * 1.05:
        lines += [
            "",
            "We are more than 5% above it. Where the calls go, per job (one Scrape "
            "row is one call):",
            "",
            "| job | minimum | on our result schedule | ours | above the minimum "
            "| of which |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for job in day.jobs:
            reasons = "; ".join(f"{why}: {n:,}" for why, n in job.reasons.items())
            lines.append(
                f"| {job.job} | {job.minimum:,} | {job.on_schedule:,} | "
                f"{job.ours:,} | {job.extra:+,} | {reasons} |"
            )
    return lines


def _baselines_section(day: DayBench) -> list[str]:
    lines = [
        "### How the baselines ran",
        "",
        f"Each poller reads the meeting list once, then at each tick fetches every "
        f"race from {_whole(LEAD)} minutes before the start it last saw until the "
        f"feed says Paying or Abandoned, or {_whole(TAIL)} minutes after the start. "
        "Whole-day figures come from the scenario (`racing.bench.model`); the real "
        "poller (HTTP, upserts, Scrape rows) ran over every n-th meeting and must "
        "poll exactly the predicted instants.",
        "",
        "| baseline | real poller on | real calls | predicted | races that differ "
        "| poller wall time | polling from the first tick instead |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in day.baselines:
        lines.append(
            f"| {run.baseline.name} | {_count(run.sample_meetings, 'meeting')} (every "
            f"{_nth(run.sample_every)}), {run.sample_races} races "
            f"| {run.sample_calls:,} | {run.predicted_sample_calls:,} "
            f"| {len(run.mismatched)} | {run.seconds:.0f} s "
            f"| {run.whole_day_calls:,} calls |"
        )
    for run in day.baselines:
        if run.mismatched:
            shown = ", ".join("/".join(map(str, key)) for key in run.mismatched[:5])
            lines += ["", f"{run.baseline.name} differs from the model on {shown}."]
    return lines


def _job_times_section(day: DayBench) -> list[str]:
    lines = [
        "### Our job runs against their time",
        "",
        "Each run of our replay (`DirectJobs`, no Prefect, API not slowed), in wall "
        "seconds. A window or result run must end before the next 5-minute tick "
        "starts the next one; a morning run before the next morning run. Figures "
        "only: they vary with the machine and its load.",
        "",
        *job_times_table(day),
    ]
    busiest = busiest_tick(day.ours.job_times)
    if busiest is not None:
        tick, seconds = busiest
        local = tick.astimezone(load_settings().zone)
        lines += [
            "",
            f"The busiest tick, {local:%H:%M}, took {seconds:.1f} s for all its "
            "runs one after the other.",
        ]
    return lines


def _morning_section(morning: MorningTiming) -> list[str]:
    return [
        "### Morning scrape",
        "",
        f"The real `morning-scrape` flow in Prefect, {morning.meetings} meetings and "
        f"{morning.races:,} races, every API call slowed by {morning.latency_ms} ms, "
        f"{morning.concurrency} meetings at once (`RACING_SCRAPE_CONCURRENCY`). The "
        "simulator serves from the same process, so its threads share the flow's "
        "interpreter and CPUs:",
        "",
        "| | seconds |",
        "|---|---:|",
        f"| flow run, start to end | {morning.flow_seconds:.1f} |",
        f"| first race call to last | {morning.tasks_seconds:.1f} |",
        f"| slowest meeting ({morning.slowest_meeting}, {morning.slowest_races} "
        f"races) in the run | {morning.slowest_in_run_seconds:.1f} |",
        f"| the same meeting scraped alone | {morning.slowest_alone_seconds:.1f} |",
        f"| every meeting's first call to last in the run, added up "
        f"| {morning.meetings_sum_seconds:.1f} |",
        f"| floor at this concurrency: the slowest meeting alone, or {morning.races:,} "
        f"calls x {morning.call_seconds:.3f} s (one call alone) / "
        f"{morning.concurrency} | {morning.floor_seconds:.1f} |",
    ]


def _overhead_section(report: BenchReport, day: DayBench) -> list[str]:
    lines = [
        "### Overhead",
        "",
        f"Our jobs replayed without Prefect (`DirectJobs`): {day.ours.seconds:.0f} s "
        f"for {day.ours.jobs} job runs, {day.ours.cpu_seconds:.0f} s of CPU (which "
        "varies less with the machine's load); peak memory of that process "
        f"{day.ours.peak_rss_mib:.0f} MiB. Both include the simulator.",
    ]
    prefect = report.prefect
    projected = report.projected_replay(day)
    if prefect is None or projected is None:
        return lines
    floor = day.ours.jobs * prefect.per_run
    runs = ", ".join(f"{s:.2f}" for s in prefect.empty_seconds)
    lines += [
        "",
        f"Prefect ({prefect.mode}): the first flow call took "
        f"{prefect.first_seconds:.1f} s (it starts the server); then empty T-60 "
        f"runs took {runs} s, median {prefect.per_run:.2f} s.",
        "",
        f"Estimated `racing replay`: {day.ours.jobs} flow runs x "
        f"{prefect.per_run:.2f} s = {floor:.0f} s of Prefect floor, plus "
        f"{day.ours.seconds:.0f} s of our own work = **{projected / 60:.1f} min**; "
        f"Prefect's share {100 * floor / projected:.0f}%. Not measured: about "
        "15-50 ms per mapped task (one per race call and per morning meeting).",
    ]
    return lines


def _growth(report: BenchReport) -> list[str]:
    others = report.days[1:]
    lines = [
        "## Growth",
        "",
        "| | " + " | ".join(d.name for d in report.days) + " | growth |",
        "|---|" + "---:|" * (len(report.days) + 1),
    ]
    rows: list[tuple[str, list[float], str]] = [
        ("races", [d.races for d in report.days], "{:,.0f}"),
        ("our race calls", [d.figures[0].calls for d in report.days], "{:,.0f}"),
        (
            "our replay without Prefect, s",
            [d.ours.seconds for d in report.days],
            "{:.0f}",
        ),
        (
            "its CPU time (simulator included), s",
            [d.ours.cpu_seconds for d in report.days],
            "{:.0f}",
        ),
        ("its peak memory, MiB", [d.ours.peak_rss_mib for d in report.days], "{:.0f}"),
        ("job runs", [d.ours.jobs for d in report.days], "{:,.0f}"),
        *_job_time_growth(report.days),
    ]
    if len(report.mornings) == len(report.days):
        rows.append(
            ("morning flow, s", [m.flow_seconds for m in report.mornings], "{:.1f}")
        )
    projected = [report.projected_replay(d) for d in report.days]
    if all(p is not None for p in projected):
        rows.append(
            (
                "estimated `racing replay`, min",
                [p / 60 for p in projected if p],
                "{:.1f}",
            )
        )
    for name, values, pattern in rows:
        cells = [pattern.format(v) for v in values]
        # A count that starts at zero (runs over their time) has no ratio.
        growth = f"x{values[-1] / values[0]:.2f}" if values[0] else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth} |")
    if others:
        lines += [
            "",
            "Window and result runs happen every 5 minutes whatever the size of the "
            "day, so the number of flow runs (and Prefect's floor) barely grows; our "
            "own work grows with the races.",
        ]
    return lines


def _job_time_growth(days: Sequence[DayBench]) -> list[tuple[str, list[float], str]]:
    if not all(d.ours.job_times for d in days):
        return []
    per_day = [job_times(d) for d in days]
    ticks = [
        [j for j in jobs if j.job not in (MORNING, MORNING_RETRY)] for jobs in per_day
    ]
    return [
        (
            "slowest window or result run, s",
            [max(j.slowest_seconds for j in jobs) for jobs in ticks],
            "{:.2f}",
        ),
        (
            "slowest morning run, s",
            [
                max(j.slowest_seconds for j in jobs if j.job == MORNING)
                for jobs in per_day
            ],
            "{:.1f}",
        ),
        (
            "runs over their time",
            [sum(j.overran for j in jobs) for jobs in per_day],
            "{:,.0f}",
        ),
    ]


def _definitions() -> list[str]:
    return [
        "## What the columns mean",
        "",
        "- **race calls**: single-race API requests over the day (the meeting list, "
        "one call per strategy and morning run, is not in it). Ours includes the "
        "morning scrape of every race.",
        "- **calls/race**: race calls per race listed. **x minimum**: race calls "
        "over the minimum (one call per race per job; see each day's minimum).",
        "- **T-60, T-15**: share of the races that ran with a successful call while "
        "the start the feed showed then was 55-70 (10-25) minutes away. **result**: "
        "with a successful call once the final result showed (official; for a feed "
        "that never says Paying, its last placings).",
        "- **duplicate scrapes**: successful calls that showed nothing new since the "
        "race's previous call: same status, start time, 5-minute price bucket and "
        "scratchings.",
        "- **races missed**: races that ran without all three of T-60, T-15 and "
        "result.",
        "- **lags**: from the moment new data appeared in the simulator to the first "
        "successful call at or after it (the data is stored at the call's simulated "
        "instant): each 5-minute odds move from 75 minutes before the start to the "
        "jump, each scratching lodged during the replay, each official result. A "
        "later call holds the change or something newer. *never*: no call came "
        "after the event.",
        f"- **{OURS}**: the real domain jobs (`DirectJobs`), so the same calls as "
        "`racing replay` without Prefect's bookkeeping.",
    ]


def _whole(value: timedelta) -> int:
    return int(value.total_seconds() // 60)


def _nth(every: int) -> str:
    if every == 1:
        return "one"
    suffix = {2: "nd", 3: "rd"}.get(
        every % 10 if every % 100 not in (11, 12, 13) else 0, "th"
    )
    return f"{every}{suffix}"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")
