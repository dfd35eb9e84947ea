// Behaviour of the shipped addin/functions.js under stubbed CustomFunctions and fetch.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");

const {
  cellsAnswer,
  invocation,
  jsonResponse,
  loadFunctions,
  scriptedFetch,
  settleWithin,
} = require("./harness.js");

const english = (body) => cellsAnswer(body, (text) => `EN:${text}`);

test("associates exactly the ids declared in functions.json", () => {
  const { associations } = loadFunctions({ fetch: async () => assert.fail("no fetch expected") });
  const metadata = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "functions.json"), "utf8"));
  const declared = metadata.functions.map((fn) => fn.id).sort();
  assert.deepEqual(Object.keys(associations).sort(), declared);
  for (const id of declared) assert.equal(typeof associations[id], "function");
});

test("calls within 50 ms with the same task and params share one request", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const first = associations.GLM_TRANSLATE(
    [
      ["a", "b"],
      ["c", "d"],
    ],
    "English",
    invocation(),
  );
  await new Promise((resolve) => setTimeout(resolve, 10));
  const second = associations.GLM_TRANSLATE([["e"]], "English", invocation());
  const [one, two] = await Promise.all([settleWithin(first), settleWithin(second)]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body.values, [["a"], ["b"], ["c"], ["d"], ["e"]]);
  assert.deepEqual(calls[0].body.params, { to: "English" });
  assert.equal(calls[0].body.task, "translate");
  assert.deepEqual(one.value, [
    ["EN:a", "EN:b"],
    ["EN:c", "EN:d"],
  ]);
  assert.deepEqual(two.value, [["EN:e"]]);
});

test("different params go in separate requests, each answered to its own caller", async () => {
  const { fetch, calls } = scriptedFetch((body) => cellsAnswer(body, (text) => `${body.params.to}:${text}`));
  const { associations } = loadFunctions({ fetch });
  const [german, french] = await Promise.all([
    settleWithin(associations.GLM_TRANSLATE([["x"]], "German", invocation())),
    settleWithin(associations.GLM_TRANSLATE([["x"]], "French", "English", invocation())),
  ]);
  assert.equal(calls.length, 2);
  assert.deepEqual(german.value, [["German:x"]]);
  assert.deepEqual(french.value, [["French:x"]]);
  const frenchBody = calls.find((call) => call.body.params.to === "French").body;
  assert.deepEqual(frenchBody.params, { to: "French", from: "English" });
});

test("a call after the batch window starts a new request", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const first = await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  const second = await settleWithin(associations.GLM_TRANSLATE([["b"]], "English", invocation()));
  assert.equal(calls.length, 2);
  assert.deepEqual([first.value, second.value], [[["EN:a"]], [["EN:b"]]]);
});

test("sends the page's token as a bearer header to the relative /v1/cells URL", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch, token: "secret-token-xyz" });
  await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  assert.equal(calls[0].url, "/v1/cells");
  assert.equal(calls[0].init.headers.Authorization, "Bearer secret-token-xyz");
});

test("a missing token gives #N/A per cell without calling the service", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch, token: "" });
  const result = await settleWithin(associations.GLM_TRANSLATE([["a"], ["b"]], "English", invocation()));
  assert.equal(calls.length, 0);
  assert.equal(result.value.length, 2);
  for (const [cell] of result.value) assert.match(cell, /^#N\/A .*token/);
});

test("per-cell errors become #N/A errors in exactly those cells", async () => {
  const { fetch } = scriptedFetch((body) =>
    cellsAnswer(body, (text) => (text === "bad" ? { error: "model refused" } : `EN:${text}`)),
  );
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(
    associations.GLM_TRANSLATE([["ok"], ["bad"], ["fine"]], "English", invocation()),
  );
  assert.equal(result.value[0][0], "EN:ok");
  assert.match(result.value[1][0], /^#N\/A .*model refused/);
  assert.equal(result.value[2][0], "EN:fine");
});

test('blank cells ("" and the 0 Excel passes for empty) are blank without a request', async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const allBlank = await settleWithin(
    associations.GLM_TRANSLATE([[""], [0], ["  "]], "English", invocation()),
  );
  assert.equal(calls.length, 0);
  assert.deepEqual(allBlank.value, [[""], [""], [""]]);
  const mixed = await settleWithin(
    associations.GLM_TRANSLATE(
      [
        ["a", ""],
        [0, 42],
      ],
      "English",
      invocation(),
    ),
  );
  assert.deepEqual(calls[0].body.values, [["a"], ["42"]]);
  assert.deepEqual(mixed.value, [
    ["EN:a", ""],
    ["", "EN:42"],
  ]);
});

test("an empty range settles at once with one blank cell", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  for (const empty of [[], [[]]]) {
    const result = await settleWithin(associations.GLM_TRANSLATE(empty, "English", invocation()));
    assert.deepEqual(result.value, [[""]]);
  }
  assert.equal(calls.length, 0);
});

test("an error value in an input cell gives an error in that cell only", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations, CustomFunctions } = loadFunctions({ fetch });
  const errorInput = new CustomFunctions.Error("#DIV/0!");
  const result = await settleWithin(
    associations.GLM_TRANSLATE([["a"], [errorInput]], "English", invocation()),
  );
  assert.deepEqual(calls[0].body.values, [["a"]]);
  assert.equal(result.value[0][0], "EN:a");
  assert.match(result.value[1][0], /^#N\/A .*holds an error/);
});

test("a network failure settles every batched call with #N/A, none left pending", async () => {
  const fetch = async () => {
    throw new TypeError("Failed to fetch");
  };
  const { associations } = loadFunctions({ fetch });
  const results = await Promise.all([
    settleWithin(associations.GLM_TRANSLATE([["a"], ["b"]], "English", invocation())),
    settleWithin(associations.GLM_CLASSIFY([["c"]], "x, y", invocation())),
  ]);
  for (const result of results) {
    assert.ok(result.ok);
    for (const row of result.value) for (const cell of row) assert.match(cell, /^#N\/A .*excel-glm serve/);
  }
});

for (const [status, code, pattern] of [
  [401, "#N/A", /token/],
  [403, "#N/A", /refused \(403\): Origin not allowed/],
  [413, "#VALUE!", /too large \(413\): Origin not allowed/],
  [422, "#VALUE!", /Origin not allowed/],
  [502, "#N/A", /Origin not allowed/],
  [500, "#N/A", /HTTP 500/],
]) {
  test(`HTTP ${status} settles every cell with ${code} and a message`, async () => {
    const { fetch, calls } = scriptedFetch(() => jsonResponse({ detail: "Origin not allowed" }, status));
    const { associations } = loadFunctions({ fetch });
    const result = await settleWithin(associations.GLM_TRANSLATE([["a"], ["b"]], "English", invocation()));
    assert.equal(calls.length, 1);
    for (const [cell] of result.value) {
      assert.ok(cell.startsWith(`${code} `), cell);
      assert.match(cell, pattern);
    }
  });
}

test("a 422 with FastAPI's list of validation errors reads as one message", async () => {
  const detail = [{ loc: ["body", "params"], msg: "labels: give at least two" }];
  const { fetch } = scriptedFetch(() => jsonResponse({ detail }, 422));
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM_CLASSIFY([["a"]], "x", invocation()));
  assert.equal(result.value[0][0], "#VALUE! excel-glm: labels: give at least two");
});

test("a non-JSON or wrongly shaped answer settles with #N/A", async () => {
  for (const answer of [
    () => new Response("<html>proxy error</html>", { status: 200 }),
    () => jsonResponse({ values: [["only one"]] }),
  ]) {
    const { fetch } = scriptedFetch(answer);
    const { associations } = loadFunctions({ fetch });
    const result = await settleWithin(associations.GLM_TRANSLATE([["a"], ["b"]], "English", invocation()));
    for (const [cell] of result.value) assert.match(cell, /^#N\/A excel-glm: the service/);
  }
});

test("503 is retried with backoff and then succeeds", async () => {
  const { fetch, calls } = scriptedFetch((body, n) =>
    n <= 2 ? jsonResponse({ detail: "rate limited" }, 503) : english(body),
  );
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  assert.equal(calls.length, 3);
  assert.deepEqual(result.value, [["EN:a"]]);
});

test("503 that persists gives #N/A with the message after the retries", async () => {
  const { fetch, calls } = scriptedFetch(() => jsonResponse({ detail: "GLM overloaded" }, 503));
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  assert.equal(calls.length, 3);
  assert.match(result.value[0][0], /^#N\/A .*GLM overloaded/);
});

test("a call cancelled while queued is dropped from the batch", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const cancelled = invocation();
  const dropped = associations.GLM_TRANSLATE([["drop me"]], "English", cancelled);
  const kept = associations.GLM_TRANSLATE([["keep me"]], "English", invocation());
  cancelled.onCanceled();
  const [droppedResult, keptResult] = await Promise.all([settleWithin(dropped), settleWithin(kept)]);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body.values, [["keep me"]]);
  assert.equal(droppedResult.ok, false);
  assert.deepEqual(keptResult.value, [["EN:keep me"]]);
});

test("cancelling the only call in flight aborts its request", async () => {
  let seenSignal;
  const fetch = (url, init) => {
    seenSignal = init.signal;
    return new Promise((_, reject) => {
      init.signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  };
  const { associations } = loadFunctions({ fetch });
  const call = invocation();
  const promise = associations.GLM_TRANSLATE([["a"]], "English", call);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.ok(seenSignal, "the request was sent");
  call.onCanceled();
  const result = await settleWithin(promise);
  assert.equal(seenSignal.aborted, true);
  assert.equal(result.ok, false);
});

test("cancelling one of two calls sharing a request keeps the request for the other", async () => {
  let release;
  let seenSignal;
  const { fetch } = scriptedFetch((body, n, init) => {
    seenSignal = init.signal;
    return new Promise((resolve) => {
      release = () => resolve(english(body));
    });
  });
  const { associations } = loadFunctions({ fetch });
  const cancelled = invocation();
  const first = associations.GLM_TRANSLATE([["a"]], "English", cancelled);
  const second = associations.GLM_TRANSLATE([["b"]], "English", invocation());
  await new Promise((resolve) => setTimeout(resolve, 80));
  cancelled.onCanceled();
  assert.equal(seenSignal.aborted, false);
  release();
  const [one, two] = await Promise.all([settleWithin(first), settleWithin(second)]);
  assert.equal(one.ok, false);
  assert.deepEqual(two.value, [["EN:b"]]);
});

test("a request that never answers times out with #N/A", async () => {
  const fetch = (url, init) =>
    new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted"))));
  const { associations } = loadFunctions({ fetch, config: { requestTimeoutMs: 100 } });
  const result = await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  assert.match(result.value[0][0], /^#N\/A .*timed out/);
});

test("big batches are split by cell count and answers reassembled in order", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const column = Array.from({ length: 12001 }, (_, i) => [`t${i}`]);
  const result = await settleWithin(associations.GLM_TRANSLATE(column, "English", invocation()), 5000);
  assert.deepEqual(
    calls.map((call) => call.body.values.length),
    [5000, 5000, 2001],
  );
  assert.equal(result.value.length, 12001);
  assert.equal(result.value[0][0], "EN:t0");
  assert.equal(result.value[7777][0], "EN:t7777");
  assert.equal(result.value[12000][0], "EN:t12000");
});

test("big batches are split by bytes", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch, config: { maxBatchBytes: 1000 } });
  const column = Array.from({ length: 10 }, (_, i) => [`${i}`.padEnd(300, "é")]);
  const result = await settleWithin(associations.GLM_TRANSLATE(column, "English", invocation()));
  assert.ok(calls.length >= 5, `expected several requests, got ${calls.length}`);
  for (const call of calls) assert.ok(Buffer.byteLength(JSON.stringify(call.body.values)) < 1400);
  assert.deepEqual(
    result.value.map(([cell]) => cell),
    column.map(([text]) => `EN:${text}`),
  );
});

test("extract spills one row per input cell and one column per field", async () => {
  const { fetch, calls } = scriptedFetch((body) =>
    cellsAnswer(body, (text) => ({ name: `name of ${text}`, email: `${text}@example.com` })),
  );
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(
    associations.GLM_EXTRACT(
      [
        ["ann", "bob"],
        ["", "cy"],
      ],
      [["name"], ["email"]],
      invocation(),
    ),
  );
  assert.deepEqual(calls[0].body.params, { fields: ["name", "email"] });
  assert.deepEqual(result.value, [
    ["name of ann", "ann@example.com"],
    ["name of bob", "bob@example.com"],
    ["", ""],
    ["name of cy", "cy@example.com"],
  ]);
});

test("an extract answer that is not a record gives errors across that row only", async () => {
  const { fetch } = scriptedFetch((body) =>
    cellsAnswer(body, (text) => (text === "x" ? "oops" : { name: text })),
  );
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM_EXTRACT([["x"], ["y"]], "name, age", invocation()));
  assert.match(result.value[0][0], /^#N\/A /);
  assert.match(result.value[0][1], /^#N\/A /);
  assert.deepEqual(result.value[1], ["y", ""]);
});

test("classify takes labels from a range or from one comma-separated cell", async () => {
  const { fetch, calls } = scriptedFetch((body) => cellsAnswer(body, () => body.params.labels[0]));
  const { associations } = loadFunctions({ fetch });
  const fromRange = associations.GLM_CLASSIFY([["t"]], [["pos"], ["neg"], [""]], invocation());
  const fromCell = associations.GLM_CLASSIFY([["t"]], "pos, neg ,", "be strict", invocation());
  const [a, b] = await Promise.all([settleWithin(fromRange), settleWithin(fromCell)]);
  const params = calls.map((call) => call.body.params);
  assert.ok(params.some((p) => JSON.stringify(p) === JSON.stringify({ labels: ["pos", "neg"] })));
  assert.ok(
    params.some(
      (p) => JSON.stringify(p) === JSON.stringify({ labels: ["pos", "neg"], instructions: "be strict" }),
    ),
  );
  assert.deepEqual([a.value, b.value], [[["pos"]], [["pos"]]]);
});

test("bad arguments reject the whole call with #VALUE! and send nothing", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const noLabels = await settleWithin(associations.GLM_CLASSIFY([["t"]], [[""]], invocation()));
  const noTarget = await settleWithin(associations.GLM_TRANSLATE([["t"]], "", invocation()));
  const rangeAsTarget = await settleWithin(associations.GLM_TRANSLATE([["t"]], [["a", "b"]], invocation()));
  const noFields = await settleWithin(associations.GLM_EXTRACT([["t"]], "", invocation()));
  for (const result of [noLabels, noTarget, rangeAsTarget, noFields]) {
    assert.equal(result.ok, false);
    assert.match(result.error, /^#VALUE! /);
  }
  assert.equal(calls.length, 0);
});

test("GLM applies the prompt to each cell, combining several ranges cell by cell", async () => {
  const { fetch, calls } = scriptedFetch((body) =>
    cellsAnswer(body, (text) => `${body.params.prompt}|${text}`),
  );
  const { associations } = loadFunctions({ fetch });
  // Excel passes a repeating parameter as one array holding each range.
  const result = await settleWithin(
    associations.GLM("Compare", [[["a1"], ["a2"]], [["b1"], ["b2"]], [["shared"]]], invocation()),
  );
  assert.equal(calls[0].body.task, "ask");
  assert.deepEqual(result.value, [["Compare|a1\nb1\nshared"], ["Compare|a2\nb2\nshared"]]);
});

test("GLM with only a prompt asks the prompt itself", async () => {
  const { fetch, calls } = scriptedFetch((body) => cellsAnswer(body, (text) => `answer to ${text}`));
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM("Name a colour", [], invocation()));
  assert.deepEqual(calls[0].body, { task: "ask", params: { prompt: "" }, values: [["Name a colour"]] });
  assert.deepEqual(result.value, [["answer to Name a colour"]]);
});

test("GLM rejects value ranges of different sizes", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(
    associations.GLM(
      "p",
      [
        [["a"], ["b"]],
        [["c"], ["d"], ["e"]],
      ],
      invocation(),
    ),
  );
  assert.equal(result.ok, false);
  assert.match(result.error, /^#VALUE! .*same size/);
  assert.equal(calls.length, 0);
});

test("a formula-looking answer is returned as a plain string value", async () => {
  const { fetch } = scriptedFetch((body) => cellsAnswer(body, () => '=HYPERLINK("http://x")'));
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(associations.GLM_TRANSLATE([["a"]], "English", invocation()));
  assert.deepEqual(result.value, [['=HYPERLINK("http://x")']]);
});

test("an answer longer than Excel's cell limit becomes #VALUE! in that cell", async () => {
  const { fetch } = scriptedFetch((body) =>
    cellsAnswer(body, (text) => (text === "long" ? "x".repeat(40000) : text)),
  );
  const { associations } = loadFunctions({ fetch });
  const result = await settleWithin(
    associations.GLM_TRANSLATE([["long"], ["short"]], "English", invocation()),
  );
  assert.match(result.value[0][0], /^#VALUE! .*32767/);
  assert.equal(result.value[1][0], "short");
});

test("many formulas with different options keep at most maxConcurrentRequests requests open", async () => {
  let open = 0;
  let mostOpen = 0;
  const { fetch, calls } = scriptedFetch(async (body) => {
    open += 1;
    mostOpen = Math.max(mostOpen, open);
    await new Promise((resolve) => setTimeout(resolve, 5));
    open -= 1;
    return cellsAnswer(body, (text) => `${body.params.to}:${text}`);
  });
  const { associations } = loadFunctions({ fetch, config: { maxConcurrentRequests: 3 } });
  const languages = Array.from({ length: 40 }, (_, i) => `L${i}`);
  const results = await Promise.all(
    languages.map((to) => settleWithin(associations.GLM_TRANSLATE([["x"]], to, invocation()), 5000)),
  );
  assert.equal(calls.length, 40);
  assert.ok(mostOpen <= 3, `${mostOpen} requests were open at once`);
  assert.deepEqual(
    results.map((result) => result.value[0][0]),
    languages.map((to) => `${to}:x`),
  );
});

test("the request timeout starts when a request is sent, not while it waits for a slot", async () => {
  const { fetch, calls } = scriptedFetch(async (body) => {
    await new Promise((resolve) => setTimeout(resolve, 40));
    return english(body);
  });
  const { associations } = loadFunctions({
    fetch,
    config: { maxConcurrentRequests: 1, requestTimeoutMs: 100 },
  });
  // Four one-at-a-time requests of 40 ms take 160 ms in all, more than the 100 ms timeout.
  const results = await Promise.all(
    ["a", "b", "c", "d"].map((from) =>
      settleWithin(associations.GLM_TRANSLATE([["x"]], "English", from, invocation())),
    ),
  );
  assert.equal(calls.length, 4);
  assert.deepEqual(
    results.map((result) => result.value[0][0]),
    ["EN:x", "EN:x", "EN:x", "EN:x"],
  );
});

test("a call cancelled while its request waits for a slot sends nothing", async () => {
  let release;
  const firstAnswered = new Promise((resolve) => (release = resolve));
  const { fetch, calls } = scriptedFetch(async (body, number) => {
    if (number === 1) await firstAnswered;
    return english(body);
  });
  const { associations } = loadFunctions({ fetch, config: { maxConcurrentRequests: 1 } });
  const first = associations.GLM_TRANSLATE([["a"]], "German", invocation());
  const waitingInvocation = invocation();
  const waiting = associations.GLM_TRANSLATE([["b"]], "French", waitingInvocation);
  await new Promise((resolve) => setTimeout(resolve, 80)); // both flushed, the second waits
  waitingInvocation.onCanceled();
  release();
  const [one, two] = await Promise.all([settleWithin(first), settleWithin(waiting)]);
  assert.deepEqual(one.value, [["EN:a"]]);
  assert.match(two.error, /cancelled/);
  assert.equal(calls.length, 1);
});

test("the byte cap counts JSON escaping, so quote- and control-heavy text stays within it", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch, config: { maxBatchBytes: 1000 } });
  const column = Array.from({ length: 10 }, (_, i) => [`${i}`.padEnd(150, '"\u0001')]);
  const result = await settleWithin(associations.GLM_TRANSLATE(column, "English", invocation()));
  for (const call of calls) assert.ok(Buffer.byteLength(JSON.stringify(call.body.values)) < 1100);
  assert.deepEqual(
    result.value.map(([cell]) => cell),
    column.map(([text]) => `EN:${text}`),
  );
});

test("omitted optional arguments (null or absent) still find the invocation last", async () => {
  const { fetch, calls } = scriptedFetch(english);
  const { associations } = loadFunctions({ fetch });
  const cancelMe = invocation();
  const results = await Promise.all([
    settleWithin(associations.GLM_TRANSLATE([["a"]], "English", null, invocation())),
    settleWithin(associations.GLM_TRANSLATE([["b"]], "English", undefined, invocation())),
    settleWithin(associations.GLM_CLASSIFY([["c"]], [["x, y"]], null, cancelMe)),
  ]);
  assert.deepEqual(results.map((result) => result.value), [[["EN:a"]], [["EN:b"]], [["EN:c"]]]);
  assert.equal(typeof cancelMe.onCanceled, "function");
  for (const call of calls) assert.equal(call.body.params.from, undefined);
});
