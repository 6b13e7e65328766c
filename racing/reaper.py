"""The stale-run reaper: JobRuns left `running` by flow runs that will never end them.

A flow run killed together with its runner, or deleted from Prefect, fires no hook, so
its JobRun would stay `running` for ever. The reaper asks Prefect (through a callable,
so this module never imports it) what became of each running JobRun's flow run, and
marks the abandoned ones failed with what Prefect reported. A JobRun whose flow run may
still finish it is left alone until it passes the maximum age.

A run that died also leaves its claimed scrapes `running`, and a `running` claim keeps
every other run away from that race: the reaper fails the claims of every finished
JobRun, including runs a crash hook finalised, so the race can be scraped again.

A run whose hooks could not reach the database (it was down through their short
retries) is finalised here once the database is back: from the counts the flow saved
when Prefect says it completed, as failed otherwise. A run that never reached the
database at all (down when it started) has no JobRun; Prefect lists it among our
flows' ended runs, and the reaper records it as failed, so job_runs misses nothing.

A run that a deployment concurrency limit cancelled before it started (CANCEL_NEW)
leaves no JobRun at all. The reaper is also handed those, as Prefect lists them, and
records each once in `skipped_runs`, so a slot held by a stuck run is seen.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from racing.database import transaction
from racing.job_runs import (
    JobSummary,
    describe_failures,
    finish_job_run,
    open_job_run,
)
from racing.models import JobRun, JobStatus, Scrape, ScrapeOutcome, SkippedRun
from racing.results import JOB_TYPE as RESULTS_JOB_TYPE
from racing.windows import T15, T60

log = logging.getLogger(__name__)

JOB_TYPE = "reaper"
# Prefect state types after which a flow run never changes its JobRun again.
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
# A flow run's own hooks finalise its JobRun just after Prefect records the terminal
# state (and a JobRun is opened just after its flow run is created): the reaper leaves
# them this long, so it never races a hook that is about to do the job properly.
HOOK_GRACE = timedelta(minutes=5)
ABANDONED_SCRAPE_ERROR = "abandoned"
RECOVERED = (
    "finalised by the reaper from the saved counts: the flow run completed while "
    "the database was unreachable from its hooks"
)
# Window and result runs take seconds (under 2 s on a day ten times the default, see
# the benchmark) and have a 5-minute tick: one still running after this long is dead
# or stuck, and its claims would keep its races from the next runs of their windows.
TICK_JOBS = frozenset({T60.job_type, T15.job_type, RESULTS_JOB_TYPE})
TICK_JOB_MAX_AGE = timedelta(minutes=15)
# How far back the reaper asks Prefect for ended runs that have no JobRun. Prefect
# keeps no history of which racing database a run wrote to: one Prefect workspace
# serves one racing database.
UNRECORDED_LOOKBACK = timedelta(hours=24)
# How far back the reaper asks Prefect for runs cancelled before they started.
SKIPPED_LOOKBACK = timedelta(hours=24)
# Prefect may cancel a run after a later-scheduled one (a worker that polls late), so
# each lookup reaches this far behind the newest run already recorded.
SKIPPED_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class ReportedState:
    """What Prefect says about one flow run."""

    # Prefect's state type, e.g. "RUNNING" or "CRASHED".
    type: str
    message: str | None = None
    # When Prefect entered that state, aware UTC.
    timestamp: datetime | None = None


# Looks a flow-run id up in Prefect; None means Prefect has no such flow run.
StateLookup = Callable[[str], ReportedState | None]


@dataclass(frozen=True)
class CancelledRun:
    """A flow run of a deployment that Prefect cancelled before it ever started."""

    flow_run_id: str
    deployment: str
    # When it was due to start (Prefect's expected start time), aware UTC.
    scheduled_at: datetime
    # When it was cancelled (its Cancelled state's timestamp), aware UTC.
    cancelled_at: datetime | None = None
    message: str | None = None


@dataclass
class SkippedReport:
    """What one reaper run learned of runs cancelled before they started."""

    found: int = 0
    # How many of those were new, i.e. added to `skipped_runs` by this run.
    recorded: int = 0
    # Why Prefect could not be asked, when it could not.
    error: str | None = None


@dataclass(frozen=True)
class EndedRun:
    """A flow run of one of our flows that Prefect reports ended."""

    flow_run_id: str
    job_type: str
    # Prefect's terminal state type, e.g. "FAILED", its message and when it ended.
    state: str
    message: str | None
    ended_at: datetime
    # When it started; None when it never did (Prefect gave it no start time).
    started_at: datetime | None = None


@dataclass(frozen=True)
class Abandoned:
    """A JobRun the reaper finalised, and why."""

    job_run_id: int
    job_type: str
    flow_run_id: str
    reason: str
    # True when Prefect still calls the flow run live (its process died unseen):
    # the reaper's flow then marks it crashed in Prefect too.
    live_in_prefect: bool = False


@dataclass
class ReapReport:
    """What one reaper run checked, marked failed, and could not look up."""

    checked: int = 0
    abandoned: list[Abandoned] = field(default_factory=list)
    # JobRun id -> the error of its Prefect lookup.
    lookup_errors: dict[int, str] = field(default_factory=dict)
    # Claimed scrapes of finished JobRuns, failed as abandoned.
    scrapes_failed: int = 0
    # JobRuns of runs that completed in Prefect while their hooks could not write:
    # finalised from the flow's saved counts. `reason` says so.
    recovered: list[Abandoned] = field(default_factory=list)
    # Ended flow runs that never reached the database, recorded as failed JobRuns.
    unrecorded: list[Abandoned] = field(default_factory=list)
    # Why Prefect could not be asked for ended runs, when it could not.
    unrecorded_error: str | None = None


def abandonment_reason(
    *,
    started_at: datetime,
    reported: ReportedState | None,
    now: datetime,
    max_age: timedelta,
    limit_name: str = "RACING_STALE_RUN_MINUTES",
) -> str | None:
    """Why a running JobRun is abandoned; None while its flow run may still end it."""
    age = now - started_at
    if reported is None:
        if age < HOOK_GRACE:
            return None
        return "abandoned: Prefect has no record of the flow run"

    if reported.type in TERMINAL_STATES:
        if reported.timestamp is not None and now - reported.timestamp < HOOK_GRACE:
            return None
        detail = f" ({reported.message})" if reported.message else ""
        return f"abandoned: Prefect reports the flow run {reported.type}{detail}"

    if age > max_age:
        return (
            f"abandoned: Prefect reports the flow run {reported.type} after "
            f"{_minutes(age)} minutes, past the limit of {_minutes(max_age)} "
            f"({limit_name})"
        )
    return None


def reap_stale_runs(
    *,
    sessions: sessionmaker[Session],
    lookup: StateLookup,
    now: datetime,
    max_age: timedelta,
    own_flow_run_id: str | None = None,
) -> ReapReport:
    """Mark failed every running JobRun whose flow run is over, gone or too old,
    then the scrapes still `running` of every finished JobRun.

    Each JobRun is finalised in its own transaction, through `finish_job_run`, so a
    hook that finalised it meanwhile wins and nothing is overwritten.
    """
    report = ReapReport()
    running = _running(sessions, own_flow_run_id)
    for job_run_id, flow_run_id, started_at, job_type in running:
        report.checked += 1
        try:
            reported = lookup(flow_run_id)
        except Exception as exc:
            # One failed lookup must not stop the others; it is counted as a failed
            # item of the reaper's own run, and the JobRun is looked at next time.
            log.warning(
                "job run %s: looking up flow run %s failed: %s",
                job_run_id,
                flow_run_id,
                exc,
            )
            report.lookup_errors[job_run_id] = f"{type(exc).__name__}: {exc}"
            continue

        reason = abandonment_reason(
            started_at=started_at,
            reported=reported,
            now=now,
            max_age=_max_age(job_type, max_age),
            limit_name=_limit_name(job_type, max_age),
        )
        if reason is None:
            continue
        ended_at = _ended_at(reported, now)
        if reported is not None and reported.type == "COMPLETED":
            recovered = _finalise(sessions, flow_run_id, RECOVERED, ended_at)
            report.recovered += [recovered] if recovered else []
            continue
        abandoned = _finalise(sessions, flow_run_id, reason, ended_at, failed=True)
        if abandoned is not None:
            live = reported is not None and reported.type not in TERMINAL_STATES
            report.abandoned.append(replace(abandoned, live_in_prefect=live))

    with transaction(sessions) as session:
        report.scrapes_failed = fail_orphaned_scrapes(session=session, now=now)
    return report


def fail_orphaned_scrapes(*, session: Session, now: datetime) -> int:
    """Fail the `running` scrapes of finished JobRuns; returns how many.

    A run finishes its scrapes before its JobRun, so a claim still running under a
    finished JobRun belongs to a process that died.
    """
    finished = select(JobRun.id).where(JobRun.status != JobStatus.RUNNING.value)
    result = session.execute(
        update(Scrape)
        .where(
            Scrape.outcome == ScrapeOutcome.RUNNING.value,
            Scrape.job_run_id.in_(finished),
        )
        .values(
            outcome=ScrapeOutcome.FAILED.value,
            error=ABANDONED_SCRAPE_ERROR,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    if count:
        log.warning(
            "%d running scrapes of finished job runs failed as abandoned", count
        )
    return count


def skipped_runs_since(*, session: Session, now: datetime) -> datetime:
    """From which scheduled time to ask Prefect for runs cancelled before starting.

    The newest recorded run, less an overlap, bounds the lookup while a stuck slot
    cancels a run every five minutes; SKIPPED_LOOKBACK bounds it after downtime.
    """
    floor = now - SKIPPED_LOOKBACK
    newest: datetime | None = session.scalar(select(func.max(SkippedRun.scheduled_at)))
    if newest is None:
        return floor
    return max(floor, newest - SKIPPED_OVERLAP)


def record_skipped_runs(
    *,
    session: Session,
    runs: Iterable[CancelledRun],
    job_types: Mapping[str, str],
    now: datetime,
) -> int:
    """Record each cancelled run not recorded yet; returns how many were new.

    `job_types` maps a deployment name to the job type its runs record; a run of any
    other deployment is not ours and is left out.
    """
    by_id = {run.flow_run_id: run for run in runs}
    known = set(
        session.scalars(
            select(SkippedRun.flow_run_id).where(SkippedRun.flow_run_id.in_(by_id))
        )
    )

    added: Counter[str] = Counter()
    for flow_run_id, run in by_id.items():
        job_type = job_types.get(run.deployment)
        if flow_run_id in known or job_type is None:
            continue
        if _add_skipped_run(session, run, job_type, now):
            added[job_type] += 1
    if added:
        # Each is a */5 run that did not happen; several in a row mean a stuck slot.
        log.warning(
            "runs cancelled before they started, newly recorded: %s",
            ", ".join(f"{job_type} {n}" for job_type, n in sorted(added.items())),
        )
    return sum(added.values())


def collect_skipped_runs(
    *,
    sessions: sessionmaker[Session],
    fetch: Callable[[datetime], list[CancelledRun]],
    job_types: Mapping[str, str],
    now: datetime,
) -> SkippedReport:
    """Ask Prefect (through `fetch`, given the earliest scheduled time wanted) for
    runs cancelled before they started, and record the new ones.

    A failed lookup is reported, not raised: the stale runs are reaped anyway, and
    the next reaper run looks back far enough to find what this one missed.
    """
    with sessions() as session:
        since = skipped_runs_since(session=session, now=now)
    try:
        runs = fetch(since)
    except Exception as exc:
        log.warning("looking up runs cancelled before they started failed: %s", exc)
        return SkippedReport(error=f"{type(exc).__name__}: {exc}")

    with transaction(sessions) as session:
        recorded = record_skipped_runs(
            session=session, runs=runs, job_types=job_types, now=now
        )
    return SkippedReport(found=len(runs), recorded=recorded)


def summarise(report: ReapReport, skipped: SkippedReport | None = None) -> JobSummary:
    """The reaper's JobRun summary: one item per running JobRun checked.

    Runs cancelled before they started are in `metadata.skippedRuns` (new ones).
    """
    meta: dict[str, Any] = {
        "checked": report.checked,
        "abandoned": _listed(report.abandoned),
        "recovered": _listed(report.recovered),
        "unrecorded": _listed(report.unrecorded),
        "lookupErrors": {str(k): v for k, v in report.lookup_errors.items()},
        "scrapesFailed": report.scrapes_failed,
    }
    if report.unrecorded_error is not None:
        meta["unrecordedError"] = report.unrecorded_error
    if skipped is not None:
        meta["skippedRuns"] = skipped.recorded
        if skipped.error is not None:
            meta["skippedRunsError"] = skipped.error
    failed = [f"job run {job_run_id}" for job_run_id in report.lookup_errors]
    return JobSummary(
        items_processed=report.checked,
        items_failed=len(failed),
        meta=meta,
        error=describe_failures("lookups", failed, report.checked),
    )


def _listed(items: list[Abandoned]) -> list[dict[str, Any]]:
    return [
        {
            "jobRunId": item.job_run_id,
            "jobType": item.job_type,
            "flowRunId": item.flow_run_id,
            "reason": item.reason,
        }
        for item in items
    ]


def _running(
    sessions: sessionmaker[Session], own_flow_run_id: str | None
) -> list[tuple[int, str, datetime, str]]:
    query = (
        select(JobRun.id, JobRun.flow_run_id, JobRun.started_at, JobRun.job_type)
        .where(JobRun.status == JobStatus.RUNNING.value)
        .order_by(JobRun.id)
    )
    if own_flow_run_id is not None:
        query = query.where(JobRun.flow_run_id != own_flow_run_id)
    with sessions() as session:
        return [
            (row.id, row.flow_run_id, row.started_at, row.job_type)
            for row in session.execute(query)
        ]


def _max_age(job_type: str, max_age: timedelta) -> timedelta:
    """The age past which a running JobRun of `job_type` is abandoned."""
    return min(max_age, TICK_JOB_MAX_AGE) if job_type in TICK_JOBS else max_age


def _limit_name(job_type: str, max_age: timedelta) -> str:
    """What sets that age, for the JobRun's error."""
    if _max_age(job_type, max_age) < max_age:
        return "a window or result run"
    return "RACING_STALE_RUN_MINUTES"


def _ended_at(reported: ReportedState | None, now: datetime) -> datetime:
    """A flow run that ended in Prefect ended then; otherwise it is ended now."""
    if reported is not None and reported.type in TERMINAL_STATES and reported.timestamp:
        return min(reported.timestamp, now)
    return now


def _finalise(
    sessions: sessionmaker[Session],
    flow_run_id: str,
    reason: str,
    ended_at: datetime,
    *,
    failed: bool = False,
) -> Abandoned | None:
    """Finalise a running JobRun: failed with `reason`, or from its counts."""
    with transaction(sessions) as session:
        status = finish_job_run(
            session=session,
            flow_run_id=flow_run_id,
            finished_at=ended_at,
            error=reason if failed else None,
        )
        if status is None:
            return None
        job_run = session.scalars(
            select(JobRun).where(JobRun.flow_run_id == flow_run_id)
        ).one()
        if not failed:
            job_run.meta = {**job_run.meta, "finalisedBy": "reaper"}
        log.warning(
            "job run %s (%s, flow run %s) %s: %s",
            job_run.id,
            job_run.job_type,
            flow_run_id,
            status.value,
            reason,
        )
        return Abandoned(job_run.id, job_run.job_type, flow_run_id, reason)


def record_unrecorded_runs(
    *,
    sessions: sessionmaker[Session],
    fetch: Callable[[datetime], list[EndedRun]],
    now: datetime,
    report: ReapReport,
) -> None:
    """Ask Prefect (through `fetch`, given the earliest start wanted) for our flows'
    ended runs, and add a failed JobRun for each that has none, to `report` too.

    Such a run could not reach the database from its body or its hooks, so it did
    not do its job, whatever state Prefect gave it. A failed lookup is reported, not
    raised; the next reaper run looks back as far.
    """
    try:
        runs = fetch(now - UNRECORDED_LOOKBACK)
    except Exception as exc:
        log.warning("looking up ended runs without a JobRun failed: %s", exc)
        report.unrecorded_error = f"{type(exc).__name__}: {exc}"
        return
    report.unrecorded += _record_unrecorded(sessions, runs, now)


def _record_unrecorded(
    sessions: sessionmaker[Session], runs: list[EndedRun], now: datetime
) -> list[Abandoned]:
    ended = [run for run in runs if now - run.ended_at >= HOOK_GRACE]
    with sessions() as session:
        known = set(
            session.scalars(
                select(JobRun.flow_run_id).where(
                    JobRun.flow_run_id.in_([run.flow_run_id for run in ended])
                )
            )
        )
    return [
        _add_unrecorded(sessions, run) for run in ended if run.flow_run_id not in known
    ]


def _add_unrecorded(sessions: sessionmaker[Session], run: EndedRun) -> Abandoned:
    detail = f" ({run.message})" if run.message else ""
    reason = (
        "never recorded: the racing database was unreachable during the run; "
        f"Prefect reports the flow run {run.state}{detail}"
    )
    with transaction(sessions) as session:
        job_run = open_job_run(
            session=session,
            flow_run_id=run.flow_run_id,
            job_type=run.job_type,
            started_at=run.started_at or run.ended_at,
        )
        job_run.meta = {"recordedBy": "reaper"}
        finish_job_run(
            session=session,
            flow_run_id=run.flow_run_id,
            finished_at=run.ended_at,
            error=reason,
        )
    log.warning(
        "job run %s (%s, flow run %s) %s",
        job_run.id,
        run.job_type,
        run.flow_run_id,
        reason,
    )
    return Abandoned(job_run.id, run.job_type, run.flow_run_id, reason)


def _add_skipped_run(
    session: Session, run: CancelledRun, job_type: str, now: datetime
) -> bool:
    row = SkippedRun(
        flow_run_id=run.flow_run_id,
        job_type=job_type,
        deployment=run.deployment,
        scheduled_at=run.scheduled_at,
        cancelled_at=run.cancelled_at,
        message=run.message,
        recorded_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another reaper run recorded it between our check and this insert.
        return False
    return True


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
