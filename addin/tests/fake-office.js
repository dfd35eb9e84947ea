/*
 * A small fake of Office.js for browser tests of the task pane: Office.onReady, Excel.run and a
 * workbook whose sheets are in-memory grids. It keeps Office's load/sync discipline (reading a
 * property that was not loaded and synced throws; writes apply at sync), and models how Excel
 * stores written values: "'text" is text with the apostrophe as a prefix, "=..." becomes a formula.
 *
 * Like Excel on the web it refuses a sync whose request or answer is over 5 MB
 * (RequestPayloadSizeLimitExceeded), refuses getSelectedRange() when several areas are selected,
 * and refuses writes into a protected sheet (every cell of which is locked) or of a text over
 * 32,767 characters.
 *
 * Test hooks live on window.fakeExcel: seed(address, values), select(address) (areas separated by
 * commas), activate(sheet), hideRows(address), protect(sheet), payloadLimit, cell(address), cells(address) and the
 * log of writes.
 */
(function (root) {
  "use strict";

  const MAX_ROWS = 1048576;
  const MAX_COLUMNS = 16384;

  function columnIndex(letters) {
    let index = 0;
    for (const ch of letters.toUpperCase()) index = index * 26 + (ch.charCodeAt(0) - 64);
    return index - 1;
  }

  function columnLetters(index) {
    let letters = "";
    for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26))
      letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
    return letters;
  }

  /** "Sheet1!B2:C5", "B2", "B:B" -> {sheet, row, col, rows, cols} */
  function parseAddress(address, defaultSheet) {
    let sheet = defaultSheet;
    let ref = address;
    if (address.includes("!")) [sheet, ref] = address.split("!");
    const parts = ref.replace(/\$/g, "").split(":");
    const corners = parts.map((part) => {
      const match = /^([A-Za-z]+)?(\d+)?$/.exec(part);
      if (!match) throw new Error(`fake Excel: bad address ${address}`);
      return { col: match[1] ? columnIndex(match[1]) : null, row: match[2] ? Number(match[2]) - 1 : null };
    });
    const first = corners[0];
    const last = corners[corners.length - 1];
    const row = first.row === null ? 0 : first.row;
    const col = first.col === null ? 0 : first.col;
    const lastRow = last.row === null ? MAX_ROWS - 1 : last.row;
    const lastCol = last.col === null ? MAX_COLUMNS - 1 : last.col;
    return { sheet, row, col, rows: lastRow - row + 1, cols: lastCol - col + 1 };
  }

  function addressOf(sheet, row, col, rows, cols) {
    const start = `${columnLetters(col)}${row + 1}`;
    const end = `${columnLetters(col + cols - 1)}${row + rows}`;
    return `${sheet}!${start}${rows === 1 && cols === 1 ? "" : `:${end}`}`;
  }

  const workbook = {
    sheets: new Map(),
    active: "Sheet1",
    selection: null,
    areaCount: 1,
    protectedSheets: new Set(),
    hiddenRows: new Map(), // sheet -> Set of row indexes hidden by a filter or by hand
    payloadLimit: 5 * 1024 * 1024,
    writes: [],
    syncs: 0,
  };

  function utf8Length(text) {
    if (typeof TextEncoder === "function") return new TextEncoder().encode(text).length;
    return encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, "x").length;
  }

  function officeError(code, message) {
    const error = new Error(`${code}: ${message}`);
    error.code = code;
    return error;
  }

  function sheetCells(name) {
    if (!workbook.sheets.has(name)) workbook.sheets.set(name, new Map());
    return workbook.sheets.get(name);
  }
  sheetCells("Sheet1");

  /** What Excel stores when an add-in writes `value` into a cell. */
  function storedCell(value) {
    if (typeof value === "string" && value.startsWith("'"))
      return { value: value.slice(1), formula: null, prefixed: true };
    if (typeof value === "string" && value.startsWith("="))
      return { value: null, formula: value, prefixed: false };
    return { value, formula: null, prefixed: false };
  }

  function readCell(sheet, row, col) {
    const cell = sheetCells(sheet).get(`${row},${col}`);
    if (!cell) return "";
    return cell.formula !== null ? `#FORMULA ${cell.formula}` : cell.value;
  }

  function usedBox(sheet) {
    let top = Infinity;
    let bottom = -1;
    let left = Infinity;
    let right = -1;
    for (const key of sheetCells(sheet).keys()) {
      const [row, col] = key.split(",").map(Number);
      top = Math.min(top, row);
      bottom = Math.max(bottom, row);
      left = Math.min(left, col);
      right = Math.max(right, col);
    }
    if (bottom < 0) return { row: 0, col: 0, rows: 1, cols: 1 };
    return { row: top, col: left, rows: bottom - top + 1, cols: right - left + 1 };
  }

  /** Like Range.rowHidden: true or false when every row agrees, null when they differ. */
  function rowHiddenOf(sheet, row, rows) {
    const hidden = workbook.hiddenRows.get(sheet) || new Set();
    let count = 0;
    for (const index of hidden) if (index >= row && index < row + rows) count += 1;
    return count === 0 ? false : count === rows ? true : null;
  }

  class Range {
    constructor(context, sheet, box) {
      this._context = context;
      this._sheet = sheet;
      this._box = box;
      this._requested = new Set();
      this._loaded = {};
      this._pendingValues = undefined;
      const range = this;
      this.format = {
        protection: {
          load() {
            range._requested.add("locked");
            range._context._pending.push(range);
          },
          get locked() {
            return range._property("locked");
          },
        },
      };
    }

    load(properties) {
      const names = Array.isArray(properties) ? properties : String(properties).split(",");
      for (const name of names) this._requested.add(name.trim());
      this._context._pending.push(this);
      return this;
    }

    _property(name) {
      if (!(name in this._loaded)) {
        throw new Error(`PropertyNotLoaded: load("${name}") and sync() before reading range.${name}`);
      }
      return this._loaded[name];
    }

    _fill() {
      const { row, col, rows, cols } = this._box;
      if (this._requested.has("values") && rows * cols > 5000000)
        throw new Error("fake Excel: range too large to read");
      const all = {
        address: addressOf(this._sheet, row, col, rows, cols),
        rowIndex: row,
        columnIndex: col,
        rowCount: rows,
        columnCount: cols,
        locked: true, // Excel's default for every cell; the fake has no way to unlock one
        rowHidden: rowHiddenOf(this._sheet, row, rows),
      };
      for (const name of this._requested) {
        if (name === "values") {
          this._loaded.values = Array.from({ length: rows }, (_, r) =>
            Array.from({ length: cols }, (_, c) => readCell(this._sheet, row + r, col + c)),
          );
        } else if (name in all) {
          this._loaded[name] = all[name];
        }
      }
      this._requested.clear();
    }

    _write() {
      const values = this._pendingValues;
      this._pendingValues = undefined;
      const { row, col, rows, cols } = this._box;
      if (workbook.protectedSheets.has(this._sheet)) {
        throw officeError("AccessDenied", "The cell or chart you're trying to change is on a protected sheet.");
      }
      if (
        !Array.isArray(values) ||
        values.length !== rows ||
        values.some((line) => !Array.isArray(line) || line.length !== cols)
      ) {
        throw new Error(
          `InvalidArgument: values must be ${rows} x ${cols} for ${addressOf(this._sheet, row, col, rows, cols)}`,
        );
      }
      // Excel refuses the whole write when one text is over its 32,767-character cell limit.
      const tooLong = values.some((line) =>
        line.some((value) => typeof value === "string" && value.replace(/^'/, "").length > 32767),
      );
      if (tooLong) throw officeError("InvalidArgument", "a cell's text is over 32,767 characters");
      const cells = sheetCells(this._sheet);
      values.forEach((line, r) =>
        line.forEach((value, c) => {
          if (value === null) return; // null leaves a cell unchanged
          const key = `${row + r},${col + c}`;
          if (value === "") cells.delete(key);
          else cells.set(key, storedCell(value));
        }),
      );
      workbook.writes.push({ address: addressOf(this._sheet, row, col, rows, cols), rows, cols });
    }

    get values() {
      return this._property("values");
    }
    set values(values) {
      this._pendingValues = values;
      this._context._pending.push(this);
    }
    get address() {
      return this._property("address");
    }
    get rowIndex() {
      return this._property("rowIndex");
    }
    get columnIndex() {
      return this._property("columnIndex");
    }
    get rowCount() {
      return this._property("rowCount");
    }
    get columnCount() {
      return this._property("columnCount");
    }
    get rowHidden() {
      return this._property("rowHidden");
    }
  }

  class Worksheet {
    constructor(context, name) {
      this._context = context;
      this.name = name;
      this.protection = {
        load() {},
        get protected() {
          return workbook.protectedSheets.has(name);
        },
      };
    }
    load() {
      return this;
    }
    getRange(address) {
      return new Range(this._context, this.name, parseAddress(address, this.name));
    }
    getRangeByIndexes(row, col, rows, cols) {
      if (row < 0 || col < 0 || rows < 1 || cols < 1 || row + rows > MAX_ROWS || col + cols > MAX_COLUMNS) {
        throw new Error(`InvalidArgument: getRangeByIndexes(${row}, ${col}, ${rows}, ${cols})`);
      }
      return new Range(this._context, this.name, { row, col, rows, cols });
    }
    getUsedRange() {
      return new Range(this._context, this.name, usedBox(this.name));
    }
  }

  class RequestContext {
    constructor() {
      this._pending = [];
      const context = this;
      this.application = { suspendApiCalculationUntilNextSync() {} };
      this.workbook = {
        getSelectedRange() {
          if (workbook.areaCount > 1) {
            throw officeError("InvalidSelection", "This operation isn't supported for multiple selections.");
          }
          const selection = workbook.selection || {
            sheet: workbook.active,
            row: 0,
            col: 0,
            rows: 1,
            cols: 1,
          };
          return new Range(context, selection.sheet, selection);
        },
        getSelectedRanges() {
          return {
            load() {},
            get areaCount() {
              return workbook.areaCount;
            },
          };
        },
        worksheets: {
          getActiveWorksheet() {
            return new Worksheet(context, workbook.active);
          },
          getItem(name) {
            if (!workbook.sheets.has(name)) throw new Error(`ItemNotFound: no sheet ${name}`);
            return new Worksheet(context, name);
          },
        },
      };
    }

    async sync() {
      workbook.syncs += 1;
      const pending = this._pending;
      this._pending = [];
      await new Promise((resolve) => setTimeout(resolve, 0)); // a real sync is a round trip
      const writes = pending.filter((range) => range._pendingValues !== undefined);
      const reads = pending.filter((range) => range._pendingValues === undefined);
      const sent = writes.reduce((sum, range) => sum + utf8Length(JSON.stringify(range._pendingValues)), 0);
      if (sent > workbook.payloadLimit) {
        for (const range of writes) range._pendingValues = undefined;
        throw officeError("RequestPayloadSizeLimitExceeded", `the request is ${sent} bytes`);
      }
      for (const range of writes) range._write();
      for (const range of reads) range._fill();
      const answered = reads.reduce(
        (sum, range) => sum + (range._loaded.values ? utf8Length(JSON.stringify(range._loaded.values)) : 0),
        0,
      );
      if (answered > workbook.payloadLimit) {
        for (const range of reads) delete range._loaded.values;
        throw officeError("RequestPayloadSizeLimitExceeded", `the answer is ${answered} bytes`);
      }
    }
  }

  root.Excel = {
    async run(batch) {
      return batch(new RequestContext());
    },
  };

  root.Office = {
    HostType: { Excel: "Excel" },
    PlatformType: { PC: "PC" },
    context: {
      document: {
        settings: {
          get() {
            return null;
          },
          set() {},
          saveAsync() {},
        },
      },
    },
    onReady(callback) {
      const info = { host: "Excel", platform: "PC" };
      return new Promise((resolve) => {
        setTimeout(() => {
          if (callback) callback(info);
          resolve(info);
        }, 0);
      });
    },
  };

  // The real office.js brings the custom functions runtime; functions.js registers into this stub.
  root.CustomFunctions = root.CustomFunctions || {
    Error: class CustomFunctionsError {
      constructor(code, message) {
        this.code = code;
        this.message = message;
      }
    },
    ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" },
    associated: {},
    associate(id, fn) {
      this.associated[id] = fn;
    },
  };

  root.fakeExcel = {
    seed(address, values) {
      const box = parseAddress(address, workbook.active);
      const cells = sheetCells(box.sheet);
      values.forEach((line, r) =>
        line.forEach((value, c) => {
          if (value !== "" && value !== null) cells.set(`${box.row + r},${box.col + c}`, storedCell(value));
        }),
      );
    },
    select(address) {
      const areas = address.split(",");
      const sheet = areas[0].includes("!") ? areas[0].split("!")[0] : workbook.active;
      const box = parseAddress(areas[0], sheet);
      sheetCells(box.sheet);
      workbook.active = box.sheet;
      workbook.selection = box;
      workbook.areaCount = areas.length;
    },
    activate(sheet) {
      sheetCells(sheet);
      workbook.active = sheet;
    },
    /** Hide rows as a filter would: hideRows("Sheet1!3:5"). */
    hideRows(address) {
      const box = parseAddress(address, workbook.active);
      if (!workbook.hiddenRows.has(box.sheet)) workbook.hiddenRows.set(box.sheet, new Set());
      for (let r = box.row; r < box.row + box.rows; r += 1) workbook.hiddenRows.get(box.sheet).add(r);
    },
    protect(sheet) {
      workbook.protectedSheets.add(sheet);
    },
    get payloadLimit() {
      return workbook.payloadLimit;
    },
    set payloadLimit(bytes) {
      workbook.payloadLimit = bytes;
    },
    /** The stored cell: {value, formula, prefixed}, or null when empty. */
    cell(address) {
      const box = parseAddress(address, workbook.active);
      return sheetCells(box.sheet).get(`${box.row},${box.col}`) || null;
    },
    /** Stored cells of a range, row by row, as {value, formula, prefixed} or null. */
    cells(address) {
      const box = parseAddress(address, workbook.active);
      return Array.from({ length: box.rows }, (_, r) =>
        Array.from(
          { length: box.cols },
          (_, c) => sheetCells(box.sheet).get(`${box.row + r},${box.col + c}`) || null,
        ),
      );
    },
    get writes() {
      return workbook.writes.slice();
    },
    get syncs() {
      return workbook.syncs;
    },
  };
})(typeof window !== "undefined" ? window : globalThis);
