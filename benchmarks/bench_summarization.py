"""Throughput of `summarization` next to pptrain 0.3.0's `summarization` family, same process.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_summarization.py [--seconds 0.3] [--repeats 5] [--ref-path /tmp/pptrain030]

How ours and 0.3.0 are timed, and the table: `_family_bench.py`. Nothing here is a test.
"""

from __future__ import annotations

import _family_bench

from pptrain_summarization.specs import SUMMARIZATION

#: our preset -> the pptrain 0.3.0 preset generating the same task (its sizes and semantics differ)
OLD_MATCH = {
    "paper_ourtasks": "paper_ourtasks_subset_100k",
    "paper_step_sentence_reordering": "paper_sentence_reordering_100k",
    "paper_step_next_sentence": "paper_next_sentence_100k",
    "paper_step_masked_document": "paper_masked_document_100k",
    "paper_step_mixture": "paper_step_tasks_100k",
    "ourtasks_copy_keyword_one": "paper_copy_keyword_sentence_100k",
    "ourtasks_copy_keyword_multiple": "paper_copy_keyword_multiple_in_order_100k",
    "ourtasks_copy_keyword_shuffled": "paper_copy_keyword_multiple_shuffled_100k",
    "ourtasks_copy_keyword_sorted": "paper_copy_keyword_multiple_sorted_100k",
    "ourtasks_copy_quoted": "paper_copy_quoted_100k",
    "ourtasks_copy_bulleted": "paper_copy_bulleted_100k",
    "ourtasks_truncate_sentence": "paper_truncate_sentence_100k",
    "smoke": "smoke",
}


def old_families():
    from pptrain.tasks.summarization.config import SUMMARIZATION_PRESETS, SummarizationConfig
    from pptrain.tasks.summarization.task import SummarizationTaskFamily

    for preset in SUMMARIZATION_PRESETS:
        yield preset.name, lambda p=preset: SummarizationTaskFamily(SummarizationConfig(**p.config))


if __name__ == "__main__":
    _family_bench.main(
        section="summarization", family=SUMMARIZATION, match=OLD_MATCH, old_families=old_families, docstring=__doc__
    )
