"""The full-text search index of runs (tracing/search.py): the distinct words of a run's steps.

One SearchDocument per run and indexing transaction: the words of the steps that transaction
wrote, deduplicated across them and without the words the run's earlier documents hold (an
agent's LLM calls repeat much of the conversation, so a run holds far fewer distinct words than
its steps hold words). A run indexed in several transactions has several documents; a query
matches a run when every one of its words is in one of the run's documents. On PostgreSQL the
column is a `tsvector` with a GIN index (the words are already lower-cased and split, so the
stored form is the words themselves and no `to_tsvector` runs at insert or query time); on
SQLite an FTS5 table indexes it (migration 0007).
"""
from django.db import models


class WordsField(models.TextField):
    """Space-separated words: `tsvector` on PostgreSQL, text elsewhere."""

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else super().db_type(connection)


@WordsField.register_lookup
class Matches(models.Lookup):
    """`words__matches="weath:*"`: PostgreSQL's `words @@ 'weath:*'::tsquery` (tracing.search)."""

    lookup_name = "matches"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @@ ({rhs})::tsquery", [*lhs_params, *rhs_params]


class SearchDocument(models.Model):
    project = models.ForeignKey("tracing.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    trace_id = models.CharField(max_length=32)
    words = WordsField()

    class Meta:
        indexes = [models.Index(fields=["project", "trace_id"], name="search_doc_trace")]

    def __str__(self):
        return f"{self.trace_id}: {self.words[:60]}"
