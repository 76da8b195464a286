"""The first release's store format (format 1), kept read-only so ``immunolab store upgrade`` can migrate it.

Format 1: ``tables/<table>/<ingest_id>.parquet`` files made visible by a hash-chained
``audit/log.jsonl``. Nothing here writes a store any more except what the upgrade tests need
to build a format-1 store exactly as the previous release did.
"""
