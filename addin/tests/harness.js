// Loads the SHIPPED addin/functions.js into a fresh VM context with stubbed Excel globals.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const SOURCE_PATH = path.join(__dirname, "..", "functions.js");

const ERROR_CODES = {
  invalidValue: "#VALUE!",
  notAvailable: "#N/A",
  divisionByZero: "#DIV/0!",
  invalidNumber: "#NUM!",
  nullReference: "#NULL!",
  invalidName: "#NAME?",
  invalidReference: "#REF!",
};

class CustomFunctionsError {
  constructor(code, message) {
    this.code = code;
    this.message = message;
  }
}

/** A fetch stub that records each call and answers with handler(body, callNumber, init). */
function scriptedFetch(handler) {
  const calls = [];
  async function fetch(url, init) {
    const body = JSON.parse(init.body);
    calls.push({ url, init, body });
    return handler(body, calls.length, init);
  }
  return { fetch, calls };
}

function jsonResponse(data, status = 200) {
  return new Response(JSON.stringify(data), { status, headers: { "content-type": "application/json" } });
}

/** A /v1/cells answer computed cell by cell with answer(text) (a string, or {error}). */
function cellsAnswer(body, answer) {
  const values = body.values.map(([text]) => {
    const out = answer(text, body);
    return [out && out.error ? null : out];
  });
  const errors = body.values.map(([text]) => {
    const out = answer(text, body);
    return [out && out.error ? out.error : null];
  });
  return jsonResponse({ values, errors, usage: {} });
}

/** Evaluate functions.js; returns the associated functions, the module's test hooks and the stubs. */
function loadFunctions({ fetch, token = "test-token-123", config = {} } = {}) {
  const associations = {};
  const CustomFunctions = {
    Error: CustomFunctionsError,
    ErrorCode: ERROR_CODES,
    associate(id, fn) {
      associations[id] = fn;
    },
  };
  const document = {
    querySelector(selector) {
      return selector === 'meta[name="excel-glm-token"]' ? { content: token } : null;
    },
  };
  const context = vm.createContext({
    CustomFunctions,
    document,
    fetch,
    setTimeout,
    clearTimeout,
    AbortController,
    TextEncoder,
    console,
  });
  vm.runInContext(fs.readFileSync(SOURCE_PATH, "utf8"), context, { filename: SOURCE_PATH });
  const hooks = context.ExcelGlmFunctions;
  Object.assign(hooks.config, { retryDelaysMs: [5, 10] }, config);
  return { associations, hooks, CustomFunctions };
}

/** Results in plain data: errors become "#CODE message" strings, arrays lose their VM realm. */
function plain(value) {
  if (value instanceof CustomFunctionsError) return `${value.code} ${value.message}`;
  if (Array.isArray(value)) return Array.from(value, plain); // rebuilt in this realm for deepEqual
  return value;
}

/** Settle a promise into plain data, failing if it stays pending for `ms` (a cell stuck at #BUSY!). */
async function settleWithin(promise, ms = 2000) {
  let timer;
  const pending = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`promise still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      Promise.resolve(promise).then(
        (value) => ({ ok: true, value: plain(value) }),
        (error) => ({ ok: false, error: plain(error) }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fake Excel invocation whose cancellation can be triggered by the test. */
function invocation() {
  return { address: "Sheet1!B2", onCanceled: null };
}

module.exports = {
  CustomFunctionsError,
  ERROR_CODES,
  cellsAnswer,
  invocation,
  jsonResponse,
  loadFunctions,
  plain,
  scriptedFetch,
  settleWithin,
};
