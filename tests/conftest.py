"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use tiny models: one intra-op thread is fastest, and far faster on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def experience_store(tmp_path_factory):
    """Searches record into a store of the test session's own, never the user's (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOMETA_EXPERIENCE", str(tmp_path_factory.mktemp("experience") / "experience.db"))
        yield
