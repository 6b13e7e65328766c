"""Prefect flows that wire the `racing` package into scheduled, recorded runs.

A few Prefect defaults are changed before Prefect is first imported, which is why it
happens here rather than at an entry point; the environment still wins over each:
the `racing` loggers are routed to Prefect's handlers (console and UI); the local
server sends no usage telemetry (these machines have no internet, and its heartbeat
contends for the local server's SQLite database); and the temporary local server gets
90 s rather than 20 s to start, which a busy 2-core machine needs.
"""

import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "racing")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
