"""Prefect flows that wire the `racing` package into scheduled, recorded runs.

The `racing` loggers are routed to the Prefect UI: this must be set before Prefect is
imported, which is why it happens here rather than at an entry point.
"""

import os

os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "racing")
