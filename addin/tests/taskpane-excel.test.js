// The task pane's Excel steps (read the selection, check the target, write answers) from the
// SHIPPED addin/taskpane.js, run against addin/tests/fake-office.js, which keeps Excel on the web's
// 5 MB payload limit, its refusal of multi-area selections and of writes into protected sheets.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { test } = require("node:test");

/** A fresh fake workbook with the task pane loaded into the same realm. */
function loadPaneWithFakeExcel() {
  const context = vm.createContext({ setTimeout, clearTimeout, TextDecoder, TextEncoder, console });
  for (const file of ["tests/fake-office.js", "taskpane.js"]) {
    vm.runInContext(fs.readFileSync(path.join(__dirname, "..", file), "utf8"), context);
  }
  return { pane: context.ExcelGlmTaskpane, fakeExcel: context.fakeExcel };
}

const plain = (value) => JSON.parse(JSON.stringify(value)); // out of the VM realm

/** A plan writing one answer per row into column C of Sheet1, rows 2.. (index 1..). */
function planFor(rowCount, { sheetName = "Sheet1", fields = null } = {}) {
  return {
    task: fields ? "extract" : "translate",
    params: {},
    fields,
    width: fields ? fields.length : 1,
    targetColumn: 2,
    sheetName,
    items: Array.from({ length: rowCount }, (_, i) => ({ rowIndex: 1 + i, value: `t${i}` })),
  };
}

function jobAnswering(plan, answer) {
  return {
    status: "done",
    values: plan.items.map((item, i) => [answer(i)]),
    errors: plan.items.map(() => [null]),
  };
}

test("answers over Excel on the web's 5 MB request limit are written in several smaller syncs", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  const plan = planFor(3000);
  const long = (i) => `${i}:`.padEnd(3000, "x"); // 3000 rows x 3 KB = 9 MB of answers
  const failures = await pane.writeAnswers(plan, plan.items, jobAnswering(plan, long));
  assert.deepEqual(plain(failures), []);
  assert.ok(fakeExcel.writes.length >= 2, `${fakeExcel.writes.length} write(s)`);
  assert.equal(fakeExcel.cell("C2").value, long(0));
  assert.equal(fakeExcel.cell("C3001").value, long(2999));
  const written = fakeExcel.writes.reduce((sum, write) => sum + write.rows, 0);
  assert.equal(written, 3000);
});

test("an answer longer than an Excel cell holds is left empty and listed, the rest is written", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  const plan = planFor(3);
  const answers = ["short", "y".repeat(32768), "=also short"];
  const failures = await pane.writeAnswers(plan, plan.items, jobAnswering(plan, (i) => answers[i]));
  assert.equal(failures.length, 1);
  assert.equal(failures[0].row, 3);
  assert.match(failures[0].message, /32,767 characters/);
  assert.equal(fakeExcel.cell("C2").value, "short");
  assert.equal(fakeExcel.cell("C3"), null);
  assert.deepEqual(plain(fakeExcel.cell("C4")), { value: "=also short", formula: null, prefixed: true });
});

test("an answer of exactly 32,767 characters is written, even behind the text marker", () => {
  const { pane } = loadPaneWithFakeExcel();
  const plan = planFor(2);
  const answers = ["z".repeat(32767), `=${"z".repeat(32766)}`];
  const { rows, failures } = pane.answerRows(plan.items, jobAnswering(plan, (i) => answers[i]), null);
  assert.deepEqual(plain(failures), []);
  assert.equal(rows[0][0].length, 32767);
  assert.equal(rows[1][0], `'${answers[1]}`);
});

test("an extract row with one over-long field is left empty across its fields", () => {
  const { pane } = loadPaneWithFakeExcel();
  const plan = planFor(1, { fields: ["name", "bio"] });
  const job = jobAnswering(plan, () => ({ name: "Ann", bio: "b".repeat(40000) }));
  const { rows, failures } = pane.answerRows(plan.items, job, plan.fields);
  assert.deepEqual(plain(rows), [["", ""]]);
  assert.equal(failures.length, 1);
});

test("write blocks respect both the row cap and the byte budget, in order", () => {
  const { pane } = loadPaneWithFakeExcel();
  const rows = Array.from({ length: 10 }, (_, i) => [String(i).repeat(100)]);
  const blocks = plain(pane.rowBlocks(rows, 4, 1000));
  assert.deepEqual(
    blocks.map((block) => block.offset),
    blocks.map((_, i) => blocks.slice(0, i).reduce((sum, b) => sum + b.rows.length, 0)),
  );
  assert.deepEqual(blocks.flatMap((block) => block.rows), plain(rows));
  for (const block of blocks) {
    assert.ok(block.rows.length <= 4);
    assert.ok(block.rows.length === 1 || JSON.stringify(block.rows).length * 3 <= 1000 + 10);
  }
});

test("a selected column whose text is over 5 MB is read completely, in smaller blocks", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  const texts = Array.from({ length: 2000 }, (_, i) => `${i}:`.padEnd(4000, "é")); // about 16 MB
  fakeExcel.seed("Sheet1!A1", texts.map((text) => [text]));
  fakeExcel.select("A:A");
  const selection = await pane.readSelection();
  assert.equal(selection.values.length, 2000);
  assert.equal(selection.values[0], texts[0]);
  assert.equal(selection.values[1999], texts[1999]);
  assert.equal(selection.rowIndex, 0);
});

test("a whole-column selection is trimmed to the used rows", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!B2:B4", [["a"], ["b"], ["c"]]);
  fakeExcel.select("B:B");
  const selection = await pane.readSelection();
  assert.deepEqual(plain(selection.values), ["", "a", "b", "c"]);
  assert.equal(selection.columnIndex, 1);
});

test("several selected areas give one clear message", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!A1:C3", [
    ["a", "", "c"],
    ["a", "", "c"],
    ["a", "", "c"],
  ]);
  fakeExcel.select("A1:A3,C1:C3");
  await assert.rejects(pane.readSelection(), (error) => {
    assert.match(error.message, /separate areas are selected.*one block/);
    return true;
  });
});

test("a protected target sheet is refused before any job is started", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!A2:A3", [["x"], ["y"]]);
  fakeExcel.protect("Sheet1");
  await assert.rejects(pane.countFilledTargets(planFor(2)), (error) => {
    assert.match(error.message, /“Sheet1” is protected.*Unprotect/);
    return true;
  });
});

test("filled target cells are counted, including beyond one read block", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!C2", [["keep"]]);
  fakeExcel.seed("Sheet1!C6002", [["keep too"]]);
  assert.equal(await pane.countFilledTargets(planFor(6001)), 2);
});

test("answers go to the selection's sheet even when another sheet is active at write time", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Data!A2:A3", [["x"], ["y"]]);
  fakeExcel.select("Data!A2:A3");
  const selection = await pane.readSelection();
  assert.equal(selection.sheetName, "Data");
  fakeExcel.activate("Sheet1");
  const plan = planFor(2, { sheetName: "Data" });
  await pane.writeAnswers(plan, plan.items, jobAnswering(plan, (i) => `answer ${i}`));
  assert.equal(fakeExcel.cell("Data!C2").value, "answer 0");
  assert.equal(fakeExcel.cell("Sheet1!C2"), null);
});

test("rows hidden by a filter are neither sent nor written, and their target cells are kept", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!A1:A6", [["header"], ["r2"], ["r3"], ["r4"], ["r5"], ["r6"]]);
  fakeExcel.seed("Sheet1!B3", [["kept in a hidden row"]]);
  fakeExcel.hideRows("Sheet1!3:4");
  fakeExcel.select("A1:A6");
  const selection = await pane.readSelection();
  assert.deepEqual(plain(selection.hidden), [false, false, true, true, false, false]);
  const items = pane.selectionItems(selection, true);
  assert.deepEqual(plain(items), [
    { rowIndex: 1, value: "r2" },
    { rowIndex: 4, value: "r5" },
    { rowIndex: 5, value: "r6" },
  ]);
  const plan = { ...planFor(0), targetColumn: 1, items };
  assert.equal(await pane.countFilledTargets(plan), 0, "the hidden row's cell is not counted");
  await pane.writeAnswers(plan, items, jobAnswering(plan, (i) => `=answer ${i}`));
  assert.deepEqual(
    plain(fakeExcel.cells("B2:B6")).map((row) => row[0] && row[0].value),
    ["=answer 0", "kept in a hidden row", null, "=answer 1", "=answer 2"],
  );
  assert.ok(fakeExcel.cell("B2").prefixed, "a formula-looking answer is stored as text");
});

test("a selection without hidden rows costs one extra sync, not one per row", async () => {
  const { pane, fakeExcel } = loadPaneWithFakeExcel();
  fakeExcel.seed("Sheet1!A1", Array.from({ length: 3000 }, (_, i) => [`r${i}`]));
  fakeExcel.select("A:A");
  const before = fakeExcel.syncs;
  const selection = await pane.readSelection();
  assert.ok(fakeExcel.syncs - before <= 4, `${fakeExcel.syncs - before} syncs`);
  assert.equal(pane.selectionItems(selection, false).length, 3000);
});

test("a write span puts nulls (cells left unchanged) on rows between the items", () => {
  const { pane } = loadPaneWithFakeExcel();
  const items = [{ rowIndex: 4 }, { rowIndex: 7 }];
  assert.deepEqual(plain(pane.spanRows(items, [["a", "b"], ["c", "d"]], 2)), [
    ["a", "b"],
    [null, null],
    [null, null],
    ["c", "d"],
  ]);
});

test("an extract answer that is not a record is listed, not written as empty fields", () => {
  const { pane } = loadPaneWithFakeExcel();
  const plan = planFor(3, { fields: ["name"] });
  const answers = [{ name: "Ann" }, "Ann", ""];
  const { rows, failures } = pane.answerRows(plan.items, jobAnswering(plan, (i) => answers[i]), plan.fields);
  assert.deepEqual(plain(rows), [["Ann"], [""], [""]]);
  assert.deepEqual(
    plain(failures).map((failure) => failure.row),
    [3],
  );
  assert.match(failures[0].message, /not a record/);
});
