/*
 * excel-glm task pane: run one task over a selected column as a bulk job on the local service.
 *
 * Flow: read the selection (trimmed to the used rows, in blocks) -> preview and estimate ->
 * POST /v1/jobs per chunk of rows -> follow /v1/jobs/{id}/events (fetch-streamed server-sent
 * events, since EventSource cannot send the Authorization header; polling as the fallback) ->
 * write the answers AS VALUES into the target column, a block of rows per sync.
 *
 * Model output is data: an answer starting with = + - @ (or ') is written with a leading
 * apostrophe, Excel's text marker, so Excel stores text and never a formula. Cells without an
 * answer are left empty and listed in the pane. The token is read from the page and never shown.
 */
(function (root) {
  "use strict";

  const ROWS_PER_SYNC = 5000; // Excel's guidance for large ranges: 5k-20k rows per read or write
  const JOB_MAX_CELLS = 20000; // keeps each job body far below the service's request limits
  const JOB_MAX_BYTES = 2000000;
  const PREVIEW_ROWS = 5;
  const POLL_MS = 1000;
  const MAX_LISTED_FAILURES = 200;
  const EXCEL_MAX_COLUMNS = 16384;
  const EXCEL_MAX_CELL_CHARS = 32767; // a longer value makes Excel reject the whole write
  // Excel on the web refuses requests over 5 MB. Blocks are sized at 3 bytes a JSON character, so
  // even if every character went over the wire as a 6-byte \u escape a block stays near 4 MB.
  const WRITE_MAX_BYTES = 2000000;

  // ---- pure helpers (unit-tested under node) ---------------------------------------------------

  /** Text Excel stores as text: a leading apostrophe before anything that would become a formula. */
  function neutralise(text) {
    return /^[=+\-@']/.test(text) ? `'${text}` : text;
  }

  /** "C" -> 2, "AA" -> 26; null for anything that is not a column of the sheet. */
  function columnIndex(letters) {
    const clean = String(letters || "")
      .trim()
      .toUpperCase();
    if (!/^[A-Z]{1,3}$/.test(clean)) return null;
    let index = 0;
    for (const ch of clean) index = index * 26 + (ch.charCodeAt(0) - 64);
    return index <= EXCEL_MAX_COLUMNS ? index - 1 : null;
  }

  /** 2 -> "C" */
  function columnLetters(index) {
    let letters = "";
    for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
      letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
    }
    return letters;
  }

  function splitList(text) {
    return [
      ...new Set(
        String(text || "")
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean),
      ),
    ];
  }

  /** Consecutive slices of items, each within maxCells items and about maxBytes of JSON. */
  function chunkItems(items, maxCells = JOB_MAX_CELLS, maxBytes = JOB_MAX_BYTES) {
    const chunks = [];
    let current = [];
    let bytes = 0;
    for (const item of items) {
      const size = JSON.stringify(item.value).length * 3 + 4; // worst case: 3 UTF-8 bytes a char
      if (current.length && (current.length >= maxCells || bytes + size > maxBytes)) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    if (current.length) chunks.push(current);
    return chunks;
  }

  /** Consecutive blocks of rows as {offset, rows}, each within maxRows rows and about maxBytes. */
  function rowBlocks(rows, maxRows = ROWS_PER_SYNC, maxBytes = WRITE_MAX_BYTES) {
    const blocks = [];
    let current = { offset: 0, rows: [] };
    let bytes = 0;
    rows.forEach((row, index) => {
      const size = JSON.stringify(row).length * 3;
      if (current.rows.length && (current.rows.length >= maxRows || bytes + size > maxBytes)) {
        blocks.push(current);
        current = { offset: index, rows: [] };
        bytes = 0;
      }
      current.rows.push(row);
      bytes += size;
    });
    if (current.rows.length) blocks.push(current);
    return blocks;
  }

  /**
   * The rows to process: the selection's rows after the header, without rows hidden by a filter
   * (as Excel's own fill and paste skip them).
   */
  function selectionItems(selection, skipHeader) {
    const hidden = selection.hidden || [];
    const items = [];
    for (let i = skipHeader ? 1 : 0; i < selection.values.length; i += 1) {
      if (!hidden[i]) items.push({ rowIndex: selection.rowIndex + i, value: selection.values[i] });
    }
    return items;
  }

  /**
   * Rows for one write covering items[0] to the last item: answers on the items' rows and rows of
   * nulls (which leave cells unchanged) on the rows between them, such as hidden ones.
   */
  function spanRows(items, rows, width) {
    const first = items[0].rowIndex;
    const span = Array.from({ length: items[items.length - 1].rowIndex - first + 1 }, () =>
      Array.from({ length: width }, () => null),
    );
    items.forEach((item, i) => {
      span[item.rowIndex - first] = rows[i];
    });
    return span;
  }

  /** An incremental parser of a server-sent event stream: feed(text) -> [{event, data}]. */
  function sseParser() {
    let buffer = "";
    return function feed(text) {
      buffer += text.replace(/\r\n?/g, "\n");
      const events = [];
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue; // keep-alive comment
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        }
        if (data.length || event !== "message") events.push({ event, data: data.join("\n") });
      }
      return events;
    };
  }

  function formatDuration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "";
    if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  /** Seconds left, from the time spent on the cells done so far. */
  function estimateSecondsLeft(elapsedSeconds, done, total) {
    if (done <= 0 || done > total) return NaN;
    return (elapsedSeconds / done) * (total - done);
  }

  /** One answer as the cells of its row: one for most tasks, one per field for extract. */
  function answerCells(value, fields) {
    if (!fields) return [neutralise(value === null || value === undefined ? "" : String(value))];
    const record = value && typeof value === "object" && !Array.isArray(value) ? value : {};
    return fields.map((field) =>
      neutralise(record[field] === undefined || record[field] === null ? "" : String(record[field])),
    );
  }

  /** The text a written cell holds: Excel's leading text marker is not part of it. */
  function storedLength(cell) {
    return cell.startsWith("'") ? cell.length - 1 : cell.length;
  }

  /**
   * A job's answers as the rows to write, plus the rows left empty and why. A row with an error,
   * or with an answer Excel cannot hold in one cell, is written empty rather than failing the write.
   */
  function answerRows(items, job, fields) {
    const failures = [];
    const rows = items.map((item, i) => {
      const error = Array.isArray(job.errors) && Array.isArray(job.errors[i]) ? job.errors[i][0] : null;
      const value = Array.isArray(job.values) && Array.isArray(job.values[i]) ? job.values[i][0] : null;
      if (error) {
        failures.push({ row: item.rowIndex + 1, message: String(error) });
        return answerCells("", fields);
      }
      const isRecord = value !== null && typeof value === "object" && !Array.isArray(value);
      if (fields && !isRecord && value !== null && value !== undefined && value !== "") {
        // Written as blanks it would look like an answer with every field empty.
        failures.push({ row: item.rowIndex + 1, message: "the extract answer is not a record of fields" });
        return answerCells("", fields);
      }
      const cells = answerCells(value, fields);
      if (cells.some((cell) => storedLength(cell) > EXCEL_MAX_CELL_CHARS)) {
        failures.push({
          row: item.rowIndex + 1,
          message: `the answer is longer than the ${EXCEL_MAX_CELL_CHARS.toLocaleString("en-US")} characters an Excel cell holds`,
        });
        return answerCells("", fields);
      }
      return cells;
    });
    return { rows, failures };
  }

  /** A message meant for the user as it is (not wrapped in "Could not ..."). */
  class PaneError extends Error {}

  function isPayloadTooLarge(error) {
    const said = `${(error && error.code) || ""} ${(error && error.message) || ""}`;
    return /RequestPayloadSizeLimitExceeded|payload size/i.test(said);
  }

  function describeDetail(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail))
      return detail.map((item) => (item && item.msg) || JSON.stringify(item)).join("; ");
    return "";
  }

  /** The message the user sees for a failed API call. */
  function messageForStatus(status, detail) {
    const said = detail ? `: ${detail}` : "";
    switch (status) {
      case 0:
        return "The excel-glm service is not reachable. Start it with `excel-glm serve`, then try again.";
      case 401:
        return "The service did not accept this pane's token (401). Reload the add-in; the service may have restarted with a new token.";
      case 403:
        return `The service refused this page (403)${said}. Open the add-in from the excel-glm service itself.`;
      case 404:
        return `Not found (404)${said}. The service may have restarted; run again.`;
      case 413:
        return `Too much at once (413)${said}. Select fewer rows.`;
      case 422:
        return detail || "The service rejected the request (422).";
      case 502:
        return `GLM refused the work${said}`;
      case 503:
        return `GLM is busy or unavailable right now (503)${said}. Try again shortly; answers already received are cached.`;
      default:
        return `The service answered HTTP ${status}${said}.`;
    }
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(messageForStatus(status, detail));
      this.status = status;
    }
  }

  // ---- the service ---------------------------------------------------------------------------

  function token() {
    const meta = document.querySelector('meta[name="excel-glm-token"]');
    return meta ? meta.content : "";
  }

  async function request(method, path, body, { stream = false } = {}) {
    const headers = {
      Authorization: `Bearer ${token()}`,
      Accept: stream ? "text/event-stream" : "application/json",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw new ApiError(0, "");
    }
    if (!response.ok) {
      let detail = "";
      try {
        detail = describeDetail((await response.json()).detail);
      } catch (_) {
        detail = "";
      }
      throw new ApiError(response.status, detail);
    }
    if (stream) return response;
    try {
      return await response.json();
    } catch (_) {
      throw new ApiError(response.status, "the answer was not JSON");
    }
  }

  /** Follow a job to its end through its event stream (or by polling); returns its final state. */
  async function followJob(id, onProgress) {
    try {
      const response = await request("GET", `/v1/jobs/${encodeURIComponent(id)}/events`, undefined, {
        stream: true,
      });
      if (response.body && response.body.getReader) {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const feed = sseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of feed(decoder.decode(value, { stream: true }))) {
            if (event.event === "progress") {
              try {
                onProgress(JSON.parse(event.data));
              } catch (_) {
                /* a malformed progress event only costs one progress update */
              }
            } else if (["done", "failed", "cancelled"].includes(event.event)) {
              reader.cancel().catch(() => {});
              return await request("GET", `/v1/jobs/${encodeURIComponent(id)}`);
            }
          }
        }
      }
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0 && error.status !== 404) throw error;
    }
    // The stream ended early or could not be read: poll until the job stops running.
    for (;;) {
      const job = await request("GET", `/v1/jobs/${encodeURIComponent(id)}`);
      if (job.status !== "running") return job;
      onProgress(job);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  // ---- Excel ---------------------------------------------------------------------------------

  /**
   * Values of rowCount x width cells from (rowIndex, columnIndex), read in blocks of rows. A block
   * whose answer is over Excel on the web's 5 MB limit is read again in halves.
   */
  async function readRows(context, sheet, rowIndex, columnIndex, rowCount, width) {
    const values = [];
    let blockRows = ROWS_PER_SYNC;
    for (let offset = 0; offset < rowCount; ) {
      const count = Math.min(blockRows, rowCount - offset);
      const block = sheet.getRangeByIndexes(rowIndex + offset, columnIndex, count, width);
      block.load("values");
      try {
        await context.sync();
      } catch (error) {
        if (!isPayloadTooLarge(error) || count === 1) throw error;
        blockRows = Math.ceil(count / 2);
        continue;
      }
      for (const row of block.values) values.push(row);
      offset += count;
    }
    return values;
  }

  /** For each of rowCount rows from rowIndex, whether it is hidden (by a filter or by hand). */
  async function hiddenRows(context, sheet, rowIndex, columnIndex, rowCount) {
    if (rowCount === 0) return [];
    const whole = sheet.getRangeByIndexes(rowIndex, columnIndex, rowCount, 1);
    whole.load("rowHidden");
    await context.sync();
    // rowHidden is true or false when all rows agree, null when some are hidden: only then ask
    // row by row.
    if (whole.rowHidden !== null) return Array.from({ length: rowCount }, () => whole.rowHidden);
    const hidden = [];
    for (let offset = 0; offset < rowCount; offset += ROWS_PER_SYNC) {
      const count = Math.min(ROWS_PER_SYNC, rowCount - offset);
      const rows = Array.from({ length: count }, (_, i) =>
        sheet.getRangeByIndexes(rowIndex + offset + i, columnIndex, 1, 1).load("rowHidden"),
      );
      await context.sync();
      for (const row of rows) hidden.push(row.rowHidden === true);
    }
    return hidden;
  }

  /** How many areas are selected; 1 when this Excel cannot tell (before ExcelApi 1.9). */
  async function selectedAreaCount(context) {
    if (typeof context.workbook.getSelectedRanges !== "function") return 1;
    try {
      const areas = context.workbook.getSelectedRanges();
      areas.load("areaCount");
      await context.sync();
      return areas.areaCount;
    } catch (_) {
      return 1;
    }
  }

  /** The selection's first column, trimmed to the sheet's used rows and read in blocks. */
  async function readSelection() {
    return Excel.run(async (context) => {
      if ((await selectedAreaCount(context)) > 1) {
        throw new PaneError(
          "Several separate areas are selected. Select one block of cells (one column), then press “Use selection”.",
        );
      }
      const selected = context.workbook.getSelectedRange();
      selected.load("address,rowIndex,columnIndex,rowCount,columnCount");
      const sheet = context.workbook.worksheets.getActiveWorksheet();
      sheet.load("name");
      const used = sheet.getUsedRange(true);
      used.load("rowIndex,rowCount");
      await context.sync();
      // A whole-column selection would otherwise mean reading a million empty rows.
      const end = Math.min(selected.rowIndex + selected.rowCount, used.rowIndex + used.rowCount);
      const rowCount = Math.max(0, end - selected.rowIndex);
      const rows = await readRows(context, sheet, selected.rowIndex, selected.columnIndex, rowCount, 1);
      const hidden = await hiddenRows(context, sheet, selected.rowIndex, selected.columnIndex, rowCount);
      return {
        sheetName: sheet.name,
        address: selected.address,
        rowIndex: selected.rowIndex,
        columnIndex: selected.columnIndex,
        columnCount: selected.columnCount,
        values: rows.map((row) => row[0]),
        hidden,
      };
    });
  }

  /** Throws a PaneError when the target cells are on a protected sheet and not unlocked. */
  async function checkTargetWritable(context, sheet, plan, target) {
    sheet.protection.load("protected");
    await context.sync();
    if (!sheet.protection.protected) return;
    target.format.protection.load("locked");
    await context.sync();
    if (target.format.protection.locked === false) return; // the owner unlocked these cells
    throw new PaneError(
      `Sheet “${plan.sheetName}” is protected, so the answers cannot be written. ` +
        "Unprotect it (Review › Unprotect Sheet), then press Run again. Nothing was sent to GLM.",
    );
  }

  /**
   * How many of the target cells already hold something (so the user can confirm overwriting);
   * first checks that they can be written at all, before any work is paid for.
   */
  async function countFilledTargets(plan) {
    return Excel.run(async (context) => {
      const sheet = context.workbook.worksheets.getItem(plan.sheetName);
      const first = plan.items[0].rowIndex;
      const rowCount = plan.items[plan.items.length - 1].rowIndex - first + 1;
      const target = sheet.getRangeByIndexes(first, plan.targetColumn, rowCount, plan.width);
      await checkTargetWritable(context, sheet, plan, target);
      const rows = await readRows(context, sheet, first, plan.targetColumn, rowCount, plan.width);
      let filled = 0;
      for (const item of plan.items) {
        for (const cell of rows[item.rowIndex - first]) if (cell !== "" && cell !== null) filled += 1;
      }
      return filled;
    });
  }

  /** Write one chunk's answers as values, in blocks within Excel's limits; returns the rows left empty. */
  async function writeAnswers(plan, items, job) {
    const { rows, failures } = answerRows(items, job, plan.fields);
    const span = spanRows(items, rows, plan.width);
    await Excel.run(async (context) => {
      // By name, not the active sheet: the user may have switched sheets while the job ran.
      const sheet = context.workbook.worksheets.getItem(plan.sheetName);
      for (const block of rowBlocks(span)) {
        const range = sheet.getRangeByIndexes(
          items[0].rowIndex + block.offset,
          plan.targetColumn,
          block.rows.length,
          plan.width,
        );
        range.values = block.rows;
        await context.sync();
      }
    });
    return failures;
  }

  // ---- the pane ------------------------------------------------------------------------------

  const state = { selection: null, running: null, confirmOverwrite: null, estimateTimer: null, outputs: [] };
  const $ = (id) => document.getElementById(id);

  function setStatus(message, kind = "") {
    const status = $("status");
    status.textContent = message;
    status.className = kind;
  }

  function currentParams(task) {
    if (task === "translate") {
      const to = $("to").value.trim();
      if (!to) throw new Error("Name the language to translate into.");
      const from = $("from").value.trim();
      return from ? { to, from } : { to };
    }
    if (task === "classify") {
      const labels = splitList($("labels").value);
      if (!labels.length) throw new Error("Give at least one label, separated by commas.");
      const instructions = $("instructions").value.trim();
      return instructions ? { labels, instructions } : { labels };
    }
    if (task === "extract") {
      const fields = splitList($("fields").value);
      if (!fields.length) throw new Error("Give at least one field, separated by commas.");
      return { fields };
    }
    return { prompt: $("prompt").value.trim() };
  }

  /** Everything a run needs, checked: task, params, the rows and where the answers go. */
  function buildPlan() {
    const selection = state.selection;
    if (!selection) throw new Error("Select the cells to process and press “Use selection”.");
    const task = $("task").value;
    const params = currentParams(task);
    const fields = task === "extract" ? params.fields : null;
    const width = fields ? fields.length : 1;
    const typed = $("target-column").value.trim();
    const targetColumn = typed ? columnIndex(typed) : selection.columnIndex + selection.columnCount;
    if (targetColumn === null) throw new Error(`“${typed}” is not a column letter (A to XFD).`);
    if (targetColumn + width > EXCEL_MAX_COLUMNS)
      throw new Error("The answers would run past the last column.");
    if (targetColumn <= selection.columnIndex && targetColumn + width > selection.columnIndex) {
      throw new Error("The answers would overwrite the input column; choose another column.");
    }
    const items = selectionItems(selection, $("skip-header").checked);
    if (!items.length) throw new Error("The selection has no rows to process.");
    return { task, params, fields, width, targetColumn, sheetName: selection.sheetName, items };
  }

  function renderPreview() {
    const body = $("preview").querySelector("tbody");
    body.replaceChildren();
    const selection = state.selection;
    if (!selection) return;
    const items = selectionItems(selection, $("skip-header").checked).slice(0, PREVIEW_ROWS);
    items.forEach((item, i) => {
      const tr = document.createElement("tr");
      const output = state.outputs[i];
      for (const text of [
        String(item.rowIndex + 1),
        String(item.value),
        output === undefined ? "" : output,
      ]) {
        const td = document.createElement("td");
        td.textContent = text; // textContent: cell text and answers are data, never markup
        td.title = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    });
  }

  function scheduleEstimate() {
    clearTimeout(state.estimateTimer);
    state.estimateTimer = setTimeout(() => updateEstimate().catch(() => {}), 300);
  }

  async function updateEstimate() {
    let plan;
    try {
      plan = buildPlan();
    } catch (error) {
      $("estimate").textContent = state.selection ? error.message : "No estimate yet.";
      return;
    }
    const totals = { cells: 0, distinct: 0, cache_hits: 0, prompt_tokens: 0, completion_tokens: 0, cost: 0 };
    try {
      for (const chunk of chunkItems(plan.items)) {
        const estimate = await request("POST", "/v1/estimate", {
          task: plan.task,
          params: plan.params,
          values: chunk.map((item) => [item.value]),
        });
        for (const key of Object.keys(totals)) totals[key] += Number(estimate[key]) || 0;
      }
    } catch (error) {
      $("estimate").textContent = `No estimate: ${error.message}`;
      return;
    }
    const tokens = totals.prompt_tokens + totals.completion_tokens;
    $("estimate").textContent =
      `${totals.cells} cells, ${totals.distinct} distinct, ${totals.cache_hits} already cached; ` +
      `about ${tokens.toLocaleString()} tokens, about $${totals.cost.toFixed(4)}.`;
  }

  async function useSelection() {
    setStatus("Reading the selection…");
    try {
      state.selection = await readSelection();
    } catch (error) {
      const message = error instanceof PaneError ? error.message : `Could not read the selection: ${error.message}`;
      setStatus(message, "error");
      return;
    }
    state.outputs = [];
    state.confirmOverwrite = null;
    const selection = state.selection;
    const column = columnLetters(selection.columnIndex);
    const rows = selection.values.length;
    const note = selection.columnCount > 1 ? ` (first column of ${selection.address})` : "";
    const hiddenCount = selection.hidden.filter(Boolean).length;
    const skipped = hiddenCount ? ` ${hiddenCount} hidden or filtered-out rows are skipped.` : "";
    $("selection-label").textContent =
      `${rows} rows of column ${column} on ${selection.sheetName}${note}.${skipped}`;
    renderPreview();
    setStatus("");
    scheduleEstimate();
  }

  function showProgress(done, total, cacheHits, started) {
    $("progress").max = Math.max(total, 1);
    $("progress").value = Math.min(done, total);
    const left = estimateSecondsLeft((Date.now() - started) / 1000, done, total);
    const eta = done < total && Number.isFinite(left) ? `, about ${formatDuration(left)} left` : "";
    $("progress-text").textContent =
      `${Math.round(done)} of ${total} cells${cacheHits ? ` (${cacheHits} from the cache)` : ""}${eta}`;
  }

  function showFailures(failures) {
    const list = $("failure-list");
    list.replaceChildren();
    $("failures").hidden = failures.length === 0;
    for (const failure of failures.slice(0, MAX_LISTED_FAILURES)) {
      const li = document.createElement("li");
      li.textContent = `Row ${failure.row}: ${failure.message}`;
      list.appendChild(li);
    }
    if (failures.length > MAX_LISTED_FAILURES) {
      const li = document.createElement("li");
      li.textContent = `…and ${failures.length - MAX_LISTED_FAILURES} more.`;
      list.appendChild(li);
    }
  }

  function setRunning(running) {
    $("run").disabled = running;
    $("cancel").disabled = !running;
    $("use-selection").disabled = running;
  }

  async function run() {
    let plan;
    try {
      plan = buildPlan();
    } catch (error) {
      setStatus(error.message, "error");
      return;
    }
    const last = plan.targetColumn + plan.width - 1;
    const target = columnLetters(plan.targetColumn) + (plan.width > 1 ? `:${columnLetters(last)}` : "");
    const planKey = JSON.stringify([
      plan.sheetName,
      plan.targetColumn,
      plan.width,
      plan.items.length,
      plan.items[0].rowIndex,
    ]);
    setStatus(`Checking column ${target}…`);
    try {
      const filled = await countFilledTargets(plan);
      if (filled > 0 && state.confirmOverwrite !== planKey) {
        state.confirmOverwrite = planKey;
        setStatus(
          `Column ${target} already holds ${filled} values in these rows. Press Run again to overwrite them.`,
          "error",
        );
        return;
      }
    } catch (error) {
      const message =
        error instanceof PaneError ? error.message : `Could not check the target column: ${error.message}`;
      setStatus(message, "error");
      return;
    }
    state.confirmOverwrite = null;
    const running = { jobId: null, cancelled: false };
    state.running = running;
    setRunning(true);
    showFailures([]);
    state.outputs = [];
    const started = Date.now();
    const total = plan.items.length;
    let finished = 0;
    let cacheHits = 0;
    const failures = [];
    showProgress(0, total, 0, started);
    setStatus(`Running ${plan.task} into column ${target}…`);
    try {
      for (const chunk of chunkItems(plan.items)) {
        if (running.cancelled) break;
        const body = { task: plan.task, params: plan.params, values: chunk.map((item) => [item.value]) };
        const job = await request("POST", "/v1/jobs", body);
        running.jobId = job.id;
        if (running.cancelled)
          await request("POST", `/v1/jobs/${encodeURIComponent(job.id)}/cancel`).catch(() => {});
        const final = await followJob(job.id, (progress) => {
          const share = progress.total ? progress.done / progress.total : 0;
          showProgress(
            finished + share * chunk.length,
            total,
            cacheHits + (progress.cache_hits || 0),
            started,
          );
        });
        running.jobId = null;
        if (final.status === "cancelled") break;
        if (final.status !== "done")
          throw new Error(final.error ? `The job failed: ${final.error}` : "The job failed.");
        failures.push(...(await writeAnswers(plan, chunk, final)));
        // `finished` is this chunk's first position among the plan's rows.
        for (let i = 0; i < chunk.length && finished + i < PREVIEW_ROWS; i += 1) {
          const error = final.errors && final.errors[i] && final.errors[i][0];
          state.outputs[finished + i] = error
            ? `(no answer: ${error})`
            : answerCells((final.values[i] || [""])[0], plan.fields).join(" | ");
        }
        renderPreview();
        finished += chunk.length;
        cacheHits += final.cache_hits || 0;
        showProgress(finished, total, cacheHits, started);
      }
      showFailures(failures);
      if (running.cancelled) {
        setStatus(
          `Cancelled after ${finished} of ${total} rows; those are written. Run again to finish (answers already paid for come from the cache).`,
        );
      } else if (failures.length) {
        setStatus(
          `Done: ${total - failures.length} of ${total} rows written into column ${target}; ${failures.length} left empty (listed below).`,
          "error",
        );
      } else {
        setStatus(`Done: ${total} rows written into column ${target}.`, "ok");
      }
    } catch (error) {
      showFailures(failures);
      setStatus(
        `${error.message} ${finished ? `${finished} rows were written before this.` : "Nothing was written."}`,
        "error",
      );
    } finally {
      state.running = null;
      setRunning(false);
      scheduleEstimate();
    }
  }

  async function cancel() {
    const running = state.running;
    if (!running || running.cancelled) return;
    running.cancelled = true;
    setStatus("Cancelling…");
    if (running.jobId) {
      try {
        await request("POST", `/v1/jobs/${encodeURIComponent(running.jobId)}/cancel`);
      } catch (error) {
        setStatus(`Could not cancel: ${error.message}`, "error");
      }
    }
  }

  function showTaskOptions() {
    const task = $("task").value;
    for (const block of document.querySelectorAll(".options")) block.hidden = block.dataset.task !== task;
  }

  function init() {
    $("use-selection").addEventListener("click", () => useSelection());
    $("run").addEventListener("click", () => run());
    $("cancel").addEventListener("click", () => cancel());
    $("task").addEventListener("change", () => {
      showTaskOptions();
      state.confirmOverwrite = null;
      scheduleEstimate();
    });
    for (const id of ["to", "from", "labels", "instructions", "fields", "prompt", "target-column"]) {
      $(id).addEventListener("input", () => scheduleEstimate());
    }
    $("skip-header").addEventListener("change", () => {
      renderPreview();
      scheduleEstimate();
    });
    showTaskOptions();
    if (!token())
      setStatus("This page has no service token: open the add-in from the excel-glm service.", "error");
    useSelection();
  }

  root.ExcelGlmTaskpane = {
    neutralise,
    columnIndex,
    columnLetters,
    splitList,
    chunkItems,
    sseParser,
    formatDuration,
    estimateSecondsLeft,
    answerCells,
    answerRows,
    rowBlocks,
    selectionItems,
    spanRows,
    messageForStatus,
    // Excel-facing steps, exported for tests against addin/tests/fake-office.js.
    readSelection,
    countFilledTargets,
    writeAnswers,
  };

  if (typeof Office !== "undefined" && Office.onReady && typeof document !== "undefined") {
    Office.onReady(() => init());
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
