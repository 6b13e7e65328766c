"""Deterministic generator of the committed scenarios.

    python -m racing.simulator.generate default > scenarios/default.json
    python -m racing.simulator.generate faulty-morning > scenarios/faulty-morning.json
    python -m racing.simulator.generate carnival --scale 5 > carnival-x5.json

Everything comes from a seeded random.Random, so the same code always writes the same
files; a test checks that the committed files still match. The carnival day, a
benchmark's large scenario, is not committed: `racing bench --scale N` writes it.
"""

import datetime as dt
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from racing.simulator.scenario import RaceType, parse_scenario

RACE_DATE = dt.date(2026, 11, 14)
DEFAULT_SEED = 20261114
FAULTY_SEED = 6300
CARNIVAL_SEED = 1114
DEFAULT_CARNIVAL_SCALE = 5

JsonDict = dict[str, object]
# Special case given to each (raceType, venueMnemonic, raceNumber).
_Plans = dict[tuple[str, str, int], str]

SYD, MEL, BNE, ADL = (
    "Australia/Sydney",
    "Australia/Melbourne",
    "Australia/Brisbane",
    "Australia/Adelaide",
)
PER, HBA, DRW, AKL = (
    "Australia/Perth",
    "Australia/Hobart",
    "Australia/Darwin",
    "Pacific/Auckland",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJECTIVES = _words(
    "SILVER GOLDEN QUIET NORTHERN MIDNIGHT RED BLUE WILD LUCKY BOLD SWIFT DARK BRIGHT "
    "ROYAL COSMIC RUSTY SECRET LONE IRON COPPER VELVET STORMY SUNNY FROSTY HIDDEN "
    "RAPID GENTLE PROUD RESTLESS DISTANT ELECTRIC HOLLOW CRIMSON EMERALD AMBER SALTY "
    "MISTY DUSTY JOLLY NOBLE RAGING SOLAR LUNAR ARCTIC COASTAL URBAN RURAL SPICY "
    "SMOKY STEADY TIMELY CLEVER CHEEKY HUMBLE MIGHTY NIFTY PLUCKY ROCKY SHADY SNOWY "
    "SUPREME TOUGH WARM WINDY ZESTY ATOMIC BRAVE CALM DARING EAGER FANCY GRAND HAPPY"
)
_NOUNS = _words(
    "TIDE STAR ACHIEVER ROAD RIVER DANCER EXPRESS MONARCH LEGEND ECHO HARBOUR COMET "
    "BANDIT RANGER PILOT VOYAGE SPIRIT MELODY CANYON FALCON THUNDER CROWN ARROW "
    "BREEZE LANTERN MARSHAL ORBIT PHANTOM QUEST RHYTHM SAILOR TEMPEST VALLEY WARRIOR "
    "ANCHOR BEACON CIRCUIT DYNAMO EMBER FORTUNE GLACIER HORIZON ISLAND JUBILEE "
    "KESTREL LAGOON MERIDIAN NOMAD OUTLAW PRAIRIE QUARTZ RAVEN SUMMIT TRAVELLER "
    "UPRISING VANGUARD WHISPER ZEPHYR BOUNTY CHARM DRIFTER FRONTIER GAMBLE HERO"
)
_SURNAMES = _words(
    "Smith Taylor Walker Harris Lewis Young Wright Green Baker Adams Nelson Carter "
    "Mitchell Roberts Phillips Evans Edwards Collins Stewart Morris Murphy Cook Rogers "
    "Morgan Reed Bailey Bell Cooper Richardson Cox Howard Ward Watson Brooks Gray "
    "James Bennett Wood Barnes Ross Henderson Coleman Jenkins Perry Powell Long "
    "Patterson Hughes Flynn Walsh Byrne Doyle Quinn Burke Dunn Kelly Nash Fraser"
)
_INITIALS = "ABCDGHJKLMNPRST"

_GALLOPS_CLASSES = (
    ("MAIDEN PLATE", "MDN"),
    ("CLASS 1 HANDICAP", "CL1"),
    ("CLASS 3 HANDICAP", "CL3"),
    ("BENCHMARK 64 HANDICAP", "BM64"),
    ("BENCHMARK 72 HANDICAP", "BM72"),
    ("3YO HANDICAP", "3YO"),
    ("FILLIES AND MARES HANDICAP", "F&M BM70"),
    ("RATING 0-58 HANDICAP", "R0-58"),
)
_HARNESS_CLASSES = (
    ("MOBILE PACE", "NR 45-55"),
    ("STANDING START TROT", "NR 40-50"),
    ("MAIDEN PACE", "MDN"),
    ("CLAIMING PACE", "C1"),
    ("FREE FOR ALL PACE", "FFA"),
)
_GREYHOUND_CLASSES = (
    ("MAIDEN", "MDN"),
    ("GRADE 5", "GR5"),
    ("GRADE 6", "GR6"),
    ("MIXED 4/5", "MX4/5"),
    ("NOVICE", "NOV"),
    ("FREE FOR ALL", "FFA"),
)
_DISTANCES = {
    "R": (1000, 1100, 1200, 1300, 1400, 1600, 2000, 2400),
    "H": (1609, 1720, 2150, 2240, 2650),
    "G": (300, 400, 515, 525, 595, 715),
}
_FIELD_SIZES = {"R": (8, 16), "H": (8, 12), "G": (8, 8)}
_RAILS = ("True Entire Circuit", "+3m Entire Circuit", "Out 2m 1000m to Winning Post")


@dataclass(frozen=True)
class Venue:
    """A meeting to generate: where, what code, and when its card runs (local)."""

    name: str
    mnemonic: str
    race_type: RaceType
    location: str
    timezone: str
    first_race: str
    gap_minutes: int
    races: int
    track: str = "GOOD4"
    weather: str = "FINE"


DEFAULT_VENUES = (
    # Gallops: midday to late afternoon, local time.
    Venue("RANDWICK", "RAN", "R", "NSW", SYD, "12:05", 35, 10),
    Venue("GOSFORD", "GOS", "R", "NSW", SYD, "12:20", 35, 8, "GOOD3"),
    Venue("DUBBO", "DUB", "R", "NSW", SYD, "12:40", 35, 8, "SOFT5"),
    Venue("FLEMINGTON", "FLE", "R", "VIC", MEL, "12:00", 35, 10),
    Venue("BALLARAT", "BAL", "R", "VIC", MEL, "12:30", 35, 8, "SOFT6", "OVERCAST"),
    Venue("SALE", "SAL", "R", "VIC", MEL, "12:50", 35, 7, "SOFT7", "SHOWERY"),
    Venue("BENDIGO", "BEN", "R", "VIC", MEL, "13:10", 35, 8),
    Venue("EAGLE FARM", "EAG", "R", "QLD", BNE, "12:15", 35, 9),
    Venue("SUNSHINE COAST", "SCO", "R", "QLD", BNE, "12:45", 35, 8, "HEAVY10", "RAIN"),
    Venue("MORPHETTVILLE", "MOR", "R", "SA", ADL, "12:20", 35, 9),
    Venue("ASCOT", "ASC", "R", "WA", PER, "12:30", 35, 9),
    Venue("PINJARRA", "PIN", "R", "WA", PER, "13:00", 35, 7),
    Venue("LAUNCESTON", "LAU", "R", "TAS", HBA, "13:30", 35, 7, "GOOD4", "OVERCAST"),
    Venue("DARWIN", "DAR", "R", "NT", DRW, "13:00", 35, 7, "GOOD3"),
    Venue("ELLERSLIE", "ELL", "R", "NZL", AKL, "12:10", 35, 10, "SOFT5"),
    Venue("RICCARTON", "RIC", "R", "NZL", AKL, "12:25", 35, 9),
    # Harness: twilight and night cards.
    Venue("MENANGLE", "MEN", "H", "NSW", SYD, "18:05", 25, 9, "FAST"),
    Venue("PENRITH", "PEN", "H", "NSW", SYD, "12:30", 25, 8, "GOOD"),
    Venue("MELTON", "MEL", "H", "VIC", MEL, "18:30", 25, 10, "FAST"),
    Venue("SHEPPARTON", "SHE", "H", "VIC", MEL, "16:45", 25, 8, "GOOD"),
    Venue("ALBION PARK", "ALB", "H", "QLD", BNE, "18:15", 25, 9, "FAST"),
    Venue("GLOBE DERBY", "GLO", "H", "SA", ADL, "18:40", 25, 9, "FAST"),
    Venue("GLOUCESTER PARK", "GLP", "H", "WA", PER, "18:50", 25, 10, "FAST"),
    Venue("HOBART", "HOB", "H", "TAS", HBA, "17:10", 25, 8, "GOOD", "SHOWERY"),
    Venue("ADDINGTON", "ADD", "H", "NZL", AKL, "18:30", 25, 10, "FAST"),
    Venue("ALEXANDRA PARK", "ALX", "H", "NZL", AKL, "17:45", 25, 9, "FAST"),
    # Greyhounds: day cards and night cards running past 22:00.
    Venue("WENTWORTH PARK", "WPK", "G", "NSW", SYD, "19:20", 18, 10, "GOOD"),
    Venue("RICHMOND", "RCH", "G", "NSW", SYD, "11:10", 17, 10, "GOOD"),
    Venue("DAPTO", "DAP", "G", "NSW", SYD, "19:05", 18, 10, "GOOD"),
    Venue("SANDOWN PARK", "SAN", "G", "VIC", MEL, "19:15", 18, 11, "GOOD"),
    Venue("THE MEADOWS", "MEA", "G", "VIC", MEL, "18:50", 18, 11, "GOOD"),
    Venue("HEALESVILLE", "HEA", "G", "VIC", MEL, "11:00", 17, 10, "GOOD"),
    Venue("ALBION PARK", "ALB", "G", "QLD", BNE, "19:05", 18, 10, "GOOD"),
    Venue("IPSWICH", "IPS", "G", "QLD", BNE, "12:10", 17, 9, "GOOD"),
    Venue("ANGLE PARK", "ANP", "G", "SA", ADL, "19:10", 18, 10, "GOOD"),
    Venue("MOUNT GAMBIER", "MTG", "G", "SA", ADL, "11:40", 17, 8, "GOOD"),
    Venue("CANNINGTON", "CAN", "G", "WA", PER, "19:20", 18, 10, "GOOD"),
    Venue("MANDURAH", "MAN", "G", "WA", PER, "12:00", 17, 9, "GOOD"),
    Venue("LAUNCESTON", "LCN", "G", "TAS", HBA, "18:45", 18, 9, "GOOD"),
    Venue("MANUKAU", "MNK", "G", "NZL", AKL, "11:05", 17, 10, "GOOD"),
)

# How many races get each special case in the default scenario.
DEFAULT_CASES = (
    ("late_scratching", 5),
    ("delayed_10", 1),
    ("delayed_20_in_morning", 1),
    ("brought_forward_5", 1),
    ("protest_first", 2),
    ("protest_second", 1),
    ("dead_heat_first", 1),
    ("dead_heat_third", 1),
    ("late_jump", 4),
    ("never_paying", 2),
    ("late_official", 2),
    ("abandoned", 1),
)
ABANDONED_MEETING = ("R", "SCO")

# Where the carnival day's extra copies of the default card race: (code, timezone).
# All lie within a few hours of Sydney, so the day keeps its length and grows dense.
CARNIVAL_COUNTRIES = (
    ("JPN", "Asia/Tokyo"),
    ("HKG", "Asia/Hong_Kong"),
    ("SGP", "Asia/Singapore"),
    ("KOR", "Asia/Seoul"),
    ("MYS", "Asia/Kuala_Lumpur"),
    ("PHL", "Asia/Manila"),
)

FAULTY_VENUES = (
    Venue("GOSFORD", "GOS", "R", "NSW", SYD, "12:20", 35, 7, "GOOD3"),
    Venue("BENDIGO", "BEN", "R", "VIC", MEL, "13:10", 35, 7),
    Venue("ADDINGTON", "ADD", "H", "NZL", AKL, "18:30", 25, 8, "FAST"),
    Venue("WENTWORTH PARK", "WPK", "G", "NSW", SYD, "19:20", 18, 8, "GOOD"),
)


class _Names:
    """Hands out runner names, unique across the whole day."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def runner(self) -> str:
        while True:
            name = f"{self._rng.choice(_ADJECTIVES)} {self._rng.choice(_NOUNS)}"
            if name not in self._used:
                self._used.add(name)
                return name

    def person(self) -> str:
        return f"{self._rng.choice(_INITIALS)} {self._rng.choice(_SURNAMES)}"


def build_default() -> JsonDict:
    """The default scenario: a full Saturday of Australian and NZ racing."""
    rng = random.Random(DEFAULT_SEED)
    plans = _assign_cases(rng, DEFAULT_VENUES, DEFAULT_CASES, ABANDONED_MEETING)
    names = _Names(rng)
    meetings = [_meeting(rng, names, venue, plans) for venue in DEFAULT_VENUES]
    return {
        "version": 1,
        "name": "default",
        "description": (
            "A full Saturday of racing in six states, the NT and New Zealand, with "
            "late scratchings, start-time changes, protests, dead heats, late jumps, "
            "an abandoned race, an abandoned meeting and two feeds that never say "
            "Paying. No faults."
        ),
        "date": RACE_DATE.isoformat(),
        "seed": DEFAULT_SEED,
        "timings": {"interimAfterSeconds": 300, "payingAfterSeconds": 720},
        "meetings": meetings,
    }


def build_carnival(scale: int = DEFAULT_CARNIVAL_SCALE) -> JsonDict:
    """A carnival day `scale` times the default: its card, and copies raced abroad.

    Each copy of the 40 meetings races in another country's timezone, with new
    mnemonics (`RAN2`, `RAN3`...) and its own draw of fields, prices and results;
    the special cases are `scale` times as many. No faults.
    """
    if not 1 <= scale <= 99:
        raise ValueError(f"scale must be 1 to 99, got {scale}")
    rng = random.Random(CARNIVAL_SEED + scale)
    cards = [DEFAULT_VENUES, *(_abroad(copy) for copy in range(2, scale + 1))]
    venues = [venue for card in cards for venue in card]
    cases = tuple((case, count * scale) for case, count in DEFAULT_CASES)
    plans = _assign_cases(rng, venues, cases, ABANDONED_MEETING)
    meetings = []
    for card in cards:
        names = _Names(rng)  # a country's runner names are unique within it
        meetings += [_meeting(rng, names, venue, plans) for venue in card]
    countries = sorted({venue.location for venue in venues})
    return {
        "version": 1,
        "name": f"carnival-x{scale}",
        "description": (
            f"The default Saturday's card {scale} times over, raced in "
            f"{', '.join(countries)}, with {scale} times its special cases. No faults."
        ),
        "date": RACE_DATE.isoformat(),
        "seed": CARNIVAL_SEED + scale,
        "timings": {"interimAfterSeconds": 300, "payingAfterSeconds": 720},
        "meetings": meetings,
    }


def _abroad(copy: int) -> tuple[Venue, ...]:
    """The default card's venues as copy number `copy`, in another country."""
    country, zone = CARNIVAL_COUNTRIES[(copy - 2) % len(CARNIVAL_COUNTRIES)]
    return tuple(
        replace(
            venue,
            name=f"{venue.name} {country}",
            mnemonic=f"{venue.mnemonic}{copy}",
            location=country,
            timezone=zone,
        )
        for venue in DEFAULT_VENUES
    )


def build_faulty_morning() -> JsonDict:
    """A small day whose race endpoints fail during the morning scrape."""
    rng = random.Random(FAULTY_SEED)
    names = _Names(rng)
    meetings = [_meeting(rng, names, venue, {}) for venue in FAULTY_VENUES]
    until = _local(SYD, "06:30").isoformat()
    faults: list[JsonDict] = [
        {
            "endpoint": "race",
            "raceType": race_type,
            "venueMnemonic": venue,
            "kind": "status",
            "status": 500,
            "until": until,
            "note": "race pages of this meeting fail until 06:30 Sydney time",
        }
        for race_type, venue in (("R", "GOS"), ("H", "ADD"))
    ]
    faults.append(
        {
            "endpoint": "race",
            "raceType": "G",
            "venueMnemonic": "WPK",
            "raceNumber": 3,
            "kind": "malformed",
            "note": "this race's payload is always truncated JSON",
        }
    )
    return {
        "version": 1,
        "name": "faulty-morning",
        "description": (
            "Four meetings; the race endpoints of GOS and ADD answer 500 until 06:30 "
            "Sydney time, and WPK race 3 always answers truncated JSON."
        ),
        "date": RACE_DATE.isoformat(),
        "seed": FAULTY_SEED,
        "meetings": meetings,
        "faults": faults,
    }


def _assign_cases(
    rng: random.Random,
    venues: Sequence[Venue],
    cases: Sequence[tuple[str, int]],
    abandoned_meeting: tuple[str, str],
) -> _Plans:
    """Give each special case to distinct races; the abandoned meeting gets its own."""
    plans: _Plans = {}
    candidates: list[tuple[str, str, int]] = []
    for venue in venues:
        abandoned = (venue.race_type, venue.mnemonic) == abandoned_meeting
        for number in range(1, venue.races + 1):
            key = (venue.race_type, venue.mnemonic, number)
            if abandoned:
                plans[key] = "meeting_abandoned"
            else:
                candidates.append(key)
    rng.shuffle(candidates)
    for case, count in cases:
        for _ in range(count):
            plans[candidates.pop()] = case
    return plans


def _meeting(
    rng: random.Random, names: _Names, venue: Venue, plans: _Plans
) -> JsonDict:
    start = _local(venue.timezone, venue.first_race)
    races = []
    cases = set()
    for number in range(1, venue.races + 1):
        case = plans.get((venue.race_type, venue.mnemonic, number))
        races.append(_race(rng, names, venue, number, start, case))
        cases.add(case)
        start += dt.timedelta(minutes=venue.gap_minutes + rng.choice((-2, 0, 0, 1, 3)))
    meeting: JsonDict = {
        "meetingName": venue.name,
        "venueMnemonic": venue.mnemonic,
        "raceType": venue.race_type,
        "location": venue.location,
        "timezone": venue.timezone,
        "trackCondition": venue.track,
        "weatherCondition": venue.weather,
    }
    if venue.race_type == "R":
        meeting["railPosition"] = rng.choice(_RAILS)
    if "meeting_abandoned" in cases:
        meeting["abandonedAt"] = _local(venue.timezone, "09:30").isoformat()
        meeting["note"] = "abandoned at 09:30 local: track waterlogged"
    meeting["races"] = races
    return meeting


def _race(
    rng: random.Random,
    names: _Names,
    venue: Venue,
    number: int,
    start: dt.datetime,
    case: str | None,
) -> JsonDict:
    classes = {"R": _GALLOPS_CLASSES, "H": _HARNESS_CLASSES, "G": _GREYHOUND_CLASSES}
    race_name, conditions = rng.choice(classes[venue.race_type])
    runners, strengths = _runners(rng, names, venue, start)
    race: JsonDict = {
        "raceNumber": number,
        "raceName": race_name,
        "raceDistance": rng.choice(_DISTANCES[venue.race_type]),
        "raceClassConditions": conditions,
        "startTime": start.isoformat(),
        "jumpDelaySeconds": rng.choice((0, 0, 15, 20, 30, 45, 60, 90)),
        "interimAfterSeconds": rng.randint(240, 480),
        "payingAfterSeconds": rng.randint(540, 1200),
    }
    if case is not None:
        _SPECIALS[case](rng, race, runners, start)
    race["runners"] = runners
    if case not in ("abandoned", "meeting_abandoned"):
        _add_results(rng, race, runners, strengths, case)
    return race


def _runners(
    rng: random.Random, names: _Names, venue: Venue, start: dt.datetime
) -> tuple[list[JsonDict], dict[int, float]]:
    low, high = _FIELD_SIZES[venue.race_type]
    size = rng.randint(low, high)
    barriers = rng.sample(range(1, size + 1), size)
    strengths = {n: rng.lognormvariate(0, 0.8) for n in range(1, size + 1)}
    # A market of about 115% overround, like a real fixed-odds book.
    book = sum(strengths.values()) / 1.15
    runners: list[JsonDict] = []
    for number in range(1, size + 1):
        runner: JsonDict = {
            "runnerNumber": number,
            "runnerName": names.runner(),
            "barrierNumber": barriers[number - 1],
        }
        if venue.race_type != "G":
            runner["riderDriverName"] = names.person()
        runner["trainerName"] = names.person()
        if venue.race_type == "R":
            runner["handicapWeight"] = max(54.0, 61.0 - 0.5 * (number - 1))
        runner["last5Starts"] = "".join(rng.choice("1234567890x") for _ in range(5))
        runner["fixedWin"] = round(max(1.2, book / strengths[number]), 1)
        runners.append(runner)
    if rng.random() < 0.2:
        _scratch_early(rng, runners[rng.randrange(size)], start)
    return runners, strengths


def _scratch_early(rng: random.Random, runner: JsonDict, start: dt.datetime) -> None:
    """A scratching lodged the afternoon before, as most are."""
    the_day_before = start.replace(hour=16, minute=rng.randint(0, 59)) - dt.timedelta(
        days=1
    )
    runner["scratching"] = {"at": the_day_before.isoformat(), "late": False}


def _add_results(
    rng: random.Random,
    race: JsonDict,
    runners: Sequence[JsonDict],
    strengths: dict[int, float],
    case: str | None,
) -> None:
    starters = [int(str(r["runnerNumber"])) for r in runners if "scratching" not in r]
    order = _finishing_order(rng, starters, strengths)
    results: list[list[int]] = [[n] for n in order[:4]]
    if case == "dead_heat_first":
        results = [order[:2], [order[2]], [order[3]]]
    if case == "dead_heat_third":
        results = [[order[0]], [order[1]], order[2:4]]
    race["results"] = results
    if case == "protest_first":
        race["interimResults"] = [results[1], results[0], *results[2:]]
    if case == "protest_second":
        race["interimResults"] = [results[0], results[2], results[1], *results[3:]]


def _finishing_order(
    rng: random.Random, starters: Sequence[int], strengths: dict[int, float]
) -> list[int]:
    """Draw the placings, stronger runners more likely to finish in front."""
    left = list(starters)
    order: list[int] = []
    while left:
        pick = rng.choices(left, weights=[strengths[n] for n in left])[0]
        order.append(pick)
        left.remove(pick)
    return order


def _late_scratching(
    rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
) -> None:
    runner = rng.choice([r for r in runners if "scratching" not in r])
    price = float(str(runner["fixedWin"]))
    at = start - dt.timedelta(minutes=rng.randint(15, 60), seconds=rng.randint(0, 59))
    win = min(75, round(90 / price))
    runner["scratching"] = {
        "at": at.isoformat(),
        "late": True,
        "winDeduction": win,
        "placeDeduction": max(1, win // 3),
    }
    race["note"] = f"runner {runner['runnerNumber']} late-scratched"


def _start_change(minutes: int, notice: dt.timedelta | None) -> "_Special":
    def apply(
        rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
    ) -> None:
        new_start = start + dt.timedelta(minutes=minutes)
        at = start.replace(hour=8, minute=0) if notice is None else start - notice
        race["startTimeChanges"] = [
            {"at": at.isoformat(), "startTime": new_start.isoformat()}
        ]
        change = "delayed" if minutes > 0 else "brought forward"
        race["note"] = f"{change} {abs(minutes)} min, announced {at:%H:%M} local"

    return apply


def _note(note: str, **fields: object) -> "_Special":
    def apply(
        rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
    ) -> None:
        race.update(fields)
        race["note"] = note

    return apply


def _late_jump(
    rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
) -> None:
    race["jumpDelaySeconds"] = rng.randint(180, 420)
    race["note"] = "jumps late"


def _slow_official(note: str) -> "_Special":
    def apply(
        rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
    ) -> None:
        # 20-23 minutes: late, yet inside the post-race follow-ups (first check 5-10
        # minutes after the start, then 5, 5 and 10 minutes later).
        race["payingAfterSeconds"] = rng.randint(1200, 1380)
        race["note"] = note

    return apply


def _abandoned(
    rng: random.Random, race: JsonDict, runners: list[JsonDict], start: dt.datetime
) -> None:
    race["abandonedAt"] = (start - dt.timedelta(minutes=40)).isoformat()
    race["note"] = "abandoned 40 min before the start: false rail down"


_Special = Callable[[random.Random, JsonDict, list[JsonDict], dt.datetime], None]

_SPECIALS: dict[str, _Special] = {
    "late_scratching": _late_scratching,
    "delayed_10": _start_change(10, dt.timedelta(minutes=45)),
    "delayed_20_in_morning": _start_change(20, None),
    "brought_forward_5": _start_change(-5, dt.timedelta(minutes=90)),
    "protest_first": _slow_official("protest: interim 1st and 2nd swap"),
    "protest_second": _slow_official("protest: interim 2nd and 3rd swap"),
    "dead_heat_first": _note("dead heat for first"),
    "dead_heat_third": _note("dead heat for third"),
    "late_jump": _late_jump,
    "never_paying": _note("the feed never marks it Paying", neverPaying=True),
    "late_official": _slow_official("official result 20+ min after the jump"),
    "abandoned": _abandoned,
    "meeting_abandoned": _note("its meeting is abandoned"),
}


def _local(zone: str, clock: str) -> dt.datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return dt.datetime.combine(RACE_DATE, dt.time(hours, minutes), ZoneInfo(zone))


BUILDERS: dict[str, Callable[[], JsonDict]] = {
    "default": build_default,
    "faulty-morning": build_faulty_morning,
}


def render(name: str, *, scale: int = DEFAULT_CARNIVAL_SCALE) -> str:
    """The named scenario as JSON text; `scale` is the carnival day's size."""
    data = build_carnival(scale) if name == "carnival" else BUILDERS[name]()
    parse_scenario(data, source=f"generated {name}")
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the named scenario (default: 'default') to standard output."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args else "default"
    scale = DEFAULT_CARNIVAL_SCALE
    if name == "carnival" and len(args) == 2 and args[0] == "--scale":
        scale = int(args[1]) if args[1].isdigit() else 0
        args = [] if 1 <= scale <= 99 else args
    if (name not in BUILDERS and name != "carnival") or args:
        names = "|".join(BUILDERS)
        sys.stderr.write(f"usage: generate [{names}] | carnival [--scale 1-99]\n")
        return 2
    sys.stdout.write(render(name, scale=scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
