"""Column helpers of gold.demand_features: calendar, windows that end the day before.

Every window here ends at D-1 (``rangeBetween(-n, -1)`` on a day number), so a feature of
day D never sees D's own sales or anything later: the mart's no-leakage rule.
"""

from __future__ import annotations

from pyspark.sql import Column, Window, WindowSpec
from pyspark.sql import functions as F

# Scope of a promotion, most specific first (a product promotion beats a category one).
SCOPE_RANK = {"product": 3, "category": 2, "all": 1}


def day_number(day: Column) -> Column:
    """Days since 1970-01-01: an integer to order range windows by."""
    return F.unix_date(day)


def day_of_week(day: Column) -> Column:
    """ISO day of week: 1 = Monday .. 7 = Sunday."""
    return (F.weekday(day) + F.lit(1)).cast("int")


def before(keys: list[str], days: int) -> WindowSpec:
    """The ``days`` days before each row's day (D-days .. D-1) within ``keys``."""
    return Window.partitionBy(*keys).orderBy("day_number").rangeBetween(-days, -1)


def days_ago(keys: list[str], days: int) -> WindowSpec:
    """Exactly the day D-days within ``keys`` (no row there: the aggregate is null)."""
    return Window.partitionBy(*keys).orderBy("day_number").rangeBetween(-days, -days)


def mean_of_present(*values: Column) -> Column:
    """The mean of the non-null values (null when all are null)."""
    present = F.filter(F.array(*[v.cast("double") for v in values]), lambda v: v.isNotNull())
    total = F.aggregate(present, F.lit(0.0), lambda acc, v: acc + v)
    return F.when(F.size(present) > 0, total / F.size(present))


def ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as a double; null when the denominator is null or 0."""
    return F.when(denominator > 0, numerator.cast("double") / denominator.cast("double"))


def scope_rank(scope: Column) -> Column:
    """The rank of a promotion scope (SCOPE_RANK), for the most specific one to win."""
    rank = F.lit(0)
    for name, value in SCOPE_RANK.items():
        rank = F.when(scope == name, F.lit(value)).otherwise(rank)
    return rank


def scope_of_rank(rank: Column) -> Column:
    """The scope name of a SCOPE_RANK value (null for 0: no promotion)."""
    name = F.lit(None).cast("string")
    for scope, value in SCOPE_RANK.items():
        name = F.when(rank == value, F.lit(scope)).otherwise(name)
    return name
