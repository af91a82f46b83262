"""Gestational age after a frozen embryo transfer.

On transfer day the gestational age is 14 days plus the embryo's age (a day-5 blastocyst: 2w5d),
the convention of ICMART and of obstetric dating from an assumed last menstrual period.
"""

from __future__ import annotations

import datetime as dt

_DAYS_BEFORE_FERTILISATION = 14


def gestational_age_days(transfer_date: dt.date, embryo_day: int, on: dt.date) -> int:
    return _DAYS_BEFORE_FERTILISATION + embryo_day + (on - transfer_date).days


def gestational_age_label(days: int) -> str:
    weeks, extra_days = divmod(days, 7)
    return f"{weeks}w{extra_days}d"
