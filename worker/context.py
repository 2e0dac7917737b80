"""The runtime a job runs in.

RQ calls jobs by dotted path with plain arguments (image ids), so the process that runs
them says which ``Runtime`` they use. A ``ContextVar`` keeps it per thread: the embedded
worker thread inside ``findimage serve`` and a standalone ``findimage worker`` each set
their own.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from core.runtime import Runtime

_runtime: ContextVar[Runtime] = ContextVar("findimage_runtime")


@contextmanager
def using_runtime(runtime: Runtime) -> Iterator[Runtime]:
    token = _runtime.set(runtime)
    try:
        yield runtime
    finally:
        _runtime.reset(token)


def current_runtime() -> Runtime:
    try:
        return _runtime.get()
    except LookupError:
        raise RuntimeError("findimage jobs run inside a findimage worker (no runtime is set)") from None
