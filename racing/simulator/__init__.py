"""A TAB racing API simulator: a scenario file served over HTTP on loopback.

`scenario` loads the day, `state` turns it into TAB payloads at a simulated instant, and
`server` serves them with injected faults. See docs/scenario-format.md.
"""
