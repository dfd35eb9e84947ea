"""The real embedded model, assembled and loaded once for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def local_weights_cache(tmp_path_factory) -> Path:
    """A user cache dir of its own, where the default weights are assembled once per session."""
    return tmp_path_factory.mktemp("local-model-cache")


@pytest.fixture(scope="session")
def default_weights(local_weights_cache) -> Path:
    """The default GGUF, assembled by excel-glm's first-use path into the session's cache dir."""
    from excel_glm.providers.local import default_model_path

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(local_weights_cache))
        return default_model_path()


@pytest.fixture(scope="session")
def local_provider(default_weights):
    """A LocalProvider on the default weights (loaded once: the module keeps it per path).

    One thread: the suite shares two cores with other processes, and llama.cpp's threads spin
    waiting for each other on a loaded CPU (two threads were up to 3x slower there than one).
    """
    from excel_glm.config import load_settings
    from excel_glm.providers.local import LocalProvider

    settings = load_settings(provider="local", local_model_path=default_weights, local_threads=1)
    return LocalProvider(settings)
