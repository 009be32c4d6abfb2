"""EventBridge schedule expressions (``rate(...)`` and ``cron(...)``), checked at synth as EventBridge checks them.

The grammar is EventBridge's (the same for Scheduler schedules and scheduled rules): a rate is a positive integer
and a unit, singular for 1 and plural above (``rate(1 hour)``, ``rate(5 hours)``); a cron has six fields
(minutes, hours, day of month, month, day of week, year) and exactly one of the two day fields is ``?``.
Sources: "Rate expressions reference" and "Setting a schedule pattern for scheduled rules" in the EventBridge
User Guide.
"""

from __future__ import annotations

import re

_RATE = re.compile(r"rate\((?P<value>[0-9]+) (?P<unit>minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# name, lowest, highest, names for values, wildcards beyond ", - * /"
_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _DAYS, "?L#"),
    ("year", 1970, 2199, {}, ""),
)
RATE_EXAMPLE = "rate(1 hour), rate(15 minutes), cron(0 * * * ? *)"


def schedule_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as an EventBridge schedule (None when EventBridge accepts it)."""
    if not isinstance(expression, str):
        return f"expected a string like {RATE_EXAMPLE}"
    if expression.startswith("rate("):
        return _rate_problem(expression)
    if expression.startswith("cron("):
        return _cron_problem(expression)
    return f"must be a rate(value unit) or cron(six fields) expression, e.g. {RATE_EXAMPLE}"


def _rate_problem(expression: str) -> str | None:
    match = _RATE.fullmatch(expression)
    if match is None:
        return "a rate is rate(<positive integer> <minute(s)|hour(s)|day(s)>) with one space, e.g. rate(15 minutes)"
    value, unit = int(match["value"]), match["unit"]
    if value < 1:
        return "a rate's value must be a positive integer"
    if value == 1 and unit.endswith("s"):
        return f"with the value 1 the unit is singular: rate(1 {unit[:-1]})"
    if value > 1 and not unit.endswith("s"):
        return f"with a value above 1 the unit is plural: rate({value} {unit}s)"
    return None


def _cron_problem(expression: str) -> str | None:
    match = _CRON.fullmatch(expression)
    if match is None:
        return "a cron is cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"
    fields = match["fields"].split(" ")
    if len(fields) != 6 or not all(fields):
        return (
            f"a cron has six fields separated by single spaces (minutes hours day-of-month month day-of-week year), "
            f"got {len([f for f in fields if f])}"
        )
    for text, (name, low, high, names, extra) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text, low, high, names, extra)
        if problem:
            return f"cron {name} field {text!r}: {problem}"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return "exactly one of day-of-month and day-of-week must be '?' (e.g. cron(0 12 * * ? *))"
    return None


def _field_problem(text: str, low: int, high: int, names: dict[str, int], extra: str) -> str | None:
    if text == "?":
        return None if "?" in extra else "'?' is allowed only in day-of-month and day-of-week"
    if "#" in text:
        if "#" not in extra:
            return "'#' is allowed only in day-of-week"
        day, _, nth = text.partition("#")
        if _value(day, low, high, names) is None or nth not in {"1", "2", "3", "4", "5"}:
            return "'#' takes <day 1-7 or SUN-SAT>#<1-5>, e.g. 3#2 (the second Tuesday)"
        return None
    if text in ("L", "LW") and "L" in extra and (text == "L" or "W" in extra):
        return None
    for item in text.split(","):
        problem = _item_problem(item, low, high, names, extra)
        if problem:
            return problem
    return None


def _item_problem(item: str, low: int, high: int, names: dict[str, int], extra: str) -> str | None:
    allowed = f"{low}-{high}" + (f" or {min(names)}..{max(names)} names" if names else "")
    start, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        return f"'/' needs a positive increment, got {item!r}"
    if start == "*":
        return None
    if "W" in extra and start.endswith("W") and _value(start[:-1], low, high, names) is not None:
        return None
    if "L" in extra and start.endswith("L") and _value(start[:-1], low, high, names) is not None:
        return None
    first, dash, last = start.partition("-")
    for part in (first, last) if dash else (first,):
        if _value(part, low, high, names) is None:
            return f"{part!r} is not a value in {allowed}"
    return None


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int | None:
    if text.upper() in names:
        return names[text.upper()]
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    return None
