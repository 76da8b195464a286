"""conform: a table already in its schema passes as it is; the checks still hold for it."""

from __future__ import annotations

import pyarrow as pa
import pytest

from immunolab.errors import PluginError
from immunolab.schema import conform, table_spec


def _sources(sha: str | None) -> pa.Table:
    spec = table_spec("sources").schema
    row = {f.name: None for f in spec}
    row.update(source_sha256=sha, ingest_id="ing1", commit_id="c1")
    loose = pa.schema([f.with_nullable(True) for f in spec])
    return pa.Table.from_pylist([row], schema=loose)


def test_a_conformed_table_is_returned_as_it_is() -> None:
    once = conform("sources", _sources("ab" * 32))
    assert once.schema.equals(table_spec("sources").schema)
    assert conform("sources", once) is once  # the committer queues worker tables conformed already


def test_a_table_in_the_exact_schema_with_a_null_in_a_required_column_is_still_refused() -> None:
    spec = table_spec("sources").schema
    bad = pa.Table.from_arrays([pa.array([None], f.type) for f in spec], schema=spec)  # nulls despite nullable=False
    assert bad.schema.equals(spec)
    with pytest.raises(PluginError) as exc:
        conform("sources", bad)
    assert exc.value.code == "IML-PLUGIN-002" and "null value(s) not allowed" in exc.value.message


def test_a_table_in_the_schema_but_with_metadata_is_rebuilt_without_it() -> None:
    once = conform("sources", _sources("ab" * 32))
    tagged = once.replace_schema_metadata({b"pandas": b"{}"})
    out = conform("sources", tagged)
    assert out.schema.metadata is None and out.equals(once)
