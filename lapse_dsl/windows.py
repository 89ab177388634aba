"""Window predicates: the one definition of what ``ago`` and ``ahead`` windows mean.

A window compares a time attribute ``x`` with instants measured from the occurrence ``T`` a
segment is judged at: ``T(-D)`` is the same wall time ``D`` earlier in the delivery zone for
calendar units (``d``, ``w``, ``mo``), exactly ``D`` earlier for ``m`` and ``h``
(:func:`lapse_dsl.timecalc.shift_wall`); ``T(+D)`` the same, later. The ``ahead`` forms mirror
the ``ago`` forms:

=============================  ==============================
``x between A and B [ago]``    ``T(-B) < x <= T(-A)``
``x more than D ago``          ``x < T(-D)``
``x less than D ago``          ``T(-D) < x``
``x between A and B ahead``    ``T(+A) <= x < T(+B)``
``x more than D ahead``        ``T(+D) < x``
``x less than D ahead``        ``T <= x < T(+D)``
=============================  ==============================

The interpreter, the generated code, the index, SQL and ``explain`` all read :func:`bounds`, and the
search reads :func:`flips`, so the table above is written once.
"""

from __future__ import annotations

import datetime as dt

import attrs

from . import nodes as n

__all__ = ["NOW", "Bound", "Offset", "Window", "bounds", "flips", "offsets"]

Window = n.Between | n.MoreThanAgo | n.LessThanAgo
Offset = tuple[n.Duration, int]  # T(sign * duration)
NOW: Offset = (n.Duration(0, "m"), 1)  # T itself


@attrs.frozen
class Bound:
    """One side of a window: the instant ``T(sign * D)`` and whether ``x`` equal to it is inside."""

    offset: Offset
    inclusive: bool


def bounds(p: Window) -> tuple[Bound | None, Bound | None]:
    """(the lower bound of ``x``, its upper bound); None where the window is open."""
    if p.ahead:
        if isinstance(p, n.Between):
            return Bound((p.low, 1), True), Bound((p.high, 1), False)
        if isinstance(p, n.MoreThanAgo):
            return Bound((p.duration, 1), False), None
        return Bound(NOW, True), Bound((p.duration, 1), False)
    if isinstance(p, n.Between):
        return Bound((p.high, -1), False), Bound((p.low, -1), True)
    if isinstance(p, n.MoreThanAgo):
        return None, Bound((p.duration, -1), False)
    return Bound((p.duration, -1), False), None


def offsets(p: Window) -> tuple[Offset, ...]:
    """The instants a window is measured by, in the order its durations are written (``T`` itself
    first for ``less than D ahead``): the order of the bounds in generated code and SQL."""
    sign = 1 if p.ahead else -1
    if isinstance(p, n.Between):
        return (p.low, sign), (p.high, sign)
    return (NOW, (p.duration, sign)) if p.ahead and isinstance(p, n.LessThanAgo) else ((p.duration, sign),)


def flips(p: Window) -> tuple[dt.timedelta, ...]:
    """For each bound, how far from ``x`` the occurrence is, at the earliest, when the bound passes
    ``x`` (the window's truth can only change there): ``T(-D) = x`` when ``T`` is ``x + D``, at the
    earliest ``x`` plus D's shortest calendar length; ``T(+D) = x`` when ``T`` is ``x - D``, at the
    earliest ``x`` less D's longest. A zone's offset changes are the search's margin
    (:data:`lapse_dsl.evaluate.FLIP_MARGIN`)."""
    return tuple(d.shortest() if sign < 0 else -d.longest() for d, sign in offsets(p))  # (NOW's is 0)
