"""Operator tooling beside the pipeline: the ``acp`` command line (``cli``), the dead-letter
service (``dead_letters``), how runs are started (``run_starters``) and the read-only views
of stored cards shared with the card-preview plugin (``card_reads``). The pipeline never
imports this package."""
