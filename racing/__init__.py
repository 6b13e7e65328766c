"""racing-scheduler's domain: TAB client, schema, windows and job records.

Nothing in this package imports Prefect; flows/ wires it into Prefect flows.
"""
