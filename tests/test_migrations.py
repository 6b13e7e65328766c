"""Migrations build the schema on both backends and take it down again."""

from sqlalchemy import inspect

from racing.database import downgrade, make_engine, upgrade

TABLES = {
    "meetings",
    "races",
    "runners",
    "odds_snapshots",
    "results",
    "scrapes",
    "job_runs",
    "job_run_rollups",
    "skipped_runs",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_then_downgrade_then_upgrade_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert _tables(empty_database_url) >= TABLES

    downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()

    upgrade(empty_database_url)
    assert _tables(empty_database_url) >= TABLES


def test_job_runs_has_the_camel_case_columns_operators_query(database_url: str) -> None:
    engine = make_engine(database_url)
    columns = {column["name"] for column in inspect(engine).get_columns("job_runs")}
    engine.dispose()

    assert columns >= {
        "jobType",
        "status",
        "startedAt",
        "completedAt",
        "durationMs",
        "itemsProcessed",
        "itemsFailed",
        "errorMessage",
        "metadata",
        "retryCount",
        "parentJobRunId",
        "flowRunId",
    }


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from racing.models import Base

    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection), Base.metadata
        )
    engine.dispose()

    assert differences == []
