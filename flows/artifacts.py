"""The Prefect UI artifacts of a flow run, built from its JobRun summary.

Each run publishes a table of its items (meetings or races: outcome, attempt or check
number, error) under `<job-type>-items` and a short markdown summary under
`<job-type>-summary`. They must be created inside the run to be linked to it, so
`record_summary` calls this from the flow body, not from a hook.
"""

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from racing.job_runs import JobSummary
from racing.settings import get_settings

# The metadata keys that hold a run's items, and what one item is called.
ITEM_KEYS = {"meetings": "meeting", "races": "race"}
FAILED_KEYS = ("failedMeetings", "failedRaces")
MAX_ERROR_CHARS = 300
MAX_FAILED_LISTED = 20
# Inline markdown: emphasis, code, links and images, HTML and entities, strikethrough,
# table cells. CommonMark shows any backslash-escaped ASCII punctuation as itself.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")


def artifact_key(job_type: str, suffix: str) -> str:
    """A key Prefect accepts: lowercase with dashes, e.g. morning-scrape-items."""
    return f"{job_type.lower().replace('_', '-')}-{suffix}"


def item_rows(summary: JobSummary) -> list[dict[str, Any]]:
    """One row per meeting or race of the summary, every row with the same columns."""
    noun, items = _items(summary)
    rows = [{noun: code, **entry} for code, entry in items.items()]
    columns: dict[str, None] = {noun: None}
    for row in rows:
        columns.update(dict.fromkeys(k for k in row if k != "error"))
    columns["error"] = None
    return [{c: _cell(row.get(c)) for c in columns} for row in rows]


def summary_markdown(job_type: str, job_run_id: int, summary: JobSummary) -> str:
    """The run in a few lines: job type, status, counts and the failed items."""
    lines = [
        f"## {job_type}: {summary.status.value}",
        "",
        f"JobRun {job_run_id}: {summary.items_processed} items, "
        f"{summary.items_failed} failed.",
    ]
    if summary.error:
        lines += ["", f"Error: {markdown_text(str(_cell(summary.error)))}"]
    failed = _failed(summary)
    if failed:
        lines += ["", "Failed items:", ""]
        lines += [
            f"- {code_span(code)}: {markdown_text(error)}"
            for code, error in failed[:MAX_FAILED_LISTED]
        ]
        if len(failed) > MAX_FAILED_LISTED:
            lines.append(f"- and {len(failed) - MAX_FAILED_LISTED} more")
    return "\n".join(lines)


def markdown_text(text: str) -> str:
    """Untrusted text as one line of markdown that renders as exactly that text.

    Errors quote the TAB feed, so they may hold markup, HTML or line breaks.
    """
    one_line = " ".join(text.splitlines())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line)


def code_span(text: str) -> str:
    """`text` as an inline code span, fenced by more backticks than it holds."""
    one_line = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall("`+", one_line)), default=0)
    fence, pad = "`" * (longest + 1), " " if longest else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"


def publish_run_artifacts(job_type: str, job_run_id: int, summary: JobSummary) -> None:
    """Create the run's table and markdown artifacts; call inside the flow run."""
    noun, _ = _items(summary)
    create_table_artifact(
        key=artifact_key(job_type, "items"),
        table=item_rows(summary),
        description=f"{job_type} JobRun {job_run_id}: one row per {noun}",
    )
    create_markdown_artifact(
        key=artifact_key(job_type, "summary"),
        markdown=summary_markdown(job_type, job_run_id, summary),
        description=f"{job_type} JobRun {job_run_id}",
    )


def _items(summary: JobSummary) -> tuple[str, dict[str, dict[str, Any]]]:
    for key, noun in ITEM_KEYS.items():
        items = summary.meta.get(key)
        if isinstance(items, dict):
            return noun, items
    return "item", {}


def _failed(summary: JobSummary) -> list[tuple[str, str]]:
    _, items = _items(summary)
    codes: list[str] = []
    for key in FAILED_KEYS:
        codes += summary.meta.get(key) or []
    return [(code, _reason(items.get(code, {}))) for code in codes]


def _reason(entry: dict[str, Any]) -> str:
    # A result left unconfirmed has no error, only its state.
    reason = entry.get("error") or entry.get("state") or entry.get("outcome")
    return str(_cell(reason)) if reason else "failed"


def _cell(value: object) -> Any:
    """A table cell: errors clipped and cleaned of secrets, other values as they are."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = get_settings().redact(value)
    if len(text) > MAX_ERROR_CHARS:
        return text[: MAX_ERROR_CHARS - 1] + "…"
    return text
