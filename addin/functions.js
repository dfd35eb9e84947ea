/*
 * excel-glm custom functions: =GLM, =GLM_TRANSLATE, =GLM_CLASSIFY, =GLM_EXTRACT.
 *
 * Runs in the add-in's shared runtime (the task pane page), so it reads the service token from the
 * page's <meta name="excel-glm-token"> and calls the service that served it with relative URLs.
 *
 * Every invocation takes a cell or a range and spills one answer per cell. Invocations arriving
 * within BATCH_DELAY_MS with the same task and parameters share one POST /v1/cells: their cells are
 * stacked into one column, sent in capped chunks, and the answers are split back. Every promise
 * settles: an answer that cannot be had becomes a CustomFunctions.Error for that cell (#N/A with a
 * message), bad arguments reject the whole call with #VALUE!, never a cell stuck at #BUSY!.
 */
(function (root) {
  "use strict";

  if (root.ExcelGlmFunctions) return; // loaded twice (manifest Script + task pane page): keep one

  const config = {
    batchDelayMs: 50,
    maxBatchCells: 5000,
    maxBatchBytes: 2000000,
    retryDelaysMs: [1000, 3000], // 503 = retryable provider trouble: two more tries, then #N/A
    requestTimeoutMs: 600000, // counted from when the request is sent, not from when it queued
    // Hundreds of formulas with different options recalculating at once must not open hundreds of
    // requests: the browser would queue them anyway and their timeouts would run out in its queue.
    // Four of the browser's six connections per origin leave two for the task pane's job stream.
    maxConcurrentRequests: 4,
    endpoint: "/v1/cells",
  };
  const MAX_CELL_CHARS = 32767; // Excel's limit for the text of one cell

  const queues = new Map(); // group key -> {task, params, entries}
  let flushTimer = null;
  let requestsInFlight = 0;
  const waitingForSlot = []; // resolvers of chunks waiting for a free request slot, oldest first

  // ---- small helpers -------------------------------------------------------------------------

  function errorCodes() {
    return root.CustomFunctions.ErrorCode;
  }

  function cellError(message) {
    return new root.CustomFunctions.Error(errorCodes().notAvailable, message);
  }

  function argumentError(message) {
    return new root.CustomFunctions.Error(errorCodes().invalidValue, message);
  }

  /** A failure of a whole request: the Excel error code and the message every cell gets. */
  class RequestFailure extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  /** Cell values are strings, numbers and booleans; any object among them is an Excel error value. */
  function isExcelError(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function asMatrix(value) {
    if (Array.isArray(value)) return Array.isArray(value[0]) ? value : [value];
    return [[value]];
  }

  function byteLength(text) {
    if (typeof root.TextEncoder === "function") return new root.TextEncoder().encode(text).length;
    return text.length * 3;
  }

  function readToken() {
    const doc = root.document;
    const meta = doc && doc.querySelector ? doc.querySelector('meta[name="excel-glm-token"]') : null;
    return meta && meta.content ? meta.content : "";
  }

  /**
   * One input cell as text; null for a blank cell. Excel hands custom functions an empty referenced
   * cell as 0 or "", so 0 counts as blank: a translation of an empty cell must stay empty.
   */
  function cellText(value) {
    if (value === null || value === undefined || value === "" || value === 0) return null;
    if (typeof value === "string") return value.trim() === "" ? null : value;
    if (typeof value === "number") return String(value);
    if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
    return undefined; // an Excel error value (or anything else that is not text)
  }

  /** A scalar option (to, from, prompt, instructions) as trimmed text; throws #VALUE! on an error. */
  function optionText(value, name) {
    if (Array.isArray(value)) {
      const matrix = asMatrix(value);
      if (matrix.length !== 1 || matrix[0].length !== 1) {
        throw argumentError(`${name}: give one cell, not a range`);
      }
      value = matrix[0][0];
    }
    if (value === null || value === undefined) return "";
    if (isExcelError(value)) throw argumentError(`${name}: the cell holds an error`);
    if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
    return String(value).trim();
  }

  /** Labels or fields: a range of cells (one item each) or one cell "a, b, c". */
  function optionList(value, name) {
    const cells = asMatrix(value === undefined ? null : value).flat();
    if (cells.some(isExcelError)) throw argumentError(`${name}: a cell holds an error`);
    const texts = cells.map((cell) => (cell === null || cell === undefined ? "" : String(cell)));
    const filled = texts.map((text) => text.trim()).filter((text) => text !== "");
    const items = filled.length === 1 ? filled[0].split(",") : filled;
    const unique = [...new Set(items.map((item) => item.trim()).filter((item) => item !== ""))];
    if (unique.length === 0) throw argumentError(`${name}: give at least one, e.g. "a, b, c"`);
    return unique;
  }

  function describeDetail(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => (item && item.msg ? item.msg : JSON.stringify(item))).join("; ");
    }
    return detail === undefined ? "" : JSON.stringify(detail);
  }

  async function readDetail(response) {
    try {
      const text = await response.text();
      try {
        return describeDetail(JSON.parse(text).detail);
      } catch (_) {
        return "";
      }
    } catch (_) {
      return "";
    }
  }

  function failureForStatus(status, detail) {
    const codes = errorCodes();
    const said = detail ? `: ${detail}` : "";
    switch (status) {
      case 401:
        return new RequestFailure(
          codes.notAvailable,
          "excel-glm: the service did not accept this add-in's token (401); reload the add-in",
        );
      case 403:
        return new RequestFailure(codes.notAvailable, `excel-glm: request refused (403)${said}`);
      case 413:
        return new RequestFailure(codes.invalidValue, `excel-glm: input too large (413)${said}`);
      case 422:
        return new RequestFailure(codes.invalidValue, `excel-glm: ${detail || "invalid request (422)"}`);
      case 502:
        return new RequestFailure(
          codes.notAvailable,
          `excel-glm: ${detail || "GLM refused the request (502)"}`,
        );
      case 503:
        return new RequestFailure(
          codes.notAvailable,
          `excel-glm: GLM is busy or unavailable, recalculate later${said}`,
        );
      default:
        return new RequestFailure(
          codes.notAvailable,
          `excel-glm: the service answered HTTP ${status}${said}`,
        );
    }
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      if (signal) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  /** POST one body to /v1/cells, retrying 503; resolves with the parsed answer or throws RequestFailure. */
  async function postCells(body, controller) {
    const codes = errorCodes();
    const token = readToken();
    if (!token) {
      throw new RequestFailure(
        codes.notAvailable,
        "excel-glm: no service token on this page; load the add-in from the excel-glm service",
      );
    }
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await root.fetch(config.endpoint, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: payload,
          signal: controller.signal,
        });
      } catch (_) {
        if (controller.timedOut)
          throw new RequestFailure(codes.notAvailable, "excel-glm: the request timed out");
        if (controller.signal.aborted) throw new RequestFailure(codes.notAvailable, "excel-glm: cancelled");
        throw new RequestFailure(
          codes.notAvailable,
          "excel-glm: the service is not reachable; start it with `excel-glm serve`",
        );
      }
      if (response.status === 503 && attempt < config.retryDelaysMs.length) {
        await sleep(config.retryDelaysMs[attempt], controller.signal);
        if (controller.signal.aborted) throw new RequestFailure(codes.notAvailable, "excel-glm: cancelled");
        continue;
      }
      if (!response.ok) throw failureForStatus(response.status, await readDetail(response));
      let data;
      try {
        data = await response.json();
      } catch (_) {
        throw new RequestFailure(
          codes.notAvailable,
          "excel-glm: the service sent an answer that is not JSON",
        );
      }
      const rows = body.values.length;
      if (!data || !Array.isArray(data.values) || data.values.length !== rows) {
        throw new RequestFailure(codes.notAvailable, "excel-glm: the service's answer has the wrong shape");
      }
      return data;
    }
  }

  // ---- answers back into cells ----------------------------------------------------------------

  function answerText(value) {
    if (value === null || value === undefined) return "";
    const text = typeof value === "string" ? value : String(value);
    if (text.length > MAX_CELL_CHARS) {
      return argumentError(`excel-glm: the answer is longer than ${MAX_CELL_CHARS} characters`);
    }
    return text;
  }

  /** One extract answer ({field: text}) as a row of cells in the order of the fields asked for. */
  function extractRow(value, fields) {
    let record = value;
    if (typeof record === "string") {
      try {
        record = JSON.parse(record);
      } catch (_) {
        record = null;
      }
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      const error = cellError("excel-glm: the extract answer is not a record of fields");
      return fields.map(() => error);
    }
    return fields.map((field) => answerText(record[field]));
  }

  function settle(entry, outcome) {
    if (entry.settled) return;
    entry.settled = true;
    if (entry.queued) removeFromQueue(entry);
    if (Array.isArray(outcome)) entry.resolve(outcome);
    else entry.reject(outcome);
  }

  function resultMatrix(entry) {
    if (entry.fields)
      return entry.results.map((cell) => (Array.isArray(cell) ? cell : entry.fields.map(() => cell)));
    const rows = [];
    for (let r = 0; r < entry.rows; r += 1)
      rows.push(entry.results.slice(r * entry.cols, (r + 1) * entry.cols));
    return rows;
  }

  function deliver(entry, index, result) {
    if (entry.settled || entry.results[index] !== null) return;
    entry.results[index] = result;
    entry.remaining -= 1;
    if (entry.remaining === 0) settle(entry, resultMatrix(entry));
  }

  function blankResult(entry) {
    return entry.fields ? entry.fields.map(() => "") : "";
  }

  // ---- batching ---------------------------------------------------------------------------------

  function groupKey(task, params) {
    const sorted = Object.keys(params)
      .sort()
      .map((key) => [key, params[key]]);
    return JSON.stringify([task, sorted]);
  }

  function removeFromQueue(entry) {
    const group = queues.get(entry.key);
    entry.queued = false;
    if (!group) return;
    group.entries = group.entries.filter((other) => other !== entry);
    if (group.entries.length === 0) queues.delete(entry.key);
  }

  function chunkPieces(pieces) {
    const chunks = [];
    let current = [];
    let bytes = 0;
    for (const piece of pieces) {
      // Measured as JSON: quotes, backslashes and control characters grow when escaped.
      const size = byteLength(JSON.stringify(piece.text)) + 4;
      if (
        current.length > 0 &&
        (current.length >= config.maxBatchCells || bytes + size > config.maxBatchBytes)
      ) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(piece);
      bytes += size;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  function acquireRequestSlot() {
    if (requestsInFlight < config.maxConcurrentRequests) {
      requestsInFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => waitingForSlot.push(resolve));
  }

  function releaseRequestSlot() {
    const next = waitingForSlot.shift();
    if (next) next(); // the slot passes straight to the oldest waiting chunk
    else requestsInFlight -= 1;
  }

  async function sendChunk(group, pieces) {
    const controller = new root.AbortController();
    const chunk = { pieces, controller };
    for (const piece of pieces) piece.entry.chunks.add(chunk);
    await acquireRequestSlot();
    let timer = null;
    try {
      // Every caller was cancelled while this chunk waited for a slot: nothing left to ask.
      if (pieces.every((piece) => piece.entry.settled)) return;
      timer = setTimeout(() => {
        controller.timedOut = true;
        controller.abort();
      }, config.requestTimeoutMs);
      const body = { task: group.task, params: group.params, values: pieces.map((piece) => [piece.text]) };
      const data = await postCells(body, controller);
      pieces.forEach((piece, i) => {
        const error = Array.isArray(data.errors) && Array.isArray(data.errors[i]) ? data.errors[i][0] : null;
        const value = Array.isArray(data.values[i]) ? data.values[i][0] : undefined;
        let result;
        if (error) result = cellError(`excel-glm: ${error}`);
        else if (piece.entry.fields) result = extractRow(value, piece.entry.fields);
        else result = answerText(value);
        deliver(piece.entry, piece.index, result);
      });
    } catch (failure) {
      const code = failure instanceof RequestFailure ? failure.code : errorCodes().notAvailable;
      const message = failure instanceof RequestFailure ? failure.message : "excel-glm: unexpected failure";
      const error = new root.CustomFunctions.Error(code, message);
      for (const piece of pieces) deliver(piece.entry, piece.index, error);
    } finally {
      clearTimeout(timer);
      releaseRequestSlot();
      for (const piece of pieces) piece.entry.chunks.delete(chunk);
    }
  }

  function flush() {
    flushTimer = null;
    const groups = [...queues.values()];
    queues.clear();
    const sends = [];
    for (const group of groups) {
      const pieces = [];
      for (const entry of group.entries) {
        entry.queued = false;
        entry.texts.forEach((text, index) => {
          if (text !== null && entry.results[index] === null) pieces.push({ entry, index, text });
        });
      }
      for (const chunk of chunkPieces(pieces)) sends.push(sendChunk(group, chunk));
    }
    return Promise.all(sends);
  }

  /** Abort every in-flight request whose invocations have all been cancelled. */
  function cancel(entry) {
    if (entry.settled) return;
    const chunks = [...entry.chunks];
    settle(entry, cellError("excel-glm: cancelled"));
    for (const chunk of chunks) {
      if (chunk.pieces.every((piece) => piece.entry.settled)) chunk.controller.abort();
    }
  }

  /**
   * Queue one invocation: texts is the flat list of its input cells (null = blank, undefined =
   * an error value), rows x cols its result shape; fields makes each cell a row of that many columns.
   */
  function enqueue(task, params, texts, shape, invocation, fields) {
    return new Promise((resolve, reject) => {
      const key = groupKey(task, params);
      const entry = {
        key,
        texts,
        fields,
        resolve,
        reject,
        rows: shape.rows,
        cols: shape.cols,
        results: texts.map(() => null),
        remaining: texts.length,
        chunks: new Set(),
        queued: false,
        settled: false,
      };
      if (texts.length === 0) {
        settle(entry, [[""]]); // an empty range: nothing to ask, one blank cell to show
        return;
      }
      texts.forEach((text, index) => {
        if (text === null) deliver(entry, index, blankResult(entry));
        else if (text === undefined)
          deliver(entry, index, cellError("excel-glm: the input cell holds an error"));
      });
      if (entry.settled) return;
      if (invocation && typeof invocation === "object") invocation.onCanceled = () => cancel(entry);
      let group = queues.get(key);
      if (!group) {
        group = { task, params, entries: [] };
        queues.set(key, group);
      }
      group.entries.push(entry);
      entry.queued = true;
      if (flushTimer === null) flushTimer = setTimeout(flush, config.batchDelayMs);
    });
  }

  // ---- argument handling ------------------------------------------------------------------------

  /** Split Excel's arguments into the declared ones and the invocation (always passed last). */
  function splitArguments(args, count) {
    const last = args[args.length - 1];
    const hasInvocation =
      args.length > 0 && last !== null && typeof last === "object" && !Array.isArray(last);
    const invocation = hasInvocation ? last : null;
    const declared = hasInvocation ? args.slice(0, -1) : args.slice();
    while (declared.length < count) declared.push(undefined);
    return { declared, invocation };
  }

  function textsOf(matrix) {
    return matrix.flat().map(cellText);
  }

  function shapeOf(matrix) {
    return { rows: matrix.length, cols: matrix.length ? matrix[0].length : 0 };
  }

  async function run(prepare) {
    let call;
    try {
      call = prepare();
    } catch (error) {
      const ErrorClass = root.CustomFunctions.Error;
      throw error instanceof ErrorClass ? error : argumentError(`excel-glm: ${error.message}`);
    }
    return enqueue(call.task, call.params, call.texts, call.shape, call.invocation, call.fields);
  }

  /** Combine the repeating value ranges of =GLM cell by cell (a single cell is used for every row). */
  function combineValues(ranges) {
    const matrices = ranges.map(asMatrix);
    const big = matrices.filter((m) => m.length * m[0].length > 1);
    const shape = big.length ? shapeOf(big[0]) : { rows: 1, cols: 1 };
    for (const m of big) {
      if (m.length !== shape.rows || m[0].length !== shape.cols) {
        throw argumentError("values: every range must have the same size (or be one cell)");
      }
    }
    const texts = [];
    for (let r = 0; r < shape.rows; r += 1) {
      for (let c = 0; c < shape.cols; c += 1) {
        const parts = matrices.map((m) => (m.length * m[0].length === 1 ? m[0][0] : m[r][c])).map(cellText);
        if (parts.includes(undefined)) texts.push(undefined);
        else {
          const filled = parts.filter((part) => part !== null);
          texts.push(filled.length ? filled.join("\n") : null);
        }
      }
    }
    return { texts, shape };
  }

  /** =GLM(prompt, [values...]): the prompt applied to each cell; alone, the prompt is the question. */
  function glm(...args) {
    return run(() => {
      const { declared, invocation } = splitArguments(args, 2);
      const prompt = optionText(declared[0], "prompt");
      let ranges = declared.slice(1).filter((value) => value !== undefined && value !== null);
      // A repeating parameter arrives as one array of its ranges.
      if (
        ranges.length === 1 &&
        Array.isArray(ranges[0]) &&
        ranges[0].every((m) => Array.isArray(m) && Array.isArray(m[0]))
      ) {
        ranges = ranges[0];
      }
      if (ranges.length === 0) {
        if (!prompt) throw argumentError("prompt: write a question or instruction");
        return {
          task: "ask",
          params: { prompt: "" },
          texts: [prompt],
          shape: { rows: 1, cols: 1 },
          invocation,
        };
      }
      const { texts, shape } = combineValues(ranges);
      return { task: "ask", params: { prompt }, texts, shape, invocation };
    });
  }

  /** =GLM_TRANSLATE(text, to, [from]) */
  function glmTranslate(...args) {
    return run(() => {
      const { declared, invocation } = splitArguments(args, 3);
      const matrix = asMatrix(declared[0] === undefined ? "" : declared[0]);
      const to = optionText(declared[1], "to");
      if (!to) throw argumentError('to: name the target language, e.g. "English"');
      const from = optionText(declared[2], "from");
      const params = from ? { to, from } : { to };
      return { task: "translate", params, texts: textsOf(matrix), shape: shapeOf(matrix), invocation };
    });
  }

  /** =GLM_CLASSIFY(text, labels, [instructions]) */
  function glmClassify(...args) {
    return run(() => {
      const { declared, invocation } = splitArguments(args, 3);
      const matrix = asMatrix(declared[0] === undefined ? "" : declared[0]);
      const labels = optionList(declared[1], "labels");
      const instructions = optionText(declared[2], "instructions");
      const params = instructions ? { labels, instructions } : { labels };
      return { task: "classify", params, texts: textsOf(matrix), shape: shapeOf(matrix), invocation };
    });
  }

  /** =GLM_EXTRACT(text, fields): one row per input cell, one column per field. */
  function glmExtract(...args) {
    return run(() => {
      const { declared, invocation } = splitArguments(args, 2);
      const matrix = asMatrix(declared[0] === undefined ? "" : declared[0]);
      const fields = optionList(declared[1], "fields");
      const texts = textsOf(matrix);
      return {
        task: "extract",
        params: { fields },
        texts,
        fields,
        invocation,
        shape: { rows: texts.length, cols: fields.length },
      };
    });
  }

  const functions = {
    GLM: glm,
    GLM_TRANSLATE: glmTranslate,
    GLM_CLASSIFY: glmClassify,
    GLM_EXTRACT: glmExtract,
  };
  root.ExcelGlmFunctions = { config, functions, flush };

  if (root.CustomFunctions && typeof root.CustomFunctions.associate === "function") {
    CustomFunctions.associate("GLM", glm);
    CustomFunctions.associate("GLM_TRANSLATE", glmTranslate);
    CustomFunctions.associate("GLM_CLASSIFY", glmClassify);
    CustomFunctions.associate("GLM_EXTRACT", glmExtract);
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
