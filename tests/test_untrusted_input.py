"""Untrusted TAB text is data: stored byte for byte, shown escaped, never executed.

Runner, jockey, trainer, race and meeting names carry SQL, templates, markup, line
breaks, right-to-left and emoji text through real flow runs. What no database can hold
(a NUL, a lone surrogate, text wider than its column) fails its own record with a
clear error, and every other meeting and race of the run is stored as usual.
"""

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from racing.errors import PayloadError
from racing.models import JobRun, Meeting, OddsSnapshot, Race, Runner, Scrape
from racing.simulator.scenario import Scenario
from racing.simulator.server import SimulatorServer
from racing.tab_payloads import (
    CONDITION_CHARS,
    LOCATION_CHARS,
    NAME_CHARS,
    RACE_NAME_CHARS,
    parse_meetings,
    parse_race,
)
from tests.factories import captured_logs, local, meeting, race, runner, scenario
from tests.webhook_receiver import (
    Receiver,
    receiver_fixture,  # noqa: F401 (the `receiver` fixture)
)

FIXTURES = Path(__file__).parent / "fixtures"
DAY = date(2026, 11, 14)

SQL_DROP = "Robert'); DROP TABLE runners;--"
SQL_OR = "' OR 1=1 --"
JINJA = "{{ 7*7 }}"
FORMATS = "{flow_run.id} %s %(x)s {0}"
MARKUP = "| pipe | <script>alert(1)</script> `tick` **bold** [a](javascript:x)"
LINES = "LINE ONE\nLINE TWO\r\n# HEADING\n- item"
UNICODE = "\u202eRTL تجربة 🏇🏽 Ünïcødé\u200b"
# Exactly as wide as the runner_name column: an emoji is one character there.
WIDEST = "W" * (NAME_CHARS - 1) + "🏇"
# Too wide, and its first characters (quoted in the error) are hostile too.
TOO_WIDE = "<script>x</script>|{{ 7*7 }}|`" + "W" * NAME_CHARS
NUL = "NUL\x00BYTE"
# What must never show up outside the values it came in.
MARKERS = ("<script>", "{{ 7*7 }}", "DROP TABLE", "%(x)s", "\x00")


# --- Parsing: what no database can hold fails its own record ----------------------


def _race_body(**runner_fields: object) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "race-open.json").read_text())
    body["runners"][0].update(runner_fields)
    return body


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("runnerName", NUL, "contains a NUL character"),
        ("trainerName", "HALF \ud800 PAIR", "unable to parse raw data as a unicode"),
        ("riderDriverName", TOO_WIDE, f"at most {NAME_CHARS} characters"),
    ],
)
def test_unstorable_runner_text_fails_the_race_naming_the_field(
    field: str, value: str, reason: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_race(_race_body(**{field: value}), where="2026-11-14 R GOS race 3")

    message = str(caught.value)
    assert message.startswith(f"2026-11-14 R GOS race 3: runners[0].{field}: ")
    assert reason in message
    assert "\x00" not in message and "\n" not in message


def test_text_as_wide_as_its_column_is_kept_exactly() -> None:
    record = parse_race(
        _race_body(runnerName=WIDEST, riderDriverName=LINES, trainerName=UNICODE),
        where="race",
    )

    first = record.runners[0]
    assert (first.runner_name, first.rider, first.trainer) == (WIDEST, LINES, UNICODE)


def test_text_limits_are_the_widths_of_the_columns_they_fill() -> None:
    widths = {
        (Meeting, "meeting_name"): NAME_CHARS,
        (Meeting, "location"): LOCATION_CHARS,
        (Meeting, "track_condition"): CONDITION_CHARS,
        (Meeting, "weather_condition"): CONDITION_CHARS,
        (Race, "race_name"): RACE_NAME_CHARS,
        (Runner, "runner_name"): NAME_CHARS,
        (Runner, "rider"): NAME_CHARS,
        (Runner, "trainer"): NAME_CHARS,
    }
    for (model, column), limit in widths.items():
        assert getattr(model.__table__.c[column].type, "length", None) == limit


def test_an_unstorable_meeting_is_rejected_alone() -> None:
    good = {
        "meetingName": SQL_DROP,
        "venueMnemonic": "GOS",
        "raceType": "R",
        "location": "NSW",
        "meetingDate": "2026-11-14",
        "trackCondition": SQL_OR,
        "weatherCondition": JINJA,
        "races": [],
    }
    bad = {**good, "venueMnemonic": "NUL", "meetingName": NUL}

    listing = parse_meetings({"meetings": [bad, good]})

    assert [m.meeting_name for m in listing.meetings] == [SQL_DROP]
    assert listing.meetings[0].weather_condition == JINJA
    assert [(r.meeting_hint, r.error) for r in listing.rejects] == [
        (
            "R/NUL",
            "meetingName: contains a NUL character, which no database text can hold",
        )
    ]


# --- Whole runs: the morning scrape, then T-60 ------------------------------------


def _hostile_day() -> Scenario:
    hostile = meeting(
        "HST",
        [
            race(1, local(12), raceName=MARKUP, runners=_hostile_field()),
            _pair(2, local(12, 5), runner(1, runnerName=TOO_WIDE), runner(2)),
            _pair(3, local(12, 10), runner(1), runner(2, trainerName=NUL)),
            race(4, local(13)),
        ],
        meetingName=SQL_DROP,
        trackCondition=SQL_OR,
        weatherCondition=JINJA,
    )
    return scenario(
        [
            hostile,
            meeting("BAD", [race(1, local(12))], meetingName=TOO_WIDE),
            meeting("NUL", [race(1, local(12))], meetingName=NUL),
            meeting("OK", [race(1, local(12))]),
        ]
    )


def _pair(
    number: int, start: datetime, first: dict[str, Any], second: dict[str, Any]
) -> dict[str, Any]:
    return race(number, start, runners=[first, second], results=[[1], [2]])


def _hostile_field() -> list[dict[str, Any]]:
    return [
        runner(1, runnerName=SQL_DROP, riderDriverName=JINJA, trainerName=FORMATS),
        runner(2, runnerName=MARKUP, riderDriverName=LINES, trainerName=UNICODE),
        runner(3, runnerName=WIDEST, riderDriverName=SQL_OR),
        runner(4, runnerName=SQL_OR, trainerName=LINES),
    ]


EXPECTED_FIELD = [
    (1, SQL_DROP, JINJA, FORMATS),
    (2, MARKUP, LINES, UNICODE),
    (3, WIDEST, SQL_OR, None),
    (4, SQL_OR, None, LINES),
]


@pytest.mark.usefixtures("prefect_harness")
def test_hostile_names_survive_morning_and_t60_runs_as_plain_data(
    serve: Callable[[Scenario], SimulatorServer], sessions: sessionmaker[Session]
) -> None:
    from flows.morning_scrape import morning_scrape
    from flows.pre_race import pre_race_t60

    server = serve(_hostile_day())
    with captured_logs() as records:
        morning = morning_scrape(racing_date=DAY, as_of=local(6), return_state=True)
        server.set_clock(local(11))
        t60 = pre_race_t60(as_of=local(11), return_state=True)

    engine = sessions.kw["bind"]
    _assert_stored_byte_for_byte(engine)
    _assert_tables_intact(engine)
    with sessions() as session:
        morning_run = _job_run(session, morning.state_details.flow_run_id)
        t60_run = _job_run(session, t60.state_details.flow_run_id)
        _assert_unstorable_records_failed_alone(session, morning_run, t60_run)
        assert session.scalar(select(func.count(OddsSnapshot.id))) == 12 + 8
    _assert_artifacts_show_text_not_markup(morning.state_details.flow_run_id)
    _assert_logged_only_as_arguments(records)


def _assert_stored_byte_for_byte(engine: Engine) -> None:
    with engine.connect() as connection:
        field = connection.execute(
            text(
                "SELECT ru.runner_number, ru.runner_name, ru.rider, ru.trainer "
                "FROM runners ru JOIN races ra ON ra.id = ru.race_id "
                "JOIN meetings m ON m.id = ra.meeting_id "
                "WHERE m.venue_mnemonic = 'HST' AND ra.race_number = 1 "
                "ORDER BY ru.runner_number"
            )
        ).all()
        meeting_row = connection.execute(
            text(
                "SELECT meeting_name, track_condition, weather_condition "
                "FROM meetings WHERE venue_mnemonic = 'HST'"
            )
        ).one()
        race_name = connection.scalar(
            text(
                "SELECT race_name FROM races ra JOIN meetings m "
                "ON m.id = ra.meeting_id "
                "WHERE m.venue_mnemonic = 'HST' AND ra.race_number = 1"
            )
        )
        # Bound as a value, the quote and the comment match one name, not every row.
        matched = connection.scalar(
            text("SELECT count(*) FROM runners WHERE runner_name = :name"),
            {"name": SQL_OR},
        )
    assert [tuple(row) for row in field] == EXPECTED_FIELD
    assert tuple(meeting_row) == (SQL_DROP, SQL_OR, JINJA)
    assert race_name == MARKUP
    assert matched == 1


def _assert_tables_intact(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"meetings", "races", "runners", "odds_snapshots", "job_runs"} <= tables
    with engine.connect() as connection:
        counts = [
            connection.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("meetings", "races", "runners")
        ]
    # HST (4 races) and OK (1 race); runners of HST 1, HST 4 and OK 1 only.
    assert counts == [2, 5, 12]


def _job_run(session: Session, flow_run_id: UUID | None) -> JobRun:
    return session.scalars(
        select(JobRun).where(JobRun.flow_run_id == str(flow_run_id))
    ).one()


def _assert_unstorable_records_failed_alone(
    session: Session, morning_run: JobRun, t60_run: JobRun
) -> None:
    assert (morning_run.status, morning_run.items_failed) == ("partial", 3)
    meetings = morning_run.meta["meetings"]
    assert meetings["2026-11-14/R/OK"]["outcome"] == "ok"
    assert meetings["2026-11-14/R/HST"]["racesOk"] == 2
    assert meetings["2026-11-14/R/BAD"]["error"].startswith(
        f"bad payload: meetingName: String should have at most {NAME_CHARS} "
        "characters (got '<script>x</script>|{{ 7*7 }}|`W"
    )
    assert "contains a NUL character" in meetings["2026-11-14/R/NUL"]["error"]
    assert t60_run.status == "partial"
    assert t60_run.meta["failedRaces"] == ["2026-11-14/R/HST/2", "2026-11-14/R/HST/3"]

    errors = session.execute(
        select(Race.race_number, Scrape.error)
        .join(Race, Scrape.race_id == Race.id)
        .where(Scrape.outcome == "failed")
        .order_by(Scrape.job_run_id, Race.race_number)
    ).all()
    assert [number for number, _ in errors] == [2, 3, 2, 3]
    assert "runners[0].runnerName: String should have at most" in str(errors[0][1])
    assert "runners[1].trainerName: contains a NUL character" in str(errors[1][1])
    # No attempt is left claimed: a failed store would leave one `running`.
    outcomes = set(session.scalars(select(Scrape.outcome)))
    assert outcomes == {"ok", "failed"}


def _assert_artifacts_show_text_not_markup(flow_run_id: UUID | None) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    artifacts = {artifact.key: artifact.data for artifact in found}

    markdown = str(artifacts["morning-scrape-summary"])
    html = MarkdownIt("commonmark").render(markdown)
    assert html.count("<li>") == 3, html
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and "49" not in html

    table = artifacts["morning-scrape-items"]
    rows = table if isinstance(table, list) else json.loads(str(table))
    assert len({tuple(row) for row in rows}) == 1, "every row has the same columns"
    bad = next(row for row in rows if row["meeting"] == "2026-11-14/R/BAD")
    assert "<script>x</script>|{{ 7*7 }}|`" in bad["error"], "table cells are data"


def _assert_logged_only_as_arguments(records: list[logging.LogRecord]) -> None:
    # A record's msg is its template: SQL statements are logged as theirs, so a name
    # pasted into SQL (or into a log format string) would show up there.
    messages = [record.getMessage() for record in records]
    assert any("<script>x</script>|{{ 7*7 }}" in message for message in messages)
    sql = [r.getMessage() for r in records if r.name.startswith("sqlalchemy.engine")]
    assert any(SQL_DROP in message for message in sql), "names are bound parameters"
    for record in records:
        template = str(record.msg)
        assert not any(marker in template for marker in MARKERS), template


# --- Showing errors: markdown summary and notifications ----------------------------


def test_a_hostile_error_renders_as_one_plain_line_of_markdown() -> None:
    from flows.artifacts import summary_markdown
    from racing.job_runs import JobSummary

    hostile = f"{MARKUP} {LINES} {JINJA} ```fence``` \\*"
    summary = JobSummary(
        items_processed=2,
        items_failed=2,
        meta={
            "races": {"A/1": {"error": hostile}, "A/`2`": {"error": "x"}},
            "failedRaces": ["A/1", "A/`2`"],
        },
        error=hostile,
    )

    html = MarkdownIt("commonmark").render(summary_markdown("t15", 1, summary))

    assert html.count("<li>") == 2 and "<h1>" not in html
    assert "<script>" not in html and "<strong>" not in html and "<a " not in html
    plain = " ".join(hostile.splitlines()).replace("&", "&amp;")
    escaped = plain.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert f"Error: {escaped}</p>" in html
    assert "<code>A/`2`</code>" in html


def test_a_failure_notice_quotes_template_syntax_without_evaluating_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.server.utilities.user_templates import render_user_template_sync

    from flows.notifications import BODY, SUBJECT, problem_event, webhook_block
    from racing.settings import get_settings

    token = uuid4().hex
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/{token}"
    monkeypatch.setenv("RACING_NOTIFY_WEBHOOK_URL", url)
    monkeypatch.setenv("RACING_CANARY", "CANARY-VALUE")
    get_settings.cache_clear()
    error = (
        f"race 3: {JINJA} {{{{ event.payload.jobRunId }}}} {{{{ webhookUrl }}}} "
        "{{ $RACING_CANARY }} {% for i in range(3) %}LOOP{% endfor %} %s {0}"
    )
    job_run = JobRun(
        id=7,
        job_type="morning_scrape",
        status="failed",
        # No "49" in it: that would be 7*7 evaluated.
        flow_run_id="00000000-0000-0000-0000-000000000001",
        error_message=error,
        meta={"failedMeetings": ["2026-11-14/R/HST"]},
    )

    try:
        event = problem_event(job_run, f"run-{JINJA}")
    finally:
        get_settings.cache_clear()
    assert event is not None
    assert event["payload"]["error"] == error
    received = ReceivedEvent(**event, occurred=datetime.now(UTC), id=uuid4())
    subject, body = (
        render_user_template_sync(template, {"event": received})
        for template in (SUBJECT, BODY)
    )
    webhook_block(url).notify(body=body, subject=subject)

    assert f"Error: {error}\n" in body
    assert f"morning_scrape run run-{JINJA} finished failed" in body
    [(path, raw)] = receiver.received
    sent = json.loads(raw)
    assert sent == {"subject": subject, "body": body}
    assert "49" not in raw and "LOOPLOOP" not in raw and "CANARY-VALUE" not in raw
    assert path == f"/hooks/{token}" and token not in raw
