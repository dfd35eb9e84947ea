/*
 * A small fake of Office.js for browser tests of the task pane: Office.onReady, Excel.run and a
 * workbook whose sheets are in-memory grids. It keeps Office's load/sync discipline (reading a
 * property that was not loaded and synced throws; writes apply at sync), and models how Excel
 * stores written values: "'text" is text with the apostrophe as a prefix, "=..." becomes a formula.
 *
 * Test hooks live on window.fakeExcel: seed(address, values), select(address), cell(address),
 * column(address) and the log of writes.
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

  const workbook = { sheets: new Map(), active: "Sheet1", selection: null, writes: [], syncs: 0 };

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

  class Range {
    constructor(context, sheet, box) {
      this._context = context;
      this._sheet = sheet;
      this._box = box;
      this._requested = new Set();
      this._loaded = {};
      this._pendingValues = undefined;
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
      if (
        !Array.isArray(values) ||
        values.length !== rows ||
        values.some((line) => !Array.isArray(line) || line.length !== cols)
      ) {
        throw new Error(
          `InvalidArgument: values must be ${rows} x ${cols} for ${addressOf(this._sheet, row, col, rows, cols)}`,
        );
      }
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
  }

  class Worksheet {
    constructor(context, name) {
      this._context = context;
      this.name = name;
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
          const selection = workbook.selection || {
            sheet: workbook.active,
            row: 0,
            col: 0,
            rows: 1,
            cols: 1,
          };
          return new Range(context, selection.sheet, selection);
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
      for (const range of pending) {
        if (range._pendingValues !== undefined) range._write();
        else range._fill();
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
      const box = parseAddress(address, workbook.active);
      sheetCells(box.sheet);
      workbook.active = box.sheet;
      workbook.selection = box;
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
