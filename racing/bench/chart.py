"""The benchmark chart: calls, coverage and lag per strategy, as one PNG.

matplotlib is an optional dependency (`pip install -e '.[bench]'`); without it the
report is written without the chart.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from racing.bench.day import DayBench
from racing.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

INSTALL_HINT = "install the chart's dependency with: pip install -e '.[bench]'"
_COLOURS = ("#1b9e77", "#d95f02", "#7570b3")
_WINDOWS = (("t60", "T-60"), ("t15", "T-15"), ("result", "result"))
_EVENTS = (("odds", "odds move"), ("scratching", "scratching"), ("result", "official"))


def chart_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_chart(day: DayBench, path: Path) -> None:
    """Draw calls, coverage and lag distribution of every strategy of the day."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError(f"matplotlib is missing; {INSTALL_HINT}") from None

    figure, (calls, coverage, lag) = pyplot.subplots(
        1, 3, figsize=(16, 5.2), gridspec_kw={"width_ratios": [1, 1.2, 1.6]}
    )
    names = [_short(f.strategy) for f in day.figures]
    _draw_calls(calls, day, names)
    _draw_coverage(coverage, day, names)
    _draw_lags(lag, day, names)
    figure.suptitle(
        f"{day.name}: {day.meetings} meetings, {day.races:,} races, same simulated day"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _draw_calls(axes: "Axes", day: DayBench, names: list[str]) -> None:
    from matplotlib.patches import Patch

    values = [f.calls for f in day.figures]
    bars = axes.bar(names, values, color=_COLOURS[: len(values)])
    axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2)
    # The part of each bar that brought nothing new since the previous call.
    axes.bar(
        names,
        [f.duplicates for f in day.figures],
        fill=False,
        hatch="///",
        edgecolor="white",
        linewidth=0,
    )
    minimum = axes.axhline(
        day.minimum.total, color="black", linestyle="--", linewidth=1
    )
    axes.set_yscale("log")
    axes.set_title("race API calls (log scale)")
    hatched = Patch(facecolor="grey", edgecolor="white", hatch="///")
    axes.legend(
        [minimum, hatched],
        [f"minimum {day.minimum.total:,}", "of which showed nothing new"],
        loc="upper right",
        fontsize=8,
    )
    axes.margins(y=0.25)


def _draw_coverage(axes: "Axes", day: DayBench, names: list[str]) -> None:
    width = 0.8 / len(day.figures)
    for index, figures in enumerate(day.figures):
        xs = [w + index * width for w in range(len(_WINDOWS))]
        values = [figures.coverage(key) for key, _ in _WINDOWS]
        bars = axes.bar(xs, values, width, label=names[index], color=_COLOURS[index])
        axes.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=7)
    axes.set_xticks(
        [w + 0.4 - width / 2 for w in range(len(_WINDOWS))],
        [label for _, label in _WINDOWS],
    )
    axes.set_ylim(0, 125)
    axes.set_yticks(range(0, 101, 20))
    axes.set_ylabel("% of races that ran")
    axes.set_title("coverage per window")
    axes.legend(loc="upper center", ncols=len(names), fontsize=8)


def _draw_lags(axes: "Axes", day: DayBench, names: list[str]) -> None:
    from matplotlib.patches import Patch

    width = 0.8 / len(day.figures)
    for index, figures in enumerate(day.figures):
        for event, (key, _) in enumerate(_EVENTS):
            minutes = [lag.total_seconds() / 60 for lag in figures.lags[key].stored]
            if not minutes:
                if index == 0:
                    axes.text(event + 0.3, 0, "none that day", ha="center")
                continue
            boxes = axes.boxplot(
                [minutes],
                positions=[event + index * width],
                widths=width * 0.85,
                patch_artist=True,
                medianprops={"color": "black"},
                flierprops={"markersize": 2},
            )
            boxes["boxes"][0].set_facecolor(_COLOURS[index])
    axes.set_xticks(
        [e + 0.4 - width / 2 for e in range(len(_EVENTS))],
        [label for _, label in _EVENTS],
    )
    axes.set_xlim(-0.3, len(_EVENTS) - 0.1)
    axes.set_ylabel("minutes from new data to stored")
    axes.set_title("lag distribution (box: quartiles, whiskers: 1.5 IQR)")
    handles = [
        Patch(color=colour, label=name)
        for colour, name in zip(_COLOURS, names, strict=False)
    ]
    axes.legend(handles=handles, loc="upper right", fontsize=8)


def _short(strategy: str) -> str:
    return strategy.split(":")[0]
