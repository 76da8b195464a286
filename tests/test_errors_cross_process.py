"""A coded error raised in a worker process reaches the parent as the same coded error.

The report and ``derive`` run work in a process pool; an error the pool cannot unpickle turns
into ``BrokenProcessPool`` and the user saw ``IML-INTERNAL-001`` instead of the coded error
(a report over a store whose visits did not fit the default AUC window).
"""

from __future__ import annotations

import pickle

import pytest

import immunolab.errors as errors
from immunolab.errors import ImmunolabError, StoreError
from immunolab.workers import process_pool

CLASSES = sorted((c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ImmunolabError)),
                 key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_coded_error_survives_pickling_with_code_path_hint_and_exit_code(cls: type[ImmunolabError]) -> None:
    err = cls("IML-TEST-001", "the thing failed", path="file.csv", hint="Do the other thing.")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (back.code, back.message, back.path, back.hint, back.exit_code) == (
        "IML-TEST-001", "the thing failed", "file.csv", "Do the other thing.", cls.exit_code)
    assert str(back) == str(err)


def _fail(code: str) -> None:
    raise StoreError(code, "the store is read-only", path="store", hint="Ask for write access.")


def test_a_coded_error_raised_in_a_pool_worker_reaches_the_parent_as_that_error() -> None:
    with process_pool(1) as pool:
        future = pool.submit(_fail, "IML-STORE-002")
        with pytest.raises(StoreError) as info:
            future.result(timeout=60)
    assert info.value.code == "IML-STORE-002"
    assert info.value.hint == "Ask for write access."
    assert info.value.exit_code == 3
