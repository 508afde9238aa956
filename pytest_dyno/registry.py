"""Registry isolation: whatever a test registers is gone afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dyno.registry import Registry, default
from dyno.utils import check_type

__all__ = ["isolated_registry"]


@contextmanager
def isolated_registry(registry: Registry | None = None) -> Iterator[Registry]:
    """Undo, on exit, every change made to *registry* inside the ``with`` block.

    Adds, replacements and removals are all rolled back (with
    :meth:`Registry.snapshot` and :meth:`Registry.restore`), even when the
    block raises. This is the ``dyno_registry`` fixture for code that cannot
    use fixtures, such as hypothesis ``@given`` tests.

    Args:
        registry: The registry to protect; ``dyno.registry.default`` when None.

    Yields:
        The registry itself, to change freely.

    Raises:
        TypeError: *registry* is not a :class:`~dyno.registry.Registry`.
    """
    target = default if registry is None else check_type("registry", registry, Registry)
    snapshot = target.snapshot()
    try:
        yield target
    finally:
        target.restore(snapshot)
