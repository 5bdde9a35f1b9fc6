"""Fixtures shared by the tests of nas/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a whole test module: on a small shared machine a contended thread pool makes tiny
    models 10x slower, and one intra-op thread keeps training reproducible. Module-scoped, so that the module's
    own module-scoped fixtures (an export, a stored run) run under it too; use it with
    `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
