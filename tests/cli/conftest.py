"""CLI tests reuse the toy study of the store tests."""

from tests.store.conftest import study, toy_registry  # noqa: F401
