"""No secret leaves the process: the database password and the webhook URL's tokens.

Runs fail in every way we can provoke (a TAB API answering errors, a meeting failing, a
database refusing connections, bad settings, a missing block) with a password in
RACING_DATABASE_URL and tokens in RACING_NOTIFY_WEBHOOK_URL. Nothing they leave behind
may hold a secret: log records (any logger, DEBUG up), Prefect's run logs, the CLI's
output, JobRun errors and metadata, Scrape errors, notification events, artifacts.
"""

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Imported here, not in the tests: Prefect sets up its log handlers on import, and
# inside a test using capsys they would write to a stream closed after it.
from flows.cli import main
from flows.notifications import BLOCK_NAME, install_notifications
from racing.database import describe_database_error, safe_url
from racing.errors import ConfigError
from racing.models import JobRun, Scrape
from racing.settings import get_settings, load_settings, mask_url_passwords
from racing.simulator.scenario import Scenario
from racing.simulator.server import SimulatorServer
from tests.factories import captured_logs, local, meeting, race, scenario

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 14)
PASSWORD = "S3cretPW"
PATH_TOKEN = "T0K3NSECRET"
QUERY_TOKEN = "QS3CRET"
# Port 9 (discard) on loopback: nothing listens, nothing is ever sent there.
WEBHOOK_URL = f"https://127.0.0.1:9/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"
SECRETS = (PASSWORD, PATH_TOKEN, QUERY_TOKEN)
POSTGRES_ONLY = pytest.mark.parametrize(
    "empty_database_url",
    [pytest.param("postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)


def assert_no_secret(where: str, text: str) -> None:
    """Fail naming the place and the secret if any secret appears in `text`."""
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}:\n{text[:2000]}"


def with_password(url: str) -> str:
    """`url` with the test password (trust auth lets any password in)."""
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def logged_text(records: list[logging.LogRecord]) -> str:
    """Every record as a handler would write it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set RACING_* variables and drop every cached setting and engine."""
    from flows.database import forget_engine

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        forget_engine()

    yield apply
    get_settings.cache_clear()
    forget_engine()


# --- Settings and redaction ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:notaport/racing",
        f"postgresql+psycopg://postgres:{PASSWORD}@@127.0.0.1:5432:5433/racing",
    ],
)
def test_a_database_url_that_cannot_be_parsed_is_quoted_without_its_password(
    url: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(database_url=url)

    message = str(caught.value)
    assert message.startswith("RACING_DATABASE_URL: cannot parse ")
    assert "postgresql+psycopg://postgres:***@" in message
    assert_no_secret("the settings error", message)


def test_a_bad_webhook_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(notify_webhook_url=WEBHOOK_URL.replace("https", "ftp"))

    assert "RACING_NOTIFY_WEBHOOK_URL: not an http(s) URL" in str(caught.value)
    assert_no_secret("the settings error", str(caught.value))


def test_redact_masks_every_spelling_of_the_secrets() -> None:
    password = "S3c@ret/PW"
    settings = load_settings(
        database_url="postgresql+psycopg://racer:S3c%40ret%2FPW@db:5432/racing",
        notify_webhook_url=WEBHOOK_URL,
    )
    text = (
        f"pw {password}; quoted S3c%40ret%2FPW; url {settings.database_url}; "
        f"other mysql://u:{PASSWORD}@h/d; webhook {WEBHOOK_URL}; "
        f"path /hooks/{PATH_TOKEN}; query token={QUERY_TOKEN}; alone {QUERY_TOKEN}"
    )

    redacted = settings.redact(text)

    assert_no_secret("redacted text", redacted)
    assert password not in redacted and "S3c%40ret" not in redacted
    assert "racer:***@db:5432/racing" in redacted
    assert "mysql://u:***@h/d" in redacted


def test_a_password_in_the_query_string_is_masked_like_one_before_the_host() -> None:
    url = f"postgresql+psycopg://racer@127.0.0.1:1/racing?password={PASSWORD}&x=1"
    settings = load_settings(database_url=url)
    masked = "postgresql+psycopg://racer@127.0.0.1:1/racing?password=***&x=1"

    assert safe_url(url) == masked
    assert mask_url_passwords(f"given '{url}'") == f"given '{masked}'"
    assert settings.redact(f"auth failed ({PASSWORD}) for {url}") == (
        f"auth failed (***) for {masked}"
    )
    error = describe_database_error(url, OSError(f"cannot use {url}"))
    assert error.startswith(f"database {masked}: OSError: cannot use {masked}; ")


def test_an_unencoded_at_sign_in_a_password_is_masked_up_to_the_host() -> None:
    url = "postgresql+psycopg://racer:p@ss:w0rd@127.0.0.1:1/racing"

    with pytest.raises(ConfigError) as caught:
        load_settings(database_url=url)

    message = str(caught.value)
    assert "'postgresql+psycopg://racer:***@127.0.0.1:1/racing'" in message
    assert "write an @ in the password as %40" in message
    assert "ss:w0rd" not in message
    assert safe_url(url) == "postgresql+psycopg://racer:***@127.0.0.1:1/racing"


def test_a_password_whose_tail_would_become_the_host_is_refused_and_masked() -> None:
    # SQLAlchemy parses this, with password "p" and host "ss@127.0.0.1".
    url = "postgresql+psycopg://racer:p@ss@127.0.0.1:1/racing"

    with pytest.raises(ConfigError) as caught:
        load_settings(database_url=url)

    assert "write an @ in the password as %40" in str(caught.value)
    assert "ss@" not in str(caught.value)
    assert safe_url(url) == "postgresql+psycopg://racer:***@127.0.0.1:1/racing"


@pytest.mark.parametrize("password", ["e", "race"])
def test_a_short_password_is_masked_only_in_urls(password: str) -> None:
    url = f"postgresql+psycopg://racer:{password}@db:5432/racing"
    settings = load_settings(database_url=url)
    text = (
        f"4 of 4 meetings failed at the racing database: {url}, "
        f"postgresql+psycopg://racer@db/racing?password={password}"
    )

    assert settings.redact(text) == (
        "4 of 4 meetings failed at the racing database: "
        "postgresql+psycopg://racer:***@db:5432/racing, "
        "postgresql+psycopg://racer@db/racing?password=***"
    )


def test_a_long_password_is_masked_wherever_it_appears() -> None:
    url = "postgresql+psycopg://racer:correcthorsebattery@db:5432/racing"
    settings = load_settings(database_url=url)

    assert settings.redact("tried correcthorsebattery twice") == "tried *** twice"


# --- The CLI --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{{port}}/racing",
            "postgresql+psycopg://postgres:***@127.0.0.1:{port}/racing",
        ),
        (
            f"postgresql+psycopg://postgres@127.0.0.1:{{port}}/racing?password={PASSWORD}",
            "postgresql+psycopg://postgres@127.0.0.1:{port}/racing?password=***",
        ),
    ],
)
def test_the_cli_names_a_refused_database_without_its_password(
    url: str, shown: str
) -> None:
    port = closed_port()
    env = {
        **_inherited_env(),
        "RACING_DATABASE_URL": url.format(port=port),
        "RACING_NOTIFY_WEBHOOK_URL": WEBHOOK_URL,
    }

    run = subprocess.run(
        [sys.executable, "-m", "flows.cli", "-v", "run", "morning_scrape"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 2, run.stderr
    assert f"database {shown.format(port=port)}: " in run.stderr
    assert "refused" in run.stderr.lower()
    assert_no_secret("the CLI's output", run.stdout + run.stderr)


def _inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RACING_")}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (
            "RACING_DATABASE_URL",
            f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:notaport/racing",
        ),
        ("RACING_NOTIFY_WEBHOOK_URL", WEBHOOK_URL.replace("https", "ftp")),
    ],
)
def test_the_cli_reports_a_bad_setting_without_secrets(
    environment: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    environment(**{variable: value})
    with captured_logs() as records:
        status = main(["run", "morning_scrape"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"racing: error: {variable}: ")
    assert_no_secret("the CLI's output", err)
    assert_no_secret("the logs", logged_text(records))


def test_db_upgrade_names_a_refused_database_without_a_query_password(
    environment: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    url = f"postgresql+psycopg://u@127.0.0.1:{port}/racing?password={PASSWORD}"
    environment(RACING_DATABASE_URL=url)

    status = main(["db", "upgrade"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(
        f"racing: error: database postgresql+psycopg://u@127.0.0.1:{port}/racing"
        "?password=***: OperationalError: "
    )
    assert_no_secret("the CLI's output", err)


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://racer:{PASSWORD}@127.0.0.1:9/racing",
        f"postgresql+asyncpg://racer:{PASSWORD}@127.0.0.1:9/racing",
        "sqlite://",
    ],
)
def test_db_upgrade_refuses_an_unsupported_database_in_one_line(
    environment: Callable[..., None], capsys: pytest.CaptureFixture[str], url: str
) -> None:
    environment(RACING_DATABASE_URL=url)

    status = main(["db", "upgrade"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("racing: error: RACING_DATABASE_URL: ")
    assert err.count("\n") == 1, err
    assert_no_secret("the CLI's output", err)


@pytest.mark.usefixtures("prefect_harness")
def test_a_missing_connector_block_is_reported_without_secrets(
    environment: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    environment(
        RACING_DATABASE_BLOCK="no-such-connector",
        RACING_DATABASE_URL=f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1/racing",
        RACING_NOTIFY_WEBHOOK_URL=WEBHOOK_URL,
    )
    with captured_logs() as records:
        status = main(["run", "morning_scrape"])

    err = capsys.readouterr().err
    assert status == 2
    assert "RACING_DATABASE_BLOCK: no connector block 'no-such-connector'" in err
    assert_no_secret("the CLI's output", err)
    assert_no_secret("the logs", logged_text(records))


# --- Flow runs that fail ------------------------------------------------------------


def _failing_day() -> Scenario:
    """AAA works, BBB's races answer 500, CCC's are cut off; the list 503s at 07:00."""
    faults: list[dict[str, Any]] = [
        {"endpoint": "race", "kind": "status", "status": 500, "venueMnemonic": "BBB"},
        {"endpoint": "race", "kind": "malformed", "venueMnemonic": "CCC"},
        {
            "endpoint": "meetings",
            "kind": "status",
            "status": 503,
            "from": local(7).isoformat(),
        },
    ]
    meetings = [meeting(v, [race(1, local(12))]) for v in ("AAA", "BBB", "CCC")]
    return scenario(meetings, faults)


@POSTGRES_ONLY
@pytest.mark.usefixtures("prefect_harness")
def test_failed_runs_leave_no_secret_in_logs_records_events_or_artifacts(
    serve: Callable[[Scenario], SimulatorServer],
    racing_env: str,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    from flows.morning_scrape import morning_scrape

    monkeypatch.setenv("RACING_DATABASE_URL", with_password(racing_env))
    monkeypatch.setenv("RACING_NOTIFY_WEBHOOK_URL", WEBHOOK_URL)
    server = serve(_failing_day())
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "flows.notifications.emit_event", lambda **event: events.append(event)
    )

    with (
        captured_logs() as records,
        temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: True}),
    ):
        partial = morning_scrape(racing_date=DAY, as_of=local(6), return_state=True)
        server.set_clock(local(7))
        failed = morning_scrape(racing_date=DAY, as_of=local(7), return_state=True)
        _flush_api_logs()
    runs = [partial.state_details.flow_run_id, failed.state_details.flow_run_id]

    texts = {
        "the logs": logged_text(records),
        "the run states": f"{partial.message} {failed.message}",
        "the events": json.dumps(events, default=str),
        "the job runs and scrapes": _job_run_text(sessions),
        **_prefect_api_text(runs),
    }
    assert "HTTP 500" in texts["the job runs and scrapes"], "the failures are there"
    assert "503" in texts["the job runs and scrapes"]
    assert [e["payload"]["status"] for e in events] == ["partial", "failed"]
    # The driver's own debug lines, where a connection string would show, are there.
    assert f"database={make_url(racing_env).database}" in texts["the logs"]
    for where, text in texts.items():
        assert_no_secret(where, text)


def _flush_api_logs() -> None:
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)


def _job_run_text(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        jobs = session.scalars(select(JobRun)).all()
        scrapes = session.scalars(select(Scrape.error)).all()
    assert len(jobs) == 2
    parts = [f"{job.status} {job.error_message} {json.dumps(job.meta)}" for job in jobs]
    return "\n".join(parts + [str(error) for error in scrapes])


def _prefect_api_text(flow_run_ids: list[UUID | None]) -> dict[str, str]:
    """The runs' artifacts and run logs as Prefect's API holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    ids = [run_id for run_id in flow_run_ids if run_id is not None]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=ids)
            )
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))
        )
    assert {a.key for a in artifacts} >= {"morning-scrape-summary"}
    assert logs, "the run logs reached Prefect's API"
    return {
        "the artifacts": "\n".join(a.model_dump_json() for a in artifacts),
        "Prefect's run logs": "\n".join(log.message for log in logs),
    }


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_database_fails_the_run_without_showing_the_password(
    environment: Callable[..., None],
) -> None:
    from flows.morning_scrape import morning_scrape

    port = closed_port()
    environment(
        RACING_DATABASE_URL=(
            f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{port}/racing"
        ),
        RACING_NOTIFY_WEBHOOK_URL=WEBHOOK_URL,
        RACING_DB_RETRY_DELAYS_SECONDS="0",
    )

    with captured_logs() as records:
        state = morning_scrape(racing_date=DAY, as_of=local(6), return_state=True)

    assert state.is_failed()
    logged = logged_text(records)
    assert "refused" in f"{state.message} {logged}".lower(), "the cause is logged"
    assert_no_secret("the run state", str(state.message))
    assert_no_secret("the logs", logged)


@pytest.mark.usefixtures("prefect_harness")
def test_installing_notifications_keeps_the_webhook_url_in_the_block_secrets() -> None:
    from prefect import get_client

    settings = load_settings(notify_webhook_url=WEBHOOK_URL)
    with captured_logs() as records:
        automation_id = install_notifications(settings)

    with get_client(sync_client=True) as client:
        automation = client.read_automation(automation_id)
        shown = client.read_block_document_by_name(
            BLOCK_NAME, "custom-webhook", include_secrets=False
        )
        stored = client.read_block_document_by_name(
            BLOCK_NAME, "custom-webhook", include_secrets=True
        )
        client.delete_automation(automation_id)
        client.delete_block_document(stored.id)
    assert automation is not None
    assert WEBHOOK_URL in json.dumps(stored.data, default=str), "the block holds it"
    assert_no_secret("the automation", automation.model_dump_json())
    assert_no_secret("the block as shown", shown.model_dump_json())
    assert_no_secret("the logs", logged_text(records))


@pytest.mark.usefixtures("prefect_harness", "racing_env")
def test_a_flow_error_quoting_a_secret_is_stored_without_it(
    environment: Callable[..., None], sessions: sessionmaker[Session]
) -> None:
    from prefect import flow

    from flows.hooks import JobRunHooks, current_job_run_id, record_summary
    from racing.job_runs import JobSummary

    environment(RACING_NOTIFY_WEBHOOK_URL=WEBHOOK_URL)
    hooks = JobRunHooks("secret_test")

    @flow(name="secret-quoting-summary", **hooks.as_kwargs())
    def quotes_in_summary() -> object:
        job_run_id = current_job_run_id("secret_test")
        error = f"1 of 2 items failed: POST {WEBHOOK_URL} answered 500"
        return record_summary(job_run_id, JobSummary(2, 1, error=error))

    @flow(name="secret-quoting-error", **hooks.as_kwargs())
    def quotes_in_error() -> None:
        current_job_run_id("secret_test")
        raise RuntimeError(f"could not post to {WEBHOOK_URL}")

    quotes_in_summary()
    failed = quotes_in_error(return_state=True)

    assert failed.is_failed()
    with sessions() as session:
        errors = [job.error_message or "" for job in session.scalars(select(JobRun))]
    assert len(errors) == 2
    assert sorted(errors) == [
        "1 of 2 items failed: POST *** answered 500",
        "Flow run encountered an exception: RuntimeError: could not post to ***",
    ]
    for error in errors:
        assert_no_secret("the JobRun error", error)


@pytest.mark.usefixtures("prefect_harness")
def test_a_connector_block_with_an_unsupported_driver_is_one_line_without_secrets(
    environment: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect_sqlalchemy import SqlAlchemyConnector

    url = f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1/racing"
    SqlAlchemyConnector(connection_info=url).save("psycopg2-connector", overwrite=True)
    environment(RACING_DATABASE_BLOCK="psycopg2-connector")

    status = main(["run", "morning_scrape"])

    err = capsys.readouterr().err
    assert status == 2
    assert err == (
        "racing: error: RACING_DATABASE_BLOCK: block 'psycopg2-connector': "
        "'postgresql+psycopg2' is not a supported database (only sqlite and "
        "postgresql+psycopg are); give it the postgresql+psycopg driver\n"
    )
    assert_no_secret("the CLI's output", err)
