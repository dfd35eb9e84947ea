"""A fake of Zhipu's Batch API: a real HTTP server on 127.0.0.1 (glm_api.md sections 4 and 9).

Routes under /api/paas/v4, all behind the same `Authorization: Bearer <key>` check as the chat fake
(401/1001 without it, 401/1000 with a wrong key):

    POST /files                    multipart `file` + `purpose=batch` -> a file object
    GET  /files/{id}/content       the raw JSONL
    POST /batches                  {input_file_id, endpoint, completion_window, metadata}
    GET  /batches, GET /batches/{id}, POST /batches/{id}/cancel

A batch lives on a fake clock (`advance(seconds)`): `validating` for `validating_s`, then
`in_progress` for `running_s` (its completed count growing with time), `finalizing` for
`finalizing_s`, then `completed`, with the output and error files written then. Each line is
answered with the chat fake's oracle (tests/fake_glm_model.py), so answers can be checked cell by
cell. Validation follows the documented rules: one model per file, unique custom_id, method POST,
url /v4/chat/completions, at most `max_lines` lines; a file breaking them makes the batch `failed`
with `errors.data`.

Controls, all reset by `reset()`:
    inject_http(route, code, times=1, after=0)
                                        after `after` normal calls, route "upload" | "create" |
                                        "get" | "content" answers GLM error `code` (a code of
                                        fake_glm.CODE_STATUS, or 1220)
    inject_line(kind, match=None, times=None)
                                        lines whose item text contains `match`: a GLM code (the
                                        line goes to the error file as {"response": {"status_code",
                                        "body": {"error": {code, message}}}}), or "missing_id",
                                        "non_json", "length", "sensitive" (in the output file)
    fail_validation(message)            the next batch created fails validation
    expire_after = n                    batches expire with only their first n lines answered
    shuffle_output = True               output lines in a seeded random order (the default)
    timestamps_in_ms = True             created_at and the other times in milliseconds (default)
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any

try:  # tests/ is on sys.path under pytest; scripts import the package path
    from loopback_server import LoopbackServer, read_request
except ImportError:
    from tests.loopback_server import LoopbackServer, read_request

try:  # imported as a top-level module (pytest puts tests/ on sys.path) or as tests.fake_glm_batch
    from fake_glm import CODE_STATUS, KNOWN_MODELS, PREFIX
    from fake_glm_model import (
        count_tokens,
        cut_to_tokens,
        default_oracle,
        dumps,
        items_of,
        params_of,
    )
except ImportError:
    from tests.fake_glm import CODE_STATUS, KNOWN_MODELS, PREFIX
    from tests.fake_glm_model import (
        count_tokens,
        cut_to_tokens,
        default_oracle,
        dumps,
        items_of,
        params_of,
    )

CHAT_URL = "/v4/chat/completions"
# Codes the chat fake has no use for but a batch call may meet (glm_api.md section 3.4).
CODES = {**CODE_STATUS, "1220": (403, "您无权访问该模型")}
CONTENT_FAULTS = {"missing_id", "non_json", "length", "sensitive"}
ROUTES = {"upload", "create", "get", "content"}


@dataclass
class LineRule:
    """Apply `kind` to lines holding an item whose text contains `match` (every line if None)."""

    kind: str
    match: str | None = None
    times: int | None = None


@dataclass
class FakeBatch:
    """One batch and the lines of its input file."""

    id: str
    input_file_id: str
    created: float
    metadata: dict[str, Any]
    lines: list[dict[str, Any]]
    problems: list[dict[str, Any]] = field(default_factory=list)
    expire_after: int | None = None
    cancelled: float | None = None
    output_file_id: str = ""
    error_file_id: str = ""
    finished: bool = False
    answered: list[dict[str, Any]] = field(default_factory=list)


class FakeBatchServer(LoopbackServer):
    """Zhipu's Batch API look-alike in a background thread; see the module docstring."""

    thread_name = "fake-batch"

    def __init__(self, *, api_key: str = "fake-id.fake-secret") -> None:
        self.api_key = api_key
        self._lock = threading.RLock()
        super().__init__()
        self._ids = itertools.count(1_790_292_763_050_508_288)
        self.reset()

    # -- control ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """No files, no batches, default timings and no faults; the clock restarts."""
        with self._lock:
            self.now = float(int(time.time()))
            self.validating_s, self.running_s, self.finalizing_s, self.cancel_s = 5, 60, 5, 5
            self.max_lines = 50_000
            self.files: dict[str, dict[str, Any]] = {}
            self.batches: dict[str, FakeBatch] = {}
            self.uploads: list[dict[str, Any]] = []
            self.requests: list[tuple[str, str, int]] = []
            self.http_faults: dict[str, list[str | None]] = {route: [] for route in ROUTES}
            self.line_rules: list[LineRule] = []
            self.validation_failure: str | None = None
            self.expire_after: int | None = None
            self.shuffle_output = True
            self.timestamps_in_ms = True
            self.rng = random.Random(7)

    def advance(self, seconds: float) -> None:
        """Move the fake clock on."""
        with self._lock:
            self.now += seconds

    def finish_all(self) -> None:
        """Move the clock past the end of every batch."""
        self.advance(self.validating_s + self.running_s + self.finalizing_s + self.cancel_s + 1)

    def inject_http(self, route: str, code: str, *, times: int = 1, after: int = 0) -> None:
        """After `after` normal calls of `route`, the next `times` answer GLM error `code`."""
        if route not in ROUTES or code not in CODES:
            raise ValueError(f"unknown route {route!r} or code {code!r}")
        with self._lock:
            self.http_faults[route].extend([None] * after + [code] * times)

    def inject_line(self, kind: str, *, match: str | None = None, times: int | None = None) -> None:
        """Fault the answers of matching lines (see the module docstring)."""
        if kind not in CODES and kind not in CONTENT_FAULTS:
            raise ValueError(f"unknown line fault {kind!r}")
        with self._lock:
            self.line_rules.append(LineRule(kind, match, times))

    def fail_validation(self, message: str = "invalid input file") -> None:
        """The next batch created fails validation with this message."""
        with self._lock:
            self.validation_failure = message

    def uploaded_lines(self) -> list[dict[str, Any]]:
        """Every line of every uploaded file, in upload order."""
        with self._lock:
            return [json.loads(line) for up in self.uploads for line in up["data"].splitlines()]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    # -- HTTP ------------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        method, path = scope["method"], scope["path"]
        with self._lock:
            status, payload = self._route(method, path, headers, raw)
            self.requests.append((method, path, status))
        if isinstance(payload, bytes):
            data, ctype = payload, b"application/jsonl"
        else:
            data, ctype = json.dumps(payload, ensure_ascii=False).encode(), b"application/json"
        head = [(b"content-type", ctype), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    def _route(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, Any]:
        auth = headers.get("authorization")
        if not auth:
            return self._error("1001")
        if auth != f"Bearer {self.api_key}":
            return self._error("1000")
        parts = path.removeprefix(PREFIX).strip("/").split("/")
        if method == "POST" and parts == ["files"]:
            return self._fault("upload") or self._upload(headers, raw)
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            return self._fault("content") or self._content(parts[1])
        if method == "POST" and parts == ["batches"]:
            return self._fault("create") or self._create(raw)
        if method == "GET" and parts == ["batches"]:
            data = [self._object(b) for b in self.batches.values()]
            return 200, {"object": "list", "data": data, "has_more": False}
        if len(parts) >= 2 and parts[0] == "batches" and parts[1] in self.batches:
            batch = self.batches[parts[1]]
            if method == "GET" and len(parts) == 2:
                return self._fault("get") or (200, self._object(batch))
            if method == "POST" and parts[2:] == ["cancel"]:
                if batch.cancelled is None and self._status(batch)[0] not in _TERMINAL:
                    batch.cancelled = self.now
                return 200, self._object(batch)
        return 404, {"error": {"code": "404", "message": "Not Found"}}

    def _error(self, code: str) -> tuple[int, Any]:
        status, message = CODES[code]
        return status, {"error": {"code": code, "message": message}}

    def _fault(self, route: str) -> tuple[int, Any] | None:
        queue = self.http_faults[route]
        code = queue.pop(0) if queue else None
        return self._error(code) if code is not None else None

    def _upload(self, headers: dict, raw: bytes) -> tuple[int, Any]:
        head = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=email_policy).parsebytes(head + raw)
        fields: dict[str, Any] = {}
        filename = ""
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            fields[name] = part.get_payload(decode=True) or b""
            filename = part.get_filename() or filename
        if "file" not in fields or fields.get("purpose", b"").decode() != "batch":
            return self._error("1214")
        file_id = f"{time.strftime('%Y%m%d')}_{next(self._ids):x}"
        self.files[file_id] = {"data": fields["file"], "filename": filename}
        self.uploads.append({"id": file_id, "filename": filename, "data": fields["file"]})
        return 200, {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "created_at": self._time(self.now),
            "filename": filename,
            "purpose": "batch",
            "status": "uploaded",
        }

    def _content(self, file_id: str) -> tuple[int, Any]:
        if file_id not in self.files:
            return 404, {"error": {"code": "404", "message": "file not found"}}
        return 200, self.files[file_id]["data"]

    def _create(self, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error("1214")
        file_id = body.get("input_file_id") if isinstance(body, dict) else None
        if file_id not in self.files or body.get("endpoint") != CHAT_URL:
            return self._error("1214")
        batch = FakeBatch(
            id=f"batch_{next(self._ids)}",
            input_file_id=file_id,
            created=self.now,
            metadata=dict(body.get("metadata") or {}),
            lines=[],
            expire_after=self.expire_after,
        )
        batch.problems = self._validate(self.files[file_id]["data"], batch)
        if self.validation_failure is not None:
            batch.problems.append(
                {"code": "1214", "line": None, "message": self.validation_failure}
            )
            self.validation_failure = None
        self.batches[batch.id] = batch
        return 200, self._object(batch)

    def _validate(self, data: bytes, batch: FakeBatch) -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = []
        seen: set[str] = set()
        models: set[str] = set()
        for number, raw in enumerate(data.splitlines(), 1):
            try:
                line = json.loads(raw)
            except ValueError:
                problems.append({"code": "1214", "line": number, "message": "not JSON"})
                continue
            custom_id = str(line.get("custom_id", ""))
            if not custom_id or custom_id in seen:
                problems.append({"code": "1214", "line": number, "message": "custom_id repeated"})
            if line.get("method") != "POST" or line.get("url") != CHAT_URL:
                problems.append({"code": "1214", "line": number, "message": "bad method or url"})
            seen.add(custom_id)
            models.add(str((line.get("body") or {}).get("model")))
            batch.lines.append(line)
        if len(models) > 1:
            problems.append({"code": "1214", "line": None, "message": "one model per file"})
        if len(batch.lines) > self.max_lines:
            problems.append({"code": "1214", "line": None, "message": "too many requests"})
        return problems

    # -- the batch's life ------------------------------------------------------------------------
    def _progress(self, batch: FakeBatch, elapsed: float) -> int:
        """Lines answered `elapsed` seconds after creation (never past `expire_after`)."""
        total = len(batch.lines)
        if elapsed < self.validating_s or batch.problems:
            return 0
        done = int(total * (elapsed - self.validating_s) / self.running_s)
        cap = batch.expire_after if batch.expire_after is not None else total
        return max(0, min(done, total, cap))

    def _status(self, batch: FakeBatch) -> tuple[str, int]:
        """(status, lines answered so far) at the fake clock's time."""
        elapsed = self.now - batch.created
        total = len(batch.lines)
        run_end = self.validating_s + self.running_s
        if batch.cancelled is not None:
            done = self._progress(batch, batch.cancelled - batch.created)
            over = self.now - batch.cancelled >= self.cancel_s
            return ("cancelled" if over else "cancelling"), done
        if elapsed < self.validating_s:
            return "validating", 0
        if batch.problems:
            return "failed", 0
        if elapsed < run_end:
            return "in_progress", self._progress(batch, elapsed)
        if batch.expire_after is not None and batch.expire_after < total:
            return "expired", batch.expire_after
        if elapsed < run_end + self.finalizing_s:
            return "finalizing", total
        return "completed", total

    def _object(self, batch: FakeBatch) -> dict[str, Any]:
        status, done = self._status(batch)
        if status in _TERMINAL and not batch.finished:
            self._finish(batch, done)
        failed = sum(1 for line in batch.answered if line["response"]["status_code"] != 200)
        created = batch.created
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": CHAT_URL,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": self._time(created),
            "in_progress_at": self._time(created + self.validating_s),
            "expires_at": self._time(created + 86_400),
            "finalizing_at": None,
            "completed_at": self._time(self.now) if status == "completed" else None,
            "failed_at": self._time(self.now) if status == "failed" else None,
            "expired_at": self._time(self.now) if status == "expired" else None,
            "cancelling_at": None,
            "cancelled_at": self._time(self.now) if status == "cancelled" else None,
            "request_counts": {
                "total": len(batch.lines),
                "completed": done - failed if batch.finished else done,
                "failed": failed if batch.finished else 0,
            },
            "errors": {"object": "list", "data": batch.problems} if batch.problems else None,
            "metadata": batch.metadata,
        }

    def _finish(self, batch: FakeBatch, done: int) -> None:
        """Answer the first `done` lines and write the output and error files."""
        batch.finished = True
        answered = [self._answer_line(batch, line) for line in batch.lines[:done]]
        batch.answered = answered
        if self.shuffle_output:
            self.rng.shuffle(answered)
        good = [a for a in answered if a["response"]["status_code"] == 200]
        bad = [a for a in answered if a["response"]["status_code"] != 200]
        for kind, lines in (("output", good), ("error", bad)):
            if not lines:
                continue
            file_id = f"{time.strftime('%Y%m%d')}_{kind}_{next(self._ids):x}"
            data = b"".join(json.dumps(a, ensure_ascii=False).encode() + b"\n" for a in lines)
            self.files[file_id] = {"data": data, "filename": f"{batch.id}_{kind}.jsonl"}
            setattr(batch, f"{kind}_file_id", file_id)

    def _line_fault(self, body: dict) -> str | None:
        texts = [str(item.get("text", "")) for item in items_of(body) or []]
        for rule in self.line_rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.match is not None and not any(rule.match in text for text in texts):
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule.kind
        return None

    def _answer_line(self, batch: FakeBatch, line: dict[str, Any]) -> dict[str, Any]:
        body = line.get("body") or {}
        custom_id = line.get("custom_id")
        fault = self._line_fault(body)
        if body.get("model") not in KNOWN_MODELS:
            fault = "1211"
        if fault in CODES:
            status, payload = self._error(fault)
            return {"response": {"status_code": status, "body": payload}, "custom_id": custom_id}
        content, finish = self._content_for(body, fault)
        completion = count_tokens(content)
        max_tokens = body.get("max_tokens")
        if finish == "stop" and isinstance(max_tokens, int) and completion > max_tokens:
            content, finish = cut_to_tokens(content, max_tokens), "length"
            completion = count_tokens(content)
        prompt = sum(count_tokens(str(m.get("content", ""))) + 4 for m in body["messages"])
        answer = {
            "created": int(self.now),
            "usage": {
                "completion_tokens": completion,
                "prompt_tokens": prompt,
                "total_tokens": prompt + completion,
            },
            "model": body.get("model"),
            "id": str(next(self._ids)),
            "choices": [
                {
                    "finish_reason": finish,
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "request_id": f"615-{custom_id}",
        }
        return {
            "response": {"status_code": 200, "body": answer},
            "custom_id": custom_id,
            "id": batch.id,
        }

    def _content_for(self, body: dict, fault: str | None) -> tuple[str, str]:
        system = next(
            (str(m.get("content", "")) for m in body["messages"] if m.get("role") == "system"), ""
        )
        params = params_of(system)
        items = items_of(body) or []
        pairs = [
            (str(item.get("id")), default_oracle(params, str(item.get("text", ""))))
            for item in items
        ]
        if fault == "missing_id" and pairs:
            pairs = pairs[:-1]
        content = "{" + ",".join(f"{json.dumps(i)}:{dumps(a)}" for i, a in pairs) + "}"
        if fault == "non_json":
            return "Sure! " + content.strip("{}"), "stop"
        if fault == "sensitive":
            return "", "sensitive"
        if fault == "length":
            return content[: len(content) // 2], "length"
        return content, "stop"

    def _time(self, seconds: float) -> int:
        return int(seconds * 1000) if self.timestamps_in_ms else int(seconds)


_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
