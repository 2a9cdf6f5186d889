"""Keep numba's parallel decoders to the thread count torch was given.

Numba's OpenMP threading layer and PyTorch share one OpenMP runtime. A parallel numba kernel run
with numba's default (every core) sets that runtime's thread count, so after the first exact decode
``torch.get_num_threads()`` would read every core again, whatever the user set: on a shared machine
that silently oversubscribes it. :func:`torch_thread_limit` runs the kernel on torch's thread
count and puts torch's count back; without torch imported it changes nothing.

>>> with torch_thread_limit():
...     pass
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numba


@contextmanager
def torch_thread_limit() -> Iterator[None]:
    """Run numba kernels inside on ``torch.get_num_threads()`` threads, and leave torch's count as
    it was. A no-op when torch has not been imported."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
