"""Cron dialects: what cron syntax each system accepts, and how its scheduler reads it.

``app.function`` parses a cron expression once, dialect-neutrally (five fields, or
six with a leading seconds field). When a ``Simulation`` is built, its profile's
dialect *binds* each schedule: it refuses what the system's parser refuses (a
seconds field on Inngest, ``MON`` on Vercel, a time zone on Vercel, ...) with an
``UnsupportedFeature`` naming the system, and picks the DST rule of the system's
scheduler (``_cron.py``). ``reference/semantics.md`` §8 tabulates the dialects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from cronsim import CronSimError

from ._cron import CronSchedule, Midnight, Rule
from .errors import InvalidArgument, UnsupportedFeature

DomDow = Literal["or", "and", "exclusive"]
_NAME = re.compile(r"[A-Za-z]{3}")
_SINGLE = re.compile(r"\d+")
_PLAIN = frozenset("0123456789*,-/")
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_SECONDS_NAME = "second"
_BARE_STEP = re.compile(r"[^*/-]+/\S*")
"""A step after a single value or name (``5/15``, ``FRI/2``), not after ``*`` or a range ``a-b``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CronDialect:
    """A system's cron syntax and scheduling rule.

    ``seconds``: a six-field expression (leading seconds) is accepted.
    ``names``: ``JAN``/``MON`` are accepted. ``descriptors``: ``@daily`` & co.
    ``tz_prefix``: the ``TZ=Zone`` prefix is accepted. ``tz_option``: the name of the
    system's time-zone option (``None``: schedules are always UTC).
    ``dom_dow``: ``"or"`` (Vixie: both restricted means either), ``"and"`` (both must
    match), ``"exclusive"`` (one of them must be ``*``). ``rule``: the DST rule.
    ``once_a_day``: expressions firing more often than daily are refused (Vercel Hobby).
    ``numeric``: only numbers, ``*``, lists, ranges and steps, day-of-week 0-6 — no ``L``,
    ``W``, ``#`` or ``?`` (Vercel).
    ``specials``: ``L``, ``W``, ``#`` and day-of-week 7 (Sunday) are accepted; robfig/cron
    has none of them (its fields take ``* / , - ?`` and names, day-of-week 0-6).
    ``no_descriptors``: why ``@daily`` & co. are refused, when ``descriptors`` is false (default:
    the parser has none).
    ``known_descriptors``: the @descriptors the parser knows, when not all of jobsim's (cron-parser
    has no ``@midnight``; cron-parser 4 no ``@annually`` either).
    ``nearest_weekday``: ``W`` (``LW``, ``15W``) is accepted; cron-parser has none.
    ``nth_alone``: ``#`` must be the whole day-of-week field (cron-parser: "``#`` and ``,`` special
    characters are incompatible").
    ``bare_steps``: a step may follow a single value (``5/15``: from 5 to the end); node-cron takes
    a step only after ``*`` or a range ``a-b``.
    ``node_cron_syntax``: what only node-cron reads is accepted (``CronSchedule.node_cron``: full month
    and day names, reversed ranges, which it wraps round the field, and day-of-month ``nW`` and ``L-n``).
    ``lower_l``: ``l`` is read as ``L``; cron-parser takes the capital only ("Invalid characters").
    ``star_steps_restrict``: a day field that starts with ``*`` but is not ``*`` alone (``*/2``) restricts
    the days, so with the other day field restricted either one fires (cron-parser's ``isWildcard`` is the
    raw value ``*`` or ``?``); Vixie cron and cronsim count any ``*...`` field as unrestricted.
    ``star_bit``: robfig/cron v3's reading of the day fields (``parser.go : getRange`` sets the star bit for an
    item ``*`` or ``?``, and clears it again when a step over 1 follows, ``if step > 1 { extra = 0 }``;
    ``spec.go : dayMatches`` ANDs the day fields when either has the bit, else ORs them): ``*/2`` restricts,
    ``*/1`` and ``*`` do not.
    ``full_days_unrestrict``: cron-parser 4's reading of the day fields (``lib/expression.js``
    ``_findSchedule``): a day-of-week holding all of 0-7 (``*``, ``*/1``, ``0-7``, not ``0-6``) or a
    day-of-month holding every day of the month (``1-31``, ``*/1``) is unrestricted, and ``weekday#n``
    keeps only the days that are some weekday's n-th, including the day-of-month's.
    ``midnight``: how the ``"shift"`` rule treats clocks that change at midnight (``CronSchedule.midnight``).
    ``no_repeats``: a field that lists a value twice (``12,3-15``, ``*/5,6``) is refused, as cron-parser 5
    does ("duplicate values found"); checked for numeric fields, and for the day-of-week as cron-parser 5 lists
    it (``0,7``, ``5-7,0``: ``_cron_parser_5_days_of_week``).
    """

    parser: str
    seconds: bool = False
    names: bool = True
    descriptors: bool = True
    tz_prefix: bool = False
    tz_option: str | None = "tz"
    dom_dow: DomDow = "or"
    rule: Rule = "isc"
    once_a_day: bool = False
    numeric: bool = False
    specials: bool = True
    no_descriptors: str = ""
    known_descriptors: tuple[str, ...] | None = None
    nearest_weekday: bool = True
    nth_alone: bool = False
    bare_steps: bool = True
    node_cron_syntax: bool = False
    lower_l: bool = True
    star_steps_restrict: bool = False
    star_bit: bool = False
    full_days_unrestrict: bool = False
    no_repeats: bool = False
    midnight: Midnight = ""

    def bind(self, schedule: CronSchedule, *, system: str, function: str, tz_option: object = None) -> CronSchedule:
        """``schedule`` as the system runs it, or ``UnsupportedFeature`` for syntax it refuses.

        A plugin's wrapper around a schedule (a dataclass with a ``schedule`` field, such
        as jobsim-inngest's jittered cron) is kept: its inner schedule is bound.
        """
        inner = getattr(schedule, "schedule", None)
        if isinstance(inner, CronSchedule) and not isinstance(schedule, CronSchedule):
            bound = self.bind(inner, system=system, function=function, tz_option=tz_option)
            return dataclasses.replace(schedule, schedule=bound)

        def refuse(feature: str, what: str) -> UnsupportedFeature:
            return UnsupportedFeature(
                f"{system} cannot run function {function!r}: {what}", system=system, feature=feature,
                function=function,
            )

        body = schedule.body
        parts = schedule.fields.split()
        if schedule.has_seconds and not self.seconds:
            raise refuse("cron.seconds", f"cron {schedule.expr!r} has a seconds field; {self.parser} takes 5 fields "
                                         "'minute hour day-of-month month day-of-week'")  # fmt: skip
        if schedule.node_cron and not self.node_cron_syntax:
            raise refuse("cron.syntax", f"cron {schedule.expr!r}: {schedule.node_cron} ({self.parser} refuses it)")
        if body.startswith("@") and not self.descriptors:
            why = self.no_descriptors or f"{self.parser} has no @descriptors"
            written = schedule.expr.strip()
            fields = written[: len(written) - len(body)] + schedule.fields  # with its TZ= prefix, if any
            raise refuse("cron.descriptor", f"cron {schedule.expr!r}: {why}; write the 5 fields ({fields!r})")
        if body.startswith("@") and self.known_descriptors is not None \
                and body.lower() not in self.known_descriptors:
            raise refuse("cron.descriptor", f"cron {schedule.expr!r}: {self.parser} knows only "
                                            f"{', '.join(self.known_descriptors)}; write {schedule.fields!r}")
        if not self.names and any(_NAME.search(part) for part in body.split()[-2:]):
            raise refuse("cron.names", f"cron {schedule.expr!r} uses names; {self.parser} takes numbers only "
                                       "(months 1-12, days of week 0-6)")  # fmt: skip
        if self.numeric:
            self._check_numeric(schedule, refuse)
        if not self.specials:
            self._check_specials(schedule, refuse)
        self._check_parser_specials(schedule, refuse)
        if self.no_repeats:
            self._check_repeats(schedule, refuse)
        self._check_zone(schedule, tz_option, refuse)
        dom, dow = parts[-3], parts[-1]
        if self.dom_dow == "exclusive" and dom != "*" and dow != "*":  # Vercel: "one must be *" (*/2 is not)
            raise refuse("cron.dom_dow", f"cron {schedule.expr!r} restricts both day-of-month and day-of-week; "
                                         f"{self.parser} requires one of them to be '*'")  # fmt: skip
        if self.once_a_day and not (_SINGLE.fullmatch(parts[-5]) and _SINGLE.fullmatch(parts[-4])):
            raise refuse("cron.frequency", f"cron {schedule.expr!r} fires more than once a day; {self.parser} allows "
                                           "at most one run a day (a single minute and hour)")  # fmt: skip
        bound = schedule.bound(self.rule, dom_and=self.dom_dow == "and", midnight=self.midnight)
        if self.full_days_unrestrict:
            dom, dow = self._cron_parser_4_days(schedule, dom, dow, refuse)
            bound = dataclasses.replace(bound, fields=" ".join([*parts[:-3], dom, parts[-2], dow]))
        if self.star_bit and (stepped := _robfig_dow_steps(dow)) != dow:  # '1/2': 1-6/2, Sunday (7) not in it
            dow, parts = stepped, [*parts[:-1], stepped]
            bound = dataclasses.replace(bound, fields=" ".join(parts))
        if self.star_bit and not any(_robfig_star(p) for p in (dom, dow)):  # '*/2': restricted, so either fires
            restricted = [*parts[:-3], _robfig_unstarred(dom, "1-31"), parts[-2], _robfig_unstarred(dow, "0-6")]
            bound = dataclasses.replace(bound, fields=" ".join(restricted))
        if self.star_steps_restrict and all(p != "*" for p in (dom, dow)):
            restricted = [*parts[:-3], dom.replace("*", "1-31"), parts[-2], dow.replace("*", "0-6")]
            bound = dataclasses.replace(bound, fields=" ".join(restricted))
        if bound.dom_and:
            try:
                bound.next_after(0)
            except (StopIteration, CronSimError):
                raise InvalidArgument(
                    f"cron {schedule.expr!r} never fires under {system}: no date matches both its "
                    "day-of-month and its day-of-week"
                ) from None
        return bound

    def _check_numeric(self, schedule: CronSchedule, refuse: object) -> None:
        for name, part in zip(_FIELD_NAMES, schedule.body.split(), strict=True):
            bad = next((c for c in part if c not in _PLAIN), None)
            if bad is not None:
                detail = f"{name} {part!r} uses {bad!r}"
            elif name == "day-of-week" and any(int(n) > 6 for item in part.split(",")
                                               for n in re.findall(r"\d+", item.split("/")[0])):  # fmt: skip
                detail = f"{name} {part!r} is out of range 0-6"
            else:
                continue
            raise refuse("cron.syntax", f"cron {schedule.expr!r}: {detail}; {self.parser} takes numbers, '*', "  # type: ignore[operator]
                                        "lists 'a,b', ranges 'a-b' and steps '/n' only (day-of-week 0-6)")  # fmt: skip

    def _check_specials(self, schedule: CronSchedule, refuse: object) -> None:
        for name, part in zip(_FIELD_NAMES, schedule.fields.split()[-5:], strict=True):
            bare = _NAME.sub("", part)  # JUL and WED are names, not L or W
            bad = next((c for c in bare if c in "LWlw#"), None)  # robfig has no l either ("failed to parse int")
            if bad is not None:
                detail = f"{name} {part!r} uses {bad!r}"
            elif name == "day-of-week" and any(int(n) > 6 for n in re.findall(r"\d+", bare.split("/")[0])):
                detail = f"{name} {part!r} is out of range 0-6"
            else:
                continue
            raise refuse("cron.syntax", f"cron {schedule.expr!r}: {detail}; {self.parser} takes numbers, names, '*', "  # type: ignore[operator]
                                        "'?', lists 'a,b', ranges 'a-b' and steps '/n' only (day-of-week 0-6, "
                                        "SUN-SAT)")  # fmt: skip

    def _check_parser_specials(self, schedule: CronSchedule, refuse: object) -> None:
        """``W``, ``#`` in a list and steps after a single value, for the parsers that refuse them."""
        fields = schedule.fields.split()
        names = (_SECONDS_NAME, *_FIELD_NAMES) if len(fields) == 6 else _FIELD_NAMES
        for name, part in zip(names, fields, strict=True):
            bare = _NAME.sub("", part)  # WED is a name, not W
            if not self.lower_l and name in ("day-of-month", "day-of-week") and "l" in bare:
                detail = (f"{name} {part!r} uses a lower-case 'l', which {self.parser} refuses (\"Invalid "
                          "characters\"); write 'L'")
            elif not self.nearest_weekday and name == "day-of-month" and "W" in bare.upper():
                detail = (f"{name} {part!r} uses 'W' (the nearest weekday), which {self.parser} does not have "
                          "(\"Invalid characters\"); name the days, or use 'L' for the last day")
            elif self.nth_alone and name == "day-of-week" and "#" in part and any(c in part for c in ",-/"):
                detail = (f"{name} {part!r} combines '#' with a list, range or step, which {self.parser} refuses "
                          "(\"'#' and ',' special characters are incompatible\"); give one 'weekday#n' per "
                          "schedule")
            elif not self.bare_steps and any(_BARE_STEP.fullmatch(item) for item in part.split(",")):
                detail = (f"{name} {part!r} steps from a single value, which {self.parser} refuses (\"is a "
                          "invalid expression\"); put a range before the step ('a-b/n': minute '5-59/15', not '5/15')")
            else:
                continue
            raise refuse("cron.syntax", f"cron {schedule.expr!r}: {detail}")  # type: ignore[operator]

    def _check_repeats(self, schedule: CronSchedule, refuse: object) -> None:
        fields = schedule.fields.split()
        names = (_SECONDS_NAME, *_FIELD_NAMES) if len(fields) == 6 else _FIELD_NAMES
        bounds = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12)}
        for name, part in zip(names, fields, strict=True):
            if "," not in part:
                continue
            if name == "day-of-week":
                values: list[int | str] = list(_cron_parser_5_days_of_week(part) or [])
                hint = " (to cron-parser 5 a 7 is 0, Sunday, and a range to 7 such as '5-7' or '*' holds 0 too)"
            elif name in bounds:
                values, hint = list(_values(part, *bounds[name]) or []), ""
            else:
                continue
            repeated = {v for i, v in enumerate(values) if v in values[:i]}
            if repeated:  # cron-parser sorts the values, numbers first, and names the first repeated one
                twice = min(repeated, key=lambda v: (isinstance(v, str), v if isinstance(v, int) else 0, str(v)))
                raise refuse("cron.syntax", f"cron {schedule.expr!r}: {name} {part!r} lists {twice} more than once"  # type: ignore[operator]
                                            f"{hint}, which {self.parser} refuses (\"duplicate values found: "
                                            f"{twice}\"); give each value once")  # fmt: skip

    def _cron_parser_4_days(self, schedule: CronSchedule, dom: str, dow: str, refuse: object) -> tuple[str, str]:
        """The day fields as cronsim reads cron-parser 4's (``full_days_unrestrict``)."""
        if len(_values(dow, 0, 7) or ()) == 8:  # cron-parser 4 counts the values, repeats too: 0-7,1 is not '*'
            dow = "*"
        days = _values(dom, 1, 31)
        if days is not None and len(days) >= 31:
            dom = "*"
        elif days is not None and len(days) >= 28 and dow != "*":
            raise refuse("cron.dom_dow", f"cron {schedule.expr!r}: day-of-month {dom!r} holds {len(days)} days, "  # type: ignore[operator]
                                         f"which {self.parser} counts as '*' in the months that have no more and "
                                         "as a restriction in the others; jobsim does not simulate that: give "
                                         "'*' or fewer days")  # fmt: skip
        if "#" in dow and dom != "*":
            nth = int(dow.rsplit("#", 1)[1])
            if days is None:
                raise refuse("cron.dom_dow", f"cron {schedule.expr!r}: {self.parser} keeps only the days that are "  # type: ignore[operator]
                                             f"a weekday's {nth}th, and jobsim reads that for day numbers only; give "
                                             "day numbers or '*'")  # fmt: skip
            kept = [str(d) for d in sorted(set(days)) if (d - 1) // 7 + 1 == nth]
            dom = ",".join(kept) or "*"
        return dom, dow

    def _check_zone(self, schedule: CronSchedule, tz_option: object, refuse: object) -> None:
        prefixed = schedule.expr.strip().startswith(("TZ=", "CRON_TZ="))
        if prefixed and not self.tz_prefix:
            option = self.tz_option
            hint = ("its schedules are always UTC" if option is None else
                    f"give the zone as {option}{'=' if option.isidentifier() else ''} (jobsim: tz=)")  # fmt: skip
            raise refuse("cron.tz", f"cron {schedule.expr!r}: {self.parser} has no TZ= prefix; {hint}")  # type: ignore[operator]
        utc = schedule.tz is dt.timezone.utc or getattr(schedule.tz, "key", "") in _UTC
        if self.tz_option is None and not utc:
            given = f"tz={tz_option!r}" if tz_option is not None else f"cron {schedule.expr!r}"
            raise refuse("cron.tz", f"{given}: schedules are always UTC; write the schedule in UTC")  # type: ignore[operator]


_UTC = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "GMT",
                  "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT0", "GMT+0", "GMT-0", "Greenwich",
                  "Etc/Greenwich"})  # fmt: skip
"""The IANA names of UTC, which a system whose schedules are always UTC takes as ``tz=`` (it said 'UTC' only)."""


def _values(field: str, low: int, high: int) -> list[int] | None:
    """The numbers a field of numbers, ``*``, ranges and steps lists, repeats included, as cron-parser lists
    them (day-of-week 7 kept apart from 0), or None for names, ``L``, ``#`` and the like."""
    out: list[int] = []
    for item in field.split(","):
        head, _, step = item.partition("/")
        if head == "*":
            start, end = low, high
        elif head.isdigit():
            start, end = int(head), (high if step else int(head))
        elif re.fullmatch(r"\d+-\d+", head):
            start, end = map(int, head.split("-"))
        else:
            return None
        if (step and not step.isdigit()) or step == "0":
            return None
        values = range(start, end + 1, int(step or 1))
        if high == 7 and end % 7 == 0 and (head == "*" or step or "-" in head) and 0 not in values:
            out.append(0)  # cron-parser 4 (lib/expression.js parseRange): a day-of-week range to 7 also holds 0
        out.extend(values)
    return out


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_parser_5_days_of_week(field: str) -> list[int | str] | None:
    """The values cron-parser 5 lists for a day-of-week field, repeats included, or None for what it
    cannot read (``src/CronExpressionParser.ts``): names become numbers; ``*`` is ``0-7``; a step after a
    single value runs to 7 (``1/2`` is ``1-7/2``); a single 7 becomes 0 (``v % 7``), but a range keeps its 7
    and also lists 0 first when its step lands on 7 (``#createRange``: ``5-7`` is 0, 5, 6, 7); ``5L`` stays
    as it is. Its ``CronField.validate`` then refuses a value listed twice: ``0,7``, ``5-7,0``, ``*,1``."""
    text = re.sub(r"[A-Za-z]{3}", lambda m: str(_DAY_NAMES.index(m[0].lower())) if m[0].lower() in _DAY_NAMES
                  else m[0], field.split("#", 1)[0])  # fmt: skip
    out: list[int | str] = []
    for item in text.split(","):
        head, slash, step = item.partition("/")
        if head in ("*", "?"):
            head = "0-7"
        elif slash and "-" not in head:
            head = f"{head}-7"
        if not slash and "-" not in head:
            out.append(int(head) % 7 if head.isdigit() else head)
            continue
        match = re.fullmatch(r"(\d+)-(\d+)", head)
        if match is None or (slash and (not step.isdigit() or int(step) == 0)):
            return None
        low, high, every = int(match[1]), int(match[2]), int(step or 1)
        values = [0] if high % 7 == 0 and (high - low) % every == 0 else []
        values.extend(v for v in range(low, high + 1, every) if v not in values)
        out.extend(values)
    return out


def _robfig_star(field: str) -> bool:
    """Whether robfig sets the field's star bit: an item ``*`` or ``?``, with no step or a step of 1."""
    for item in field.split(","):
        head, slash, step = item.partition("/")
        if head in ("*", "?") and (not slash or step.lstrip("0") == "1"):
            return True
    return False


_DAY_NUMBERS = {name: str(n) for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


def _robfig_dow_steps(field: str) -> str:
    """``field`` (day-of-week) with each stepped single value written as the range robfig reads it: ``N/step``
    is ``N-max/step`` (``parser.go : getRange``, ``if singleDigit { end = r.max }``), and its day-of-week max is
    6 (``dow = bounds{0, 6, ...}``), so ``1/2`` is Monday, Wednesday, Friday. The schedule's own parser reads
    day-of-week up to 7, Sunday again, and fired on Sundays too."""
    items = []
    for item in field.split(","):
        head, slash, step = item.partition("/")
        if slash and head not in ("*", "?") and "-" not in head:
            item = f"{_DAY_NUMBERS.get(head.lower(), head)}-6/{step}"
        items.append(item)
    return ",".join(items)


def _robfig_unstarred(field: str, full: str) -> str:
    """``field`` with its stepped ``*``/``?`` written as the range they cover (``*/2`` -> ``1-31/2``), so the
    schedule's own reading, which counts a field starting with ``*`` as unrestricted, restricts it as robfig does."""
    return ",".join(full + item[1:] if item[:1] in ("*", "?") else item for item in field.split(","))


ROBFIG = CronDialect(
    parser="robfig/cron v3", tz_prefix=True, rule="instant", specials=False, descriptors=False, star_bit=True,
    no_descriptors="Inngest refuses @descriptors when it registers the function (\"isn't a valid cron schedule\": "
                   "its check parses without robfig's Descriptor option)",
)  # fmt: skip
"""Inngest: its scheduler parses with ``cron.Minute|Hour|Dom|Month|Dow|Descriptor``
(``pkg/execution/cron/cron.go : parser``), but registration first validates every cron trigger with
``cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)`` -- no ``Descriptor`` --
(``pkg/inngest/trigger.go : CronTrigger.Validate``, called by ``Function.Validate`` from
``pkg/registration/process.go : ProcessFunctions``, shared by the dev server and Cloud), and robfig's
``Parser.Parse`` refuses a spec starting with ``@`` then ("parser does not accept descriptors"), so a
function with ``@hourly`` is never registered. robfig's ``getRange`` reads ``*``/``?``, numbers, names,
``a-b`` and ``/n``, and ``spec.go`` bounds day-of-week to 0-6, so ``L``, ``W``, ``#`` and ``7`` fail to
parse there."""

_CRON_PARSER_5_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly")
_CRON_PARSER_4_DESCRIPTORS = ("@yearly", "@monthly", "@weekly", "@daily", "@hourly")

CRON_PARSER = CronDialect(parser="cron-parser", seconds=True, rule="shift", nearest_weekday=False, nth_alone=True,
                          known_descriptors=_CRON_PARSER_5_DESCRIPTORS, lower_l=False,
                          star_steps_restrict=True, no_repeats=True, midnight="second")
"""BullMQ, Agenda: cron-parser 5 (5 or 6 fields, names, ``L``/``#``, an IANA zone option). It has no ``W``
(``src/CronExpressionParser.ts`` refuses the character), no ``#`` beside ``,``/``-``/``/`` (``#parseNthDay``)
and no ``@midnight`` (``PredefinedExpressions``). It takes ``L`` in capitals only, refuses a value listed twice
(``CronField`` "duplicate values found") and counts a day field unrestricted only as the raw ``*``/``?``
(``CronField.#isWildcardValue``); checked against cron-parser 5.10.6 from npm."""

AGENDA_CRON = dataclasses.replace(CRON_PARSER, tz_option="timezone")
"""Agenda 6: cron-parser 5, the zone given as ``every(interval, name, data, {timezone})``."""

QUIRREL_CRON = dataclasses.replace(CRON_PARSER, parser="cron-parser 4", known_descriptors=_CRON_PARSER_4_DESCRIPTORS,
                                   full_days_unrestrict=True, no_repeats=False, midnight="skip_gap",
                                   tz_option="the second item of CronJob's [schedule, timezone]")
"""Quirrel 1.14: cron-parser ^4.6.0 (``package.json``; 4.6.0 in its ``package-lock.json``), whose aliases are
@yearly, @monthly, @weekly, @daily and @hourly only (no @annually, @midnight)."""

TRIGGER_DEV_CRON = CronDialect(parser="Trigger.dev's cron-parser schedules", tz_option="timezone", rule="shift",
                            known_descriptors=_CRON_PARSER_4_DESCRIPTORS, nearest_weekday=False, nth_alone=True,
                            lower_l=False, star_steps_restrict=True, full_days_unrestrict=True, midnight="skip_gap")
"""Trigger.dev: 5 fields, no seconds (``apps/webapp/app/v3/schedules.ts : CronPattern`` refuses more than
5 space-separated parts), then cron-parser ^4.9.0's ``parseExpression`` (``apps/webapp/package.json``,
``internal-packages/schedule-engine``): the aliases of cron-parser 4, no ``W``, ``#`` alone."""

NODE_CRON = CronDialect(parser="node-cron", seconds=True, tz_option="timezone", dom_dow="and", rule="wall",
                        bare_steps=False, node_cron_syntax=True)
"""node-cron 4: own parser, 5/6 fields, DOM AND DOW (``src/time/time-matcher.ts``). A step only after ``*`` or
a range: ``range-conversion.ts`` expands ``a-b/n`` and ``*`` became ``0-59`` first; ``5/15`` stays as it is and
``pattern-validation.ts`` refuses it ("5/15 is a invalid expression for minute").

Checked against node-cron 4.6.0 from npm (``src/pattern/conversion/*``: names in any case, a reversed range
wrapped round the field -- 4.5.0 swapped it, and the newest source snapshot still does; ``time/day-of-month.ts``:
``L``, ``LW``, ``nW``, ``L-n``): ``_cronnode.node_cron_fields`` reads what cronsim cannot."""

VERCEL = CronDialect(parser="Vercel Cron", names=False, descriptors=False, tz_option=None, dom_dow="exclusive",
                     numeric=True)
"""Vercel: 5 numeric fields, one of DOM/DOW must be ``*``, always UTC (``vercel.com/docs/cron-jobs``)."""

VERCEL_HOBBY = CronDialect(parser="Vercel Cron on the Hobby plan", names=False, descriptors=False,
                           tz_option=None, dom_dow="exclusive", once_a_day=True, numeric=True)  # fmt: skip
"""Vercel Hobby: as Vercel, and at most once a day (``/docs/cron-jobs/usage-and-pricing``)."""
