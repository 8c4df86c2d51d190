"""Pre-aggregated spend, in two levels, both maintained at index time (tracing.spend):

- SpendBucket: what one run contributed per hour to each dimension's key, rebuilt from the run's
  Steps whenever it is indexed (a replay gives the same rows). Filtered views read these.
- SpendHour: the same per (hour, dimension, key) over all runs: always the SUM of that cell's
  SpendBuckets, and there exactly while some SpendBucket is. Indexing adds to each cell the
  difference between the run's new and old buckets (never re-summing a whole hour, which grows
  with its runs); rebuild_spend sums the cells again. Unfiltered views read these: months of
  spend are a few thousand rows.
- SpendRun: one narrow row per run (cost, status, costliest step) for run-level numbers: cost per
  run, cost per successful run, top runs and steps — without scanning the wide Run table.

Money is stored in integer units of 10^-10 USD, the precision of Step.cost_usd: integer SUMs
are exact on SQLite too (its decimals are floats).
"""
from decimal import Decimal

from django.db import models

MONEY_UNIT = Decimal("1e-10")  # USD per stored unit

# A row's dimension. `totals` has one key, "", and carries the run's whole contribution.
DIMENSIONS = ("model", "provider", "agent", "tool", "user", "session", "tag")
TOTALS = "totals"


class SpendAmounts(models.Model):
    """The summable columns both levels share."""

    cost_units = models.BigIntegerField(default=0)  # priced cost only; unpriced calls are counted apart
    llm_calls = models.PositiveIntegerField(default=0)  # for a tool: LLM calls that requested it
    unpriced_calls = models.PositiveIntegerField(default=0)
    unpriced_tokens = models.BigIntegerField(default=0)  # input + output tokens of unpriced calls
    tool_calls = models.PositiveIntegerField(default=0)  # tool spans executed
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cache_savings_units = models.BigIntegerField(default=0)
    # Reasoning share of output spend = reasoning / output, over calls with a computed breakdown.
    output_cost_units = models.BigIntegerField(default=0)
    reasoning_cost_units = models.BigIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)  # a run counts once per key, on its earliest hour

    class Meta:
        abstract = True


SUMMED = [f.name for f in SpendAmounts._meta.fields if f.name != "id"]


class SpendBucket(SpendAmounts):
    project = models.ForeignKey("tracing.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)
    hour = models.DateTimeField()  # UTC hour the contributing steps started in
    dimension = models.CharField(max_length=10)
    key = models.CharField(max_length=200, blank=True)  # "" = none reported (no model, no user, untagged...)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "trace_id", "hour", "dimension", "key"], name="spend_unique")
        ]
        indexes = [
            models.Index(fields=["project", "dimension", "hour"], name="spend_dim_hour"),
            # "runs that used this model / tag / agent": answered from the index alone.
            models.Index(fields=["project", "dimension", "key", "trace_id"], name="spend_dim_key"),
        ]

    def __str__(self):
        return f"{self.trace_id} {self.hour:%Y-%m-%d %H}h {self.dimension}={self.key}"


class SpendHour(SpendAmounts):
    project = models.ForeignKey("tracing.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField()
    dimension = models.CharField(max_length=10)
    key = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "hour", "dimension", "key"], name="spend_hour_unique")]
        indexes = [models.Index(fields=["project", "dimension", "hour"], name="spend_hour_dim")]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}h {self.dimension}={self.key}"


class SpendRun(models.Model):
    project = models.ForeignKey("tracing.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    # ok and error are final once indexed; in progress / incomplete change without indexing (the sweep),
    # so filters on those read Run.
    status = models.CharField(max_length=12)
    user_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    cost_units = models.BigIntegerField(null=True, blank=True)  # None: no priced step
    unpriced_calls = models.PositiveIntegerField(default=0)
    top_span_id = models.CharField(max_length=16, blank=True)  # its costliest step, for "top steps"
    top_step_units = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "trace_id"], name="spend_run_unique")]
        # Covering: run-level numbers over a time range are read from the index alone.
        indexes = [models.Index(fields=["project", "started_at", "status", "cost_units", "unpriced_calls",
                                        "top_step_units"], name="spend_run_started")]

    def __str__(self):
        return f"{self.trace_id} {self.cost_units}"
