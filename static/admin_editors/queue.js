// The queue editor on the open channel's Queue tab (QueueMemberInline).
//
// The position inputs stay the truth the server reads; this script hides them and orders the rows instead:
// drag a row by its handle, or focus the handle and press ArrowUp / ArrowDown (or use the Move up / Move down
// buttons). After each move every row's position is rewritten 1..n in the order shown; the server numbers
// them the same way, so two members never share a place. Without JavaScript the positions are typed.
import { announce, fill, texts } from "./common.js";

const words = texts.queue || {};
const group = document.getElementById("queue_members-group");
const body = group && group.querySelector("table tbody");

const formRows = () => [...body.querySelectorAll("tr.form-row:not(.empty-form)")];
const indexOf = (row) => Number(row.id.split("-").pop());
const positionInput = (row) => row.querySelector("input[name$='-position']");
const isDeleted = (row) => Boolean(row.querySelector("input[name$='-DELETE']:checked"));
const nameOf = (row) => {
  const option = row.querySelector("select[name$='-operator'] option:checked");
  const label = option && option.value ? option.textContent : "";
  // "Olga N. (olga) · online" → "Olga N.": the name people know, without the login and the presence.
  return label ? label.split(" · ")[0].replace(/\s\([^()]*\)$/, "").trim() : words.newMember || "";
};

// The rows' positions follow the order shown; the numbers shown count the rows that stay.
function renumber() {
  let shown = 0;
  formRows().forEach((row, index) => {
    positionInput(row).value = String(index + 1);
    const number = row.querySelector(".qe-number");
    if (number) number.textContent = isDeleted(row) ? "–" : String(++shown);
    const handle = row.querySelector(".qe-handle");
    if (handle) handle.setAttribute("aria-label", fill(words.handle, { name: nameOf(row) }));
  });
}

function sortBy(key) {
  const tail = body.querySelector("tr.empty-form") || body.querySelector("tr.add-row");
  for (const row of formRows().sort((a, b) => key(a) - key(b))) {
    const errors = row.previousElementSibling?.classList.contains("row-form-errors") ? row.previousElementSibling : null;
    if (errors) body.insertBefore(errors, tail);
    body.insertBefore(row, tail);
  }
}

function move(row, step) {
  const rows = formRows();
  const target = rows[rows.indexOf(row) + step];
  if (!target) return;
  if (step < 0) body.insertBefore(row, target);
  else body.insertBefore(row, target.nextElementSibling);
  renumber();
  const kept = formRows().filter((each) => !isDeleted(each));
  announce(fill(words.moved, { name: nameOf(row), position: kept.indexOf(row) + 1, count: kept.length }));
}

function button(className, label, text) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.setAttribute("aria-label", label);
  element.title = label;
  element.textContent = text;
  return element;
}

function enhance(row) {
  if (row.dataset.queueEditor) return;
  row.dataset.queueEditor = "on";
  const input = positionInput(row);
  if (!input) return;
  input.type = "hidden";
  const cell = input.closest("td");
  const number = document.createElement("span");
  number.className = "qe-number";
  const handle = button("qe-handle", fill(words.handle, { name: nameOf(row) }), "⠿");
  const up = button("qe-up", words.up, "↑");
  const down = button("qe-down", words.down, "↓");
  cell.append(number, handle, up, down);

  handle.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    event.preventDefault();
    move(row, event.key === "ArrowUp" ? -1 : 1);
    handle.focus();
  });
  up.addEventListener("click", () => move(row, -1));
  down.addEventListener("click", () => move(row, 1));
  // Dragging starts from the handle only, so selecting text in the row still works.
  handle.addEventListener("pointerdown", () => { row.draggable = true; });
  row.addEventListener("dragstart", (event) => {
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.id);
    row.classList.add("qe-dragging");
  });
  row.addEventListener("dragend", () => {
    row.draggable = false;
    row.classList.remove("qe-dragging");
    renumber();
  });
  row.querySelector("select[name$='-operator']")?.addEventListener("change", renumber);
  row.querySelector("input[name$='-DELETE']")?.addEventListener("change", renumber);
}

if (body) {
  group.classList.add("qe-on");
  const hint = document.createElement("p");
  hint.className = "qe-hint help";
  hint.textContent = words.hint || "";
  group.querySelector("fieldset h2")?.after(hint);

  // Rows arrive ordered by position (the inline's ordering); a row with an error keeps its place.
  formRows().forEach(enhance);
  renumber();

  body.addEventListener("dragover", (event) => {
    const dragged = body.querySelector(".qe-dragging");
    const over = event.target.closest("tr.form-row:not(.empty-form)");
    if (!dragged || !over || over === dragged) return;
    event.preventDefault();
    const { top, height } = over.getBoundingClientRect();
    body.insertBefore(dragged, event.clientY < top + height / 2 ? over : over.nextElementSibling);
  });
  body.addEventListener("drop", (event) => event.preventDefault());

  // Django's "Add another" row joins at the end.
  document.addEventListener("formset:added", (event) => {
    if (event.detail?.formsetName !== "queue_members") return;
    enhance(event.target);
    renumber();
  });
  // Removing an added row renames the rows after it by their place in the page: put them back in the
  // order Django numbered them first (capture phase, before its handler), then in the queue's order again.
  group.addEventListener(
    "click",
    (event) => {
      if (event.target.closest(".inline-deletelink")) sortBy(indexOf);
    },
    true,
  );
  document.addEventListener("formset:removed", (event) => {
    if (event.detail?.formsetName !== "queue_members") return;
    sortBy((row) => Number(positionInput(row).value) || 0);
    renumber();
  });
  group.closest("form")?.addEventListener("submit", renumber);
}
