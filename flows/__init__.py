"""Prefect flows that wire the `racing` package into scheduled, recorded runs.

Two Prefect defaults are changed before Prefect is first imported, which is why it
happens here rather than at an entry point; the environment still wins over both:
the `racing` loggers are routed to Prefect's handlers (console and UI), and the local
server sends no usage telemetry (these machines have no internet, and its heartbeat
contends for the local server's SQLite database).
"""

import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "racing")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
