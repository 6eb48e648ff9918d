"""The studio's composer: what it offers for a model, and how its input becomes job specs.

Read-only selectors (the menu, the composer state, threads, batch summaries) and the
translation of composer input (references from uploads, the gallery or a parent job;
compare and batch lists) into validated `JobSpec`s. Submitting stays in `jobs`.
"""

from studio.services.composer.batch import (
    BATCH_COLUMNS,
    BATCH_MAX_BYTES,
    BATCH_MAX_ROWS,
    BATCH_OPTIONS,
    BatchLine,
    BatchPreview,
    BatchRow,
    BatchSummary,
    batch_summary,
    parse_batch,
    preview_batch,
)
from studio.services.composer.compare import COMPARE_MAX, GroupQuote, PriceLine, compare_quote, compare_specs
from studio.services.composer.menu import MenuEntry, build_menu, model_badges
from studio.services.composer.references import collect_references
from studio.services.composer.state import ComposerState, compose_job, composer_state
from studio.services.composer.threads import (
    HISTORY_FAMILY,
    ThreadTurn,
    continuation_references,
    find_parent,
    refine_spec,
    thread_of,
    uses_history,
)

__all__ = [
    "BATCH_COLUMNS",
    "BATCH_MAX_BYTES",
    "BATCH_MAX_ROWS",
    "BATCH_OPTIONS",
    "COMPARE_MAX",
    "HISTORY_FAMILY",
    "BatchLine",
    "BatchPreview",
    "BatchRow",
    "BatchSummary",
    "ComposerState",
    "GroupQuote",
    "MenuEntry",
    "PriceLine",
    "ThreadTurn",
    "batch_summary",
    "build_menu",
    "collect_references",
    "compare_quote",
    "compare_specs",
    "compose_job",
    "composer_state",
    "continuation_references",
    "find_parent",
    "model_badges",
    "parse_batch",
    "preview_batch",
    "refine_spec",
    "thread_of",
    "uses_history",
]
