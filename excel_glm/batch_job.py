"""A batch job: the JSONL requests for a workbook range, their files, and the local job record.

The requests are the engine's own: cells converted and deduplicated by excel_glm.cells, cache hits
skipped by excel_glm.cache.cache_key, packs built by excel_glm.engine.packing and bodies by the glm
provider. The record (JSON in the user data dir) holds everything `collect` needs: the batch ids,
the workbook, range, target and task, and which cells (cache key and text) each custom_id carries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs

from excel_glm.batch import (
    CHAT_ENDPOINT,
    MAX_BYTES_PER_FILE,
    MAX_LINES_PER_FILE,
    BatchClient,
    BatchInfo,
)
from excel_glm.cache import Cache, cache_key
from excel_glm.cells import convert_cell
from excel_glm.config import APP_NAME, Settings
from excel_glm.engine.packing import WorkItem, pack_cells, pack_request
from excel_glm.errors import UserError
from excel_glm.providers.glm import GlmProvider
from excel_glm.tasks import Task

RECORD_VERSION = 1
# The cache keys of batch answers name the provider the online engine uses, so a later online
# run (or `collect`) finds them.
PROVIDER = "glm"


def jobs_dir() -> Path:
    """Where job records live: `batches/` in the user data dir."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "batches"


def new_job_id() -> str:
    """A sortable, typable job id: UTC time plus a random suffix."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{now}-{secrets.token_hex(3)}"


@dataclass
class BatchJob:
    """The local record of one submitted job.

    `batches` lists {"id", "input_file_id", "custom_ids"} per batch created; `packs` maps each
    custom_id to the [cache key, text] pairs of its cells, in the pack's id order.
    """

    id: str
    book: str
    range_spec: str
    into: str
    task: str
    params: dict[str, object]
    model: str
    base_url: str
    overwrite: bool = False
    created_at: str = ""
    batches: list[dict[str, object]] = field(default_factory=list)
    packs: dict[str, list[list[str]]] = field(default_factory=dict)
    version: int = RECORD_VERSION

    @property
    def path(self) -> Path:
        return jobs_dir() / f"{self.id}.json"

    def save(self) -> Path:
        """Write the record atomically (a crash never leaves half a record)."""
        folder = jobs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(asdict(self), ensure_ascii=False, indent=1).encode()
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".job-", delete=False) as handle:
            handle.write(data)
            temp = Path(handle.name)
        os.replace(temp, self.path)
        return self.path


def load_job(reference: str) -> BatchJob:
    """A job record by id (in the user data dir) or by the path of its JSON file."""
    candidate = Path(reference)
    path = candidate if candidate.suffix == ".json" else jobs_dir() / f"{reference}.json"
    if not path.is_file():
        raise UserError(f"no batch job {reference!r} (records are kept in {jobs_dir()})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != RECORD_VERSION:
            raise UserError(f"batch job record {path} has an unknown version")
        return BatchJob(**data)
    except (ValueError, TypeError) as exc:
        raise UserError(f"batch job record {path} is unreadable: {exc}") from None


@dataclass(frozen=True, slots=True)
class PlannedRequests:
    """What a job will send: one JSONL line per pack, and the cells behind each custom_id."""

    lines: list[bytes]
    packs: dict[str, list[list[str]]]
    cells: int
    distinct: int
    cache_hits: int


def plan_requests(settings: Settings, task: Task, values: Sequence[object]) -> PlannedRequests:
    """Convert, deduplicate, skip cache hits and pack exactly like the engine; build the lines."""
    texts = [cell.text for cell in map(convert_cell, values) if cell.text is not None]
    distinct = list(dict.fromkeys(texts))
    params = task.params()
    keys = {
        text: cache_key(
            provider=PROVIDER,
            model=settings.model,
            task=task.name,
            version=task.version,
            params=params,
            text=text,
        )
        for text in distinct
    }
    cache = Cache(settings.resolved_cache_path)
    try:
        cached = cache.get_many(list(keys.values()))
    finally:
        cache.close()
    items = [
        WorkItem(keys[text], text, task.expected_output_tokens(text))
        for text in distinct
        if keys[text] not in cached
    ]
    packs = pack_cells(
        items,
        max_items=settings.pack_max_items,
        max_output_tokens=settings.pack_max_output_tokens,
    )
    provider = GlmProvider(settings)
    instruction = task.instruction()
    lines: list[bytes] = []
    by_id: dict[str, list[list[str]]] = {}
    for number, pack in enumerate(packs, 1):
        custom_id = f"p{number}"
        # The very body the online provider would send for this pack.
        body = provider.request_body(pack_request(instruction, pack))
        line = {"custom_id": custom_id, "method": "POST", "url": CHAT_ENDPOINT, "body": body}
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
        by_id[custom_id] = [[item.key, item.text] for item in pack]
    return PlannedRequests(lines, by_id, len(texts), len(distinct), len(distinct) - len(items))


def split_files(
    lines: Sequence[bytes], *, max_lines: int | None = None, max_bytes: int | None = None
) -> list[bytes]:
    """Group lines, in order, into JSONL files within the per-file line and byte limits
    (default: the Batch API's, MAX_LINES_PER_FILE and MAX_BYTES_PER_FILE)."""
    max_lines = max_lines or MAX_LINES_PER_FILE
    max_bytes = max_bytes or MAX_BYTES_PER_FILE
    files: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        cost = len(line) + 1
        if current and (len(current) >= max_lines or size + cost > max_bytes):
            files.append(b"\n".join(current) + b"\n")
            current, size = [], 0
        current.append(line)
        size += cost
    if current:
        files.append(b"\n".join(current) + b"\n")
    return files


def submit_files(
    client: BatchClient,
    job: BatchJob,
    files: Sequence[bytes],
    *,
    on_batch: Callable[[BatchInfo], None] | None = None,
) -> BatchJob:
    """Upload and create one batch per file, saving the record after each batch is created.

    A failure part way raises after the record holds every batch already created, so whatever
    those batches answer can still be collected.
    """
    total = len(files)
    book = Path(job.book).name
    for number, data in enumerate(files, 1):
        name = f"excel-glm-{job.id}-{number}.jsonl"
        file_id = client.upload(name, data)
        metadata = {
            "excel_glm_job": job.id,
            "part": f"{number}/{total}",
            "task": job.task,
            "book": book[:500],
        }
        info = client.create(file_id, metadata)
        custom_ids = [json.loads(line)["custom_id"] for line in data.splitlines()]
        job.batches.append({"id": info.id, "input_file_id": file_id, "custom_ids": custom_ids})
        job.save()
        if on_batch is not None:
            on_batch(info)
    return job
