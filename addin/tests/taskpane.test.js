// The task pane's pure helpers, from the SHIPPED addin/taskpane.js evaluated without Office.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { test } = require("node:test");

function loadTaskpane() {
  const source = fs.readFileSync(path.join(__dirname, "..", "taskpane.js"), "utf8");
  const context = vm.createContext({ setTimeout, clearTimeout, TextDecoder, console });
  vm.runInContext(source, context);
  return context.ExcelGlmTaskpane;
}

const pane = loadTaskpane();
const plain = (value) => JSON.parse(JSON.stringify(value)); // out of the VM realm

test("formula-looking answers get Excel's text marker, others are unchanged", () => {
  for (const text of ["=1+1", "+33 1 23", "-5", "@SUM(A1)", "'tis"]) {
    assert.equal(pane.neutralise(text), `'${text}`);
  }
  for (const text of ["Hello", "", " =not at start", "1/2", "€5"]) {
    assert.equal(pane.neutralise(text), text);
  }
});

test("extract answers become one neutralised cell per field, in the order asked", () => {
  assert.deepEqual(plain(pane.answerCells({ email: "=x", name: "Ann" }, ["name", "email", "age"])), [
    "Ann",
    "'=x",
    "",
  ]);
  assert.deepEqual(plain(pane.answerCells(null, ["a", "b"])), ["", ""]);
  assert.deepEqual(plain(pane.answerCells("=2", null)), ["'=2"]);
  assert.deepEqual(plain(pane.answerCells(null, null)), [""]);
});

test("column letters convert both ways within Excel's columns", () => {
  assert.equal(pane.columnIndex("A"), 0);
  assert.equal(pane.columnIndex("c"), 2);
  assert.equal(pane.columnIndex(" AA "), 26);
  assert.equal(pane.columnIndex("XFD"), 16383);
  assert.equal(pane.columnIndex("XFE"), null);
  assert.equal(pane.columnIndex("A1"), null);
  assert.equal(pane.columnIndex(""), null);
  for (const index of [0, 25, 26, 701, 702, 16383])
    assert.equal(pane.columnIndex(pane.columnLetters(index)), index);
});

test("comma lists are trimmed, deduplicated and drop empty items", () => {
  assert.deepEqual(plain(pane.splitList(" pos, neg ,, pos,neutral ")), ["pos", "neg", "neutral"]);
  assert.deepEqual(plain(pane.splitList("")), []);
});

test("rows are chunked by count and by bytes, keeping order and every row", () => {
  const items = Array.from({ length: 45 }, (_, i) => ({ rowIndex: i, value: `v${i}` }));
  const byCount = pane.chunkItems(items, 20, 1e9);
  assert.deepEqual(plain(byCount.map((chunk) => chunk.length)), [20, 20, 5]);
  assert.deepEqual(
    plain(byCount.flat().map((item) => item.rowIndex)),
    items.map((item) => item.rowIndex),
  );
  const big = Array.from({ length: 6 }, (_, i) => ({ rowIndex: i, value: "x".repeat(100) }));
  const byBytes = pane.chunkItems(big, 1000, 700);
  assert.ok(byBytes.length >= 3);
  assert.equal(byBytes.flat().length, 6);
});

test("the SSE parser handles split chunks, CRLF, comments and multi-line data", () => {
  const feed = pane.sseParser();
  assert.deepEqual(plain(feed('event: progress\ndata: {"done": 1,')), []);
  assert.deepEqual(plain(feed(' "total": 4}\n\n: ping\n\n')), [
    { event: "progress", data: '{"done": 1, "total": 4}' },
  ]);
  assert.deepEqual(plain(feed("event: done\r\ndata: a\r\ndata: b\r\n\r\n")), [
    { event: "done", data: "a\nb" },
  ]);
  assert.deepEqual(plain(feed("data: plain\n\n")), [{ event: "message", data: "plain" }]);
});

test("ETA comes from the pace so far and reads as a short duration", () => {
  assert.equal(pane.estimateSecondsLeft(10, 25, 100), 30);
  assert.ok(Number.isNaN(pane.estimateSecondsLeft(10, 0, 100)));
  assert.equal(pane.formatDuration(30), "30 s");
  assert.equal(pane.formatDuration(125), "2 min 5 s");
  assert.equal(pane.formatDuration(3 * 3600 + 120), "3 h 2 min");
  assert.equal(pane.formatDuration(NaN), "");
});

test("HTTP failures read as clear messages without leaking anything", () => {
  assert.match(pane.messageForStatus(401, ""), /token/);
  assert.match(pane.messageForStatus(403, "Origin not allowed"), /403.*Origin not allowed/);
  assert.match(pane.messageForStatus(413, "body over 5 MB"), /fewer rows/);
  assert.equal(pane.messageForStatus(422, "labels: give at least one"), "labels: give at least one");
  assert.match(pane.messageForStatus(502, "the API key was refused"), /API key was refused/);
  assert.match(pane.messageForStatus(503, ""), /Try again/);
  assert.match(pane.messageForStatus(0, ""), /excel-glm serve/);
});

test("the fake Office keeps load/sync discipline and Excel's text marker", async () => {
  const source = fs.readFileSync(path.join(__dirname, "fake-office.js"), "utf8");
  const context = vm.createContext({ setTimeout, clearTimeout, console });
  vm.runInContext(source, context);
  const { Excel, fakeExcel } = context;
  fakeExcel.seed("Sheet1!B2:B3", [["x"], ["y"]]);
  fakeExcel.select("B:B");
  await Excel.run(async (ctx) => {
    const range = ctx.workbook.getSelectedRange();
    assert.throws(() => range.values, /PropertyNotLoaded/);
    range.load("rowCount");
    const used = ctx.workbook.worksheets.getActiveWorksheet().getUsedRange(true);
    used.load("rowIndex,rowCount");
    await ctx.sync();
    assert.equal(range.rowCount, 1048576);
    assert.deepEqual([used.rowIndex, used.rowCount], [1, 2]);
    const target = ctx.workbook.worksheets.getItem("Sheet1").getRangeByIndexes(1, 2, 2, 1);
    target.values = [["'=1+1"], ["plain"]];
    await ctx.sync();
  });
  assert.deepEqual(plain(fakeExcel.cell("C2")), { value: "=1+1", formula: null, prefixed: true });
  assert.equal(fakeExcel.cell("C3").value, "plain");
});
