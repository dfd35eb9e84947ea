"""A fake GLM server: a real HTTP server on 127.0.0.1 speaking Zhipu's chat-completions wire format.

It follows the GLM reference's fake-server spec (glm_api.md section 9) and plays the model with a
deterministic oracle, so tests (and the benchmark) can check every answer lands in the right cell.

Use it from pytest through the `fake_glm` fixture, or from a script:

    with FakeGlmServer() as fake:
        settings = Settings(api_key=fake.api_key, base_url=fake.base_url, provider="glm")
        fake.inject("1305", times=2)          # the next two requests get 429/1305
        fake.inject("missing_id", probability=0.2, seed=7)

The model's side of the pack protocol (excel_glm.tasks): the system message ends with a line
`Task parameters (JSON): {"task": ..., ...}` and the user message is `{"items": [{"id", "text"}]}`.
The answer is a JSON object mapping each id to its answer. The oracle, per task:

    translate  -> "[<to>] <text>"
    classify   -> the first label (in label order) whose text occurs in the cell, ignoring case,
                  else the first label; multi_label -> a list of every label that occurs
    extract    -> per field: "email" fields get the first e-mail address in the text, fields
                  naming a number/phone/amount/price/age/count get the first number, every other
                  field the first capitalised word; "" when nothing fits
    ask        -> "[<prompt>] <text>" ("[answer] <text>" when the prompt is empty)

Tokens are counted as one per four ASCII characters plus one per other character (rounded up).
Latency per answered request: `base_ms + per_token_ms * completion_tokens`. Context cache: once a
system message has been seen for a model, later requests with it report
`cached_tokens = cache_block_tokens * floor(system tokens / cache_block_tokens)` (block 1024 by
default, as in the reference). `concurrency_limit` answers requests beyond it with 429/1302 and
`max_prompt_tokens` longer prompts with 400/1261; `retry_after` adds that header to 429s.

Faults (`inject(kind, ...)`), applied before the normal answer:
    any GLM business code in CODE_STATUS ("1302", "1305", "1113", "1234", "1301", "1000"...)
    "503_html" (503 with an HTML body), "503_empty", "drop" (connection cut mid-body),
    "slow" (sleep `delay` seconds, then answer normally),
    "network_error" | "sensitive" | "length" | "context_exceeded" (200 with that finish_reason),
    "truncated" (JSON content cut in half), "non_json" (chatty prose instead of JSON),
    "missing_id", "extra_id", "duplicate_id" (the first id repeated later with a wrong answer),
    "zero_based" (ids numbered from "0"), and the shapes other servers and models produce:
    "fenced" (```json fences), "prose" (text before and after the JSON), "think" (a <think> block
    first), "entries" ({"results": [{"id": 1, "answer": ...}]}), "null_content", "no_choices",
    "no_usage" (no usage, no prompt_tokens_details), "reasoning" (reasoning_content beside content);
    on the wire: "close" (Connection: close on the answer), "trickle" (the body a few bytes at a
    time, `delay` seconds apart), "html" (status `status` with an HTML page).
An error fault's body follows `envelope`: "nested" {"error": {"code": "1302", ...}} (default),
"int" (the code as a number), "flat" {"code": ..., "message": ...}, "in_message" (no code field,
"[1113][message][id]" as the message), "openai" {"error": {"message", "type", "code": null}};
`status` overrides the HTTP status (200: an error envelope in a 200 answer) and `headers` adds
response headers (Retry-After, x-should-retry...); `message` replaces the code's message.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:  # tests/ is on sys.path under pytest; scripts import the package path
    from loopback_server import LoopbackServer, read_request
except ImportError:
    from tests.loopback_server import LoopbackServer, read_request

try:  # imported as a top-level module (pytest puts tests/ on sys.path) or as tests.fake_glm
    from fake_glm_model import (
        Oracle,
        count_tokens,
        cut_to_tokens,
        default_oracle,
        dumps,
        items_of,
        params_of,
    )
except ImportError:
    from tests.fake_glm_model import (
        Oracle,
        count_tokens,
        cut_to_tokens,
        default_oracle,
        dumps,
        items_of,
        params_of,
    )

PREFIX = "/api/paas/v4"
KNOWN_MODELS = frozenset(
    {"glm-5", "glm-5-turbo", "glm-5.1", "glm-4.7", "glm-4.6", "glm-4.5-air", "glm-4.7-flash"}
)

# Business code -> (HTTP status, message), from the reference's tables.
CODE_STATUS: dict[str, tuple[int, str]] = {
    "401": (401, "令牌已过期或验证不正确"),
    "1000": (401, "身份验证失败。"),
    "1001": (401, "Header 中未收到 Authentication 参数，无法进行身份验证"),
    "1002": (401, "Authentication Token 非法，请确认 Authentication Token 正确传递。"),
    "1113": (429, "余额不足或无可用资源包,请充值。"),
    "1200": (500, "API 调用失败"),
    "1210": (400, "API 调用参数有误，请检查文档。"),
    "1211": (400, "模型不存在，请检查模型代码。"),
    "1214": (400, "参数非法"),
    "1230": (500, "API 处理出错"),
    "1234": (500, "网络错误，错误id：fake，请联系客服"),
    "1261": (400, "Prompt exceeds max length"),
    "1301": (
        400,
        "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语",
    ),
    "1231": (400, "您已有请求：xg-duplicate"),
    "1302": (429, "您的账户已达到速率限制，请您控制请求频率"),
    "1303": (429, "您当前使用该 API 的频率过高，请降低频率"),
    "1304": (429, "该 API 已达今日调用次数限额"),
    "1305": (429, "该模型当前访问量过大，请您稍后再试"),
    "1308": (429, "已达到 5 小时的使用上限。您的限额将在 2026-11-26 12:00:00 重置。"),
    "1310": (429, "Weekly/Monthly Limit Exhausted. Your limit will reset at 2026-12-01 08:00:00"),
    "1312": (429, "该模型当前访问量过大，请切换其他模型"),
    "1313": (429, "您的账户触发公平使用策略，请稍后再试"),
}
FINISH_FAULTS = {
    "network_error": "network_error",
    "sensitive": "sensitive",
    "length": "length",
    "context_exceeded": "model_context_window_exceeded",
}
CONTENT_FAULTS = {"truncated", "non_json", "missing_id", "extra_id", "duplicate_id", "zero_based"}
SHAPE_FAULTS = {"fenced", "prose", "think", "entries", "null_content", "no_choices", "no_usage"}
SHAPE_FAULTS |= {"reasoning"}
OTHER_FAULTS = {"503_html", "503_empty", "drop", "slow", "close", "trickle", "html"}
ENVELOPES = {"nested", "int", "flat", "in_message", "openai"}


@dataclass
class FaultRule:
    """Apply `kind` to matching requests: the next `times` of them (None: no limit), each with
    `probability` (drawn from a seeded RNG), only if an item's text contains `match` (when set)."""

    kind: str
    times: int | None = None
    probability: float = 1.0
    match: str | None = None
    delay: float = 2.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    envelope: str = "nested"
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None


@dataclass
class RecordedRequest:
    """One request the fake received, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    fault: str | None = None


class _Dropped(Exception):
    """Raised after a partial body so that the server cuts the connection."""


class FakeGlmServer(LoopbackServer):
    """A GLM look-alike on 127.0.0.1 in a background thread; see the module docstring."""

    thread_name = "fake-glm"
    uvicorn_options: ClassVar[dict[str, Any]] = {"timeout_graceful_shutdown": 1, "backlog": 512}

    def __init__(self, *, api_key: str = "fake-id.fake-secret") -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        super().__init__()
        self.reset()

    # -- control ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to defaults: no faults, no latency, no concurrency limit, nothing recorded."""
        with self._lock:
            self.rules: list[FaultRule] = []
            self.records: list[RecordedRequest] = []
            self.oracle: Oracle = default_oracle
            self.base_ms = 0.0
            self.per_token_ms = 0.0
            self.concurrency_limit: int | None = None
            self.max_prompt_tokens = 200_000
            self.cache_block_tokens = 1024
            self.retry_after: float | None = None
            # A slow answer from before the reset may still be in flight: the generation keeps
            # it from touching the fresh counters when it ends.
            self.generation = getattr(self, "generation", 0) + 1
            self.in_flight = 0
            self.peak_in_flight = 0
            self._seen_prefixes: set[tuple[str, str]] = set()

    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        probability: float = 1.0,
        match: str | None = None,
        delay: float = 2.0,
        seed: int = 0,
        envelope: str = "nested",
        status: int | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Add a fault rule; `times=None` keeps it for every matching request."""
        known = set(CODE_STATUS) | set(FINISH_FAULTS) | CONTENT_FAULTS | SHAPE_FAULTS | OTHER_FAULTS
        if kind not in known:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(known)}")
        if envelope not in ENVELOPES:
            raise ValueError(f"unknown envelope {envelope!r}; known: {sorted(ENVELOPES)}")
        rule = FaultRule(
            kind, times, probability, match, delay, random.Random(seed), envelope, status
        )
        rule.headers = dict(headers or {})
        rule.message = message
        with self._lock:
            self.rules.append(rule)
        return rule

    def set_latency(self, base_ms: float, per_token_ms: float = 0.0) -> None:
        """Answer each request after base_ms + per_token_ms * completion_tokens."""
        self.base_ms, self.per_token_ms = base_ms, per_token_ms

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat request received so far (a copy)."""
        with self._lock:
            return [r for r in self.records if r.path.endswith("/chat/completions")]

    def items_sent(self) -> list[str]:
        """Every cell text the engine sent, across all chat requests, in arrival order."""
        texts = []
        for record in self.requests:
            for item in items_of(record.body) or []:
                texts.append(item.get("text", ""))
        return texts

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        raw, headers = await read_request(scope, receive)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(scope["method"], scope["path"], headers, body)
        with self._lock:
            self.records.append(record)
        if scope["path"] == PREFIX + "/chat/completions" and scope["method"] == "POST":
            await self._chat(record, send)
        elif scope["path"] == PREFIX + "/models" and scope["method"] == "GET":
            data = [{"id": name, "object": "model"} for name in sorted(KNOWN_MODELS)]
            await self._json(send, record, 200, {"object": "list", "data": data})
        else:
            await self._json(send, record, 404, {"error": {"code": "404", "message": "Not Found"}})

    async def _json(
        self, send: Callable, record: RecordedRequest, status: int, payload: Any, headers=()
    ) -> None:
        data = encode_json(payload)
        await self._raw(send, record, status, data, "application/json", headers)

    async def _raw(
        self,
        send: Callable,
        record: RecordedRequest,
        status: int,
        data: bytes,
        ctype: str,
        headers=(),
    ) -> None:
        record.status = status
        head = [(b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]
        head += [(k.encode(), v.encode()) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    async def _error(
        self, send: Callable, record: RecordedRequest, code: str, rule: FaultRule | None = None
    ) -> None:
        status, message = CODE_STATUS[code]
        if rule is not None and rule.message is not None:
            message = rule.message
        headers = list((rule.headers if rule else {}).items())
        if self.retry_after is not None and status == 429:
            headers.append(("retry-after", str(self.retry_after)))
        if rule is not None and rule.status is not None:
            status = rule.status
        body = error_body(code, message, rule.envelope if rule else "nested")
        await self._json(send, record, status, body, headers)

    def _pick_fault(self, body: Any) -> FaultRule | None:
        texts = [str(item.get("text", "")) for item in items_of(body) or []]
        with self._lock:
            for rule in self.rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.match is not None and not any(rule.match in t for t in texts):
                    continue
                if rule.probability < 1.0 and rule.rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    async def _chat(self, record: RecordedRequest, send: Callable) -> None:
        auth = record.headers.get("authorization")
        if not auth:
            return await self._error(send, record, "1001")
        if auth != f"Bearer {self.api_key}":
            return await self._error(send, record, "1000")
        body = record.body
        rule = self._pick_fault(body)
        fault = rule.kind if rule else None
        record.fault = fault
        if fault in CODE_STATUS:
            return await self._error(send, record, fault, rule)
        if fault == "html":
            page = b"<html><head><title>Bad Gateway</title></head><body>nginx</body></html>"
            status = rule.status or 502
            return await self._raw(send, record, status, page, "text/html", rule.headers.items())
        if fault in ("503_html", "503_empty"):
            html = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
            data = html if fault == "503_html" else b""
            return await self._raw(send, record, 503, data, "text/html")
        if fault == "drop":
            record.status = 200
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"500"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id": "cut', "more_body": True})
            raise _Dropped("connection dropped on purpose")
        problem = self._check_request(body)
        if problem:
            return await self._error(send, record, problem)
        model = body["model"]
        if self.concurrency_limit is not None and self.in_flight >= self.concurrency_limit:
            return await self._error(send, record, "1302")
        generation = self.generation
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if fault == "slow":
                await asyncio.sleep(rule.delay)
            payload = self._answer(body, model, fault)
            completion_tokens = payload.get("usage", {}).get("completion_tokens", 0)
            delay_ms = self.base_ms + self.per_token_ms * completion_tokens
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
        finally:
            # Free the slot before the answer leaves, so a client that sends its next request the
            # moment this one returns never races the counter into a false 1302.
            if generation == self.generation:
                self.in_flight -= 1
        if fault == "trickle":
            return await self._trickle(send, record, payload, rule.delay)
        headers = [("connection", "close")] if fault == "close" else []
        await self._json(send, record, 200, payload, headers)

    async def _trickle(
        self, send: Callable, record: RecordedRequest, payload: Any, delay: float
    ) -> None:
        """Headers at once, then the body 8 bytes at a time: no read ever waits `delay` long."""
        data = encode_json(payload)
        record.status = 200
        head = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        for start in range(0, len(data), 8):
            await send(
                {"type": "http.response.body", "body": data[start : start + 8], "more_body": True}
            )
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b""})

    def _check_request(self, body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return "1214"
        if not body["messages"]:
            return "1214"
        if body.get("model") not in KNOWN_MODELS:
            return "1211"
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 1:
            return "1210"
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and not (
            isinstance(max_tokens, int) and 1 <= max_tokens <= 131072
        ):
            return "1210"
        request_id = body.get("request_id")
        if request_id is not None and not 6 <= len(str(request_id)) <= 64:
            return "1214"
        if sum(count_tokens(str(m.get("content", ""))) for m in body["messages"]) > (
            self.max_prompt_tokens
        ):
            return "1261"
        return None

    def _answer(self, body: dict, model: str, fault: str | None) -> dict:
        messages = body["messages"]
        system = next(
            (str(m.get("content", "")) for m in messages if m.get("role") == "system"), ""
        )
        content, finish = self._content(body, system, fault)
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) + 4 for m in messages)
        cached = 0
        prefix_key = (model, system)
        with self._lock:
            if system and prefix_key in self._seen_prefixes:
                block = self.cache_block_tokens
                cached = block * (count_tokens(system) // block)
            self._seen_prefixes.add(prefix_key)
        completion_tokens = count_tokens(content)
        max_tokens = body.get("max_tokens")
        if finish == "stop" and max_tokens is not None and completion_tokens > max_tokens:
            # The model ran out of room: cut the text at max_tokens, as the real API does.
            content = cut_to_tokens(content, max_tokens)
            completion_tokens, finish = count_tokens(content), "length"
        now = int(time.time())
        rid = str(body.get("request_id") or f"{time.strftime('%Y%m%d%H%M%S')}fake")
        return reshape(
            fault,
            {
                "id": rid,
                "request_id": rid,
                "created": now,
                "model": model,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            },
        )

    def _content(self, body: dict, system: str, fault: str | None) -> tuple[str, str]:
        params = params_of(system)
        items = items_of(body)
        if items is None:
            last = str(body["messages"][-1].get("content", ""))
            answer = self.oracle(params, last)
            return (answer if isinstance(answer, str) else json.dumps(answer)), "stop"
        pairs = [
            (str(item.get("id")), self.oracle(params, str(item.get("text", "")))) for item in items
        ]
        if fault == "missing_id" and pairs:
            pairs = pairs[:-1]
        if fault == "extra_id":
            pairs.append(("999", "[extra] not asked for"))
        if fault == "duplicate_id" and pairs:
            pairs.append((pairs[0][0], "[duplicate] wrong answer"))
        if fault == "zero_based":
            pairs = [(str(int(i) - 1), a) if i.isdigit() else (i, a) for i, a in pairs]
        if fault == "entries":
            entries = [{"id": int(i) if i.isdigit() else i, "answer": a} for i, a in pairs]
            return dumps({"results": entries}), "stop"
        content = "{" + ",".join(f"{json.dumps(i)}:{dumps(a)}" for i, a in pairs) + "}"
        if fault == "truncated":
            content = content[: max(1, len(content) // 2)]
        elif fault == "non_json":
            content = "Sure! Here are the answers you asked for: " + content.strip("{}")
        elif fault == "fenced":
            content = f"```json\n{content}\n```"
        elif fault == "prose":
            content = f"Here are the answers:\n{content}\nLet me know if you need more."
        elif fault == "think":
            content = f'<think>The user wants {{"1": ...}}; fine.</think>\n{content}'
        if fault in FINISH_FAULTS:
            finish = FINISH_FAULTS[fault]
            if finish in ("sensitive", "network_error"):
                content = ""
            else:
                content = content[: max(1, len(content) // 2)]
            return content, finish
        return content, "stop"


def error_body(code: str, message: str, envelope: str) -> dict:
    """An error answer's JSON body in one of the envelopes servers are seen to use."""
    if envelope == "int":
        return {"error": {"code": int(code), "message": message}}
    if envelope == "flat":
        return {"code": code, "message": message}
    if envelope == "in_message":
        return {"error": {"message": f"[{code}][{message}][20261126013000abcdef]"}}
    if envelope == "openai":
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return {"error": {"code": code, "message": message}}


def reshape(fault: str | None, payload: dict) -> dict:
    """A normal answer bent into the shape a `SHAPE_FAULTS` fault asks for."""
    message = payload["choices"][0]["message"]
    if fault == "null_content":
        message["content"] = None
    elif fault == "no_choices":
        payload["choices"] = []
    elif fault == "no_usage":
        del payload["usage"]
    elif fault == "reasoning":
        message["reasoning_content"] = 'The cells are {"1": "not this"}; answer each.'
    return payload


def encode_json(payload: Any) -> bytes:
    """UTF-8 JSON; \\u escapes when a string holds what UTF-8 cannot (a lone surrogate)."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(payload).encode()
