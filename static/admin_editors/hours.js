// The working-hours grid on the open channel's Working hours tab, over WorkingPeriodInline's rows.
//
// One line per weekday: closed, or one or more periods (opens–closes) in the channel's time zone, which is
// named above the grid and follows the Time zone field. "Copy Monday to weekdays" gives Tuesday–Friday
// Monday's periods. On save the grid writes the periods back into the inline's rows (reusing them, marking
// the extra ones deleted, adding rows from Django's empty form), so the server receives the same form as
// without JavaScript and validates it the same way.
import { announce, fill, texts } from "./common.js";

const words = texts.hours || {};
const group = document.getElementById("working_periods-group");
const template = document.getElementById("working_periods-empty");
const PREFIX = "working_periods";
const WEEKDAYS = [1, 2, 3, 4]; // Tuesday–Friday, the days "Copy Monday to weekdays" fills
const DEFAULT_PERIOD = { start: "09:00", end: "17:00" };

const formRows = () => [...group.querySelectorAll("tbody tr.form-row:not(.empty-form)")];
const field = (row, name) => row.querySelector(`[name$='-${name}']`);
const hhmm = (value) => {
  const match = /^(\d{1,2}):(\d{2})/.exec(value || "");
  return match ? `${match[1].padStart(2, "0")}:${match[2]}` : "";
};
const closesAfterOpening = ({ start, end }) => end === "00:00" || end > start;

// 1. Read the rows (those not marked for deletion) into seven days of periods.
const days = Array.from({ length: 7 }, () => ({ open: false, periods: [] }));
function readRows() {
  for (const row of formRows()) {
    if (field(row, "DELETE")?.checked) continue;
    const weekday = field(row, "weekday")?.value;
    const start = hhmm(field(row, "start")?.value);
    const end = hhmm(field(row, "end")?.value);
    if (weekday === "" || weekday === undefined || !start || !end) continue;
    const day = days[Number(weekday)];
    day.open = true;
    day.periods.push({ start, end });
  }
  days.forEach((day) => day.periods.sort((a, b) => a.start.localeCompare(b.start)));
}

// 2. Draw the grid.
const element = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

// A 24-hour "HH:MM" text field in every language (a browser's own time field may show "01:00 PM").
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
function timeInput(day, index, key, label) {
  const input = element("input", {
    type: "text",
    value: days[day].periods[index][key],
    required: true,
    inputMode: "numeric",
    maxLength: 5,
    placeholder: key === "start" ? "09:00" : "17:00",
    autocomplete: "off",
  });
  input.className = `wh-${key}`;
  input.setAttribute("aria-label", `${words.weekdays[day]}: ${label}`);
  input.addEventListener("input", () => {
    days[day].periods[index][key] = input.value.trim();
  });
  input.addEventListener("change", () => {
    input.value = hhmm(input.value.trim().replace(/^(\d{1,2})$/, "$1:00").replace(".", ":")) || input.value;
    days[day].periods[index][key] = input.value;
    check(dayRow(day));
  });
  return input;
}

function drawDay(day) {
  const row = dayRow(day);
  const cell = row.querySelector(".wh-periods");
  const toggle = row.querySelector(".wh-open");
  toggle.checked = days[day].open;
  cell.replaceChildren();
  if (!days[day].open) {
    cell.append(element("span", { className: "wh-closed", textContent: words.closed }));
    return;
  }
  days[day].periods.forEach((_period, index) => {
    const remove = element("button", { type: "button", className: "wh-remove", textContent: "×", title: words.removePeriod });
    remove.setAttribute("aria-label", `${words.weekdays[day]}: ${words.removePeriod}`);
    remove.addEventListener("click", () => {
      days[day].periods.splice(index, 1);
      if (!days[day].periods.length) days[day].open = false;
      drawDay(day);
    });
    cell.append(
      element(
        "span",
        { className: "wh-period" },
        timeInput(day, index, "start", words.opens),
        element("span", { className: "wh-dash", textContent: "–" }),
        timeInput(day, index, "end", words.closes),
        remove,
      ),
    );
  });
  const add = element("button", { type: "button", className: "wh-add", textContent: `+ ${words.addPeriod}` });
  add.setAttribute("aria-label", `${words.weekdays[day]}: ${words.addPeriod}`);
  add.addEventListener("click", () => {
    const last = days[day].periods.at(-1);
    days[day].periods.push(last ? { start: last.end === "00:00" ? "00:00" : last.end, end: "00:00" } : { ...DEFAULT_PERIOD });
    drawDay(day);
    dayRow(day).querySelector(".wh-period:last-of-type .wh-start")?.focus();
  });
  cell.append(add);
  check(row);
}

// A time not written HH:MM, or a period that closes before it opens, is marked at once (the server refuses
// them too).
function mark(input, message) {
  input.setCustomValidity(message);
  input.setAttribute("aria-invalid", String(Boolean(message)));
  input.title = message;
}
function check(row) {
  for (const period of row.querySelectorAll(".wh-period")) {
    const start = period.querySelector(".wh-start");
    const end = period.querySelector(".wh-end");
    mark(start, TIME.test(start.value) ? "" : words.timeFormat);
    if (!TIME.test(end.value)) mark(end, words.timeFormat);
    else mark(end, !TIME.test(start.value) || closesAfterOpening({ start: start.value, end: end.value }) ? "" : words.closeAfterOpen);
  }
}

let grid;
const dayRow = (day) => grid.querySelector(`tr[data-day="${day}"]`);

function drawGrid() {
  const zoneSelect = document.getElementById("id_time_zone");
  const zone = element("p", { className: "wh-zone" });
  const showZone = () => { zone.textContent = fill(words.zone, { zone: zoneSelect ? zoneSelect.value : "UTC" }); };
  showZone();
  zoneSelect?.addEventListener("change", showZone);

  const copy = element("button", { type: "button", className: "wh-copy", textContent: words.copyMonday });
  copy.addEventListener("click", () => {
    for (const day of WEEKDAYS) {
      days[day].open = days[0].open;
      days[day].periods = days[0].periods.map((period) => ({ ...period }));
      drawDay(day);
    }
    announce(words.copied);
  });

  const body = element("tbody");
  words.weekdays.forEach((name, day) => {
    const toggle = element("input", { type: "checkbox", className: "wh-open" });
    toggle.setAttribute("aria-label", `${name}: ${words.open}`);
    toggle.addEventListener("change", () => {
      days[day].open = toggle.checked;
      if (toggle.checked && !days[day].periods.length) days[day].periods.push({ ...DEFAULT_PERIOD });
      drawDay(day);
    });
    body.append(
      element(
        "tr",
        {},
        element("th", { scope: "row", textContent: name }),
        element("td", {}, toggle),
        element("td", { className: "wh-periods" }),
      ),
    );
  });
  const head = element(
    "thead",
    {},
    element("tr", {}, element("th", { textContent: words.day }), element("th", { textContent: words.open }), element("th", { textContent: words.periods })),
  );
  grid = element(
    "div",
    { className: "wh-grid" },
    element("div", { className: "wh-bar" }, element("h3", { textContent: words.title }), zone, copy),
    element("table", { className: "wh-table" }, head, body),
    element("p", { className: "help", textContent: words.midnight }),
  );
  [...body.children].forEach((row, day) => row.setAttribute("data-day", String(day)));
  return grid;
}

// 3. Write the grid back into the inline's rows just before the form is sent.
function addRow() {
  const total = document.getElementById(`id_${PREFIX}-TOTAL_FORMS`);
  const index = Number(total.value);
  const row = template.cloneNode(true);
  row.classList.remove("empty-form");
  row.id = `${PREFIX}-${index}`;
  for (const node of row.querySelectorAll("[name], [id], [for]")) {
    for (const attribute of ["name", "id", "for"]) {
      const value = node.getAttribute(attribute);
      if (value) node.setAttribute(attribute, value.replace("__prefix__", String(index)));
    }
  }
  template.before(row);
  total.value = String(index + 1);
  return row;
}

function writeRows() {
  const wanted = days.flatMap((day, weekday) =>
    day.open ? day.periods.filter((period) => period.start && period.end).map((period) => ({ weekday, ...period })) : [],
  );
  for (const row of formRows()) {
    const period = wanted.shift();
    const remove = field(row, "DELETE");
    if (period) {
      field(row, "weekday").value = String(period.weekday);
      field(row, "start").value = period.start;
      field(row, "end").value = period.end;
      if (remove) remove.checked = false;
    } else if (remove) {
      remove.checked = true;
    } else {
      // A row added on this page and not needed: left empty, Django skips it.
      field(row, "weekday").value = "";
      field(row, "start").value = "";
      field(row, "end").value = "";
    }
  }
  for (const period of wanted) {
    const row = addRow();
    field(row, "weekday").value = String(period.weekday);
    field(row, "start").value = period.start;
    field(row, "end").value = period.end;
  }
}

if (group && template && words.weekdays) {
  readRows();
  const fieldset = group.querySelector("fieldset");
  const table = fieldset.querySelector("table");
  fieldset.querySelector("h2").after(drawGrid());
  days.forEach((_day, index) => drawDay(index));
  // The rows stay visible only while they carry an error the grid cannot show.
  if (!table.querySelector(".errorlist")) table.hidden = true;
  group.classList.add("wh-on");

  group.closest("form")?.addEventListener("submit", (event) => {
    grid.querySelectorAll("tr[data-day]").forEach(check);
    const invalid = grid.querySelector("input[aria-invalid='true']");
    if (invalid) {
      event.preventDefault();
      document.querySelector("[data-tab='working-hours']")?.click();
      invalid.reportValidity();
      return;
    }
    writeRows();
  });
}
