"""Which meetings a morning run scrapes: all, the day's still-failed ones, or chosen.

A scheduled retry (06:15, 06:30, 07:00) re-scrapes only the meetings still failed for
the day, read from the original morning JobRun of that date and the retries linked to
it, so the schedule needs no state of its own. An operator can instead name a past
JobRun (retry its failed meetings) or a list of meeting codes.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from racing.errors import UnknownItemError
from racing.job_runs import link_retry
from racing.models import JobRun
from racing.store import MeetingRef

JOB_TYPE = "morning_scrape"
_FIND_RUNS = (
    'SELECT id, "startedAt", status FROM job_runs WHERE "jobType" = \'morning_scrape\' '
    "ORDER BY id DESC LIMIT 10"
)


@dataclass(frozen=True)
class MorningPlan:
    """The meetings a morning run will scrape, and its place in a retry chain."""

    day: date
    # None means every meeting of the day.
    codes: frozenset[str] | None = None
    parent_job_run_id: int | None = None
    retry_count: int = 0
    # An operator named the meetings: each must be in the day's meeting list.
    named: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return self.codes is not None and not self.codes

    def select(self, refs: Sequence[MeetingRef]) -> list[MeetingRef]:
        """The listed meetings this run scrapes; named meetings must all be listed."""
        if self.codes is None:
            return list(refs)
        unknown = self.codes - {ref.code for ref in refs}
        if unknown and self.named:
            missing = ", ".join(sorted(unknown))
            raise UnknownItemError(
                f"meetings {missing} are not in the TAB meeting list of {self.day}: "
                f"give codes like {self.day}/R/GOS (see the meetings table)"
            )
        return [ref for ref in refs if ref.code in self.codes]

    def metadata(self) -> dict[str, Any]:
        """What the JobRun's metadata says about this plan."""
        meta: dict[str, Any] = {"racingDate": self.day.isoformat(), **self.notes}
        if self.codes is not None:
            meta["meetingsRequested"] = sorted(self.codes)
        return meta


def start_morning(
    *,
    session: Session,
    job_run_id: int,
    day: date,
    retry: bool = False,
    retry_of: int | None = None,
    meetings: Sequence[str] | None = None,
) -> MorningPlan:
    """Plan a morning run and record its lineage on its JobRun straight away."""
    plan = plan_morning(
        session=session, day=day, retry=retry, retry_of=retry_of, meetings=meetings
    )
    if plan.parent_job_run_id is not None:
        link_retry(
            session=session,
            job_run_id=job_run_id,
            parent_job_run_id=plan.parent_job_run_id,
            retry_count=plan.retry_count,
        )
    return plan


def plan_morning(
    *,
    session: Session,
    day: date,
    retry: bool = False,
    retry_of: int | None = None,
    meetings: Sequence[str] | None = None,
) -> MorningPlan:
    """Decide what a morning run scrapes from its parameters and the job history."""
    if retry_of is not None:
        return _retry_of(session, retry_of)
    if meetings:
        codes = frozenset(_meeting_code(code, day) for code in meetings)
        return MorningPlan(day, codes, named=True)
    if retry:
        return _scheduled_retry(session, day)
    return MorningPlan(day)


def _retry_of(session: Session, job_run_id: int) -> MorningPlan:
    job = session.get(JobRun, job_run_id)
    if job is None:
        raise UnknownItemError(
            f"retry_of={job_run_id}: no such JobRun; find one with: {_FIND_RUNS}"
        )
    if job.job_type != JOB_TYPE or "racingDate" not in job.meta:
        raise UnknownItemError(
            f"retry_of={job_run_id}: JobRun {job_run_id} is a {job.job_type} run "
            f"without a list of meetings; find a morning one with: {_FIND_RUNS}"
        )
    day = date.fromisoformat(job.meta["racingDate"])
    codes = frozenset(job.meta.get("failedMeetings", []))
    notes = {"retryOf": job.id, "manual": True}
    return MorningPlan(day, codes, job.id, job.retry_count + 1, notes=notes)


def _scheduled_retry(session: Session, day: date) -> MorningPlan:
    candidates = session.scalars(
        select(JobRun)
        .where(
            JobRun.job_type == JOB_TYPE,
            JobRun.parent_job_run_id.is_(None),
            JobRun.meta["racingDate"].as_string() == day.isoformat(),
        )
        .order_by(JobRun.id.desc())
    )
    # A run of meetings an operator chose is not the day's morning scrape.
    original = next(
        (job for job in candidates if "meetingsRequested" not in job.meta), None
    )
    if original is None or "meetings" not in original.meta:
        # No usable original (the 06:00 run never ran, or failed before listing):
        # this run does the whole morning scrape instead, as the original.
        return MorningPlan(day, notes={"retryFoundNoOriginal": True})

    retries = session.scalars(
        select(JobRun)
        .where(JobRun.parent_job_run_id == original.id)
        .order_by(JobRun.id)
    ).all()
    failed = still_failed([original, *retries])
    notes = {"retryOf": original.id}
    return MorningPlan(day, failed, original.id, len(retries) + 1, notes=notes)


def still_failed(chain: Iterable[JobRun]) -> frozenset[str]:
    """Meetings whose latest recorded outcome in the chain is a failure."""
    latest: dict[str, str] = {}
    for job in chain:
        for code, entry in job.meta.get("meetings", {}).items():
            latest[code] = entry.get("outcome", "failed")
    return frozenset(code for code, outcome in latest.items() if outcome != "ok")


def _meeting_code(code: str, day: date) -> str:
    parts = code.strip().strip("/").split("/")
    if len(parts) == 2:
        parts = [day.isoformat(), *parts]
    if len(parts) != 3 or parts[1] not in ("R", "H", "G") or not parts[2]:
        raise UnknownItemError(
            f"meeting {code!r}: give a code like {day}/R/GOS or R/GOS "
            "(race type R, H or G, then the venue mnemonic)"
        )
    return f"{parts[0]}/{parts[1]}/{parts[2].upper()}"
