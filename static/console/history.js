// History and search in the console (issue 15): every conversation the operator may see, found by its words
// and filtered; and the client card's timeline (every conversation of the client and of their CRM contact).
//
// A result opens the conversation at the matching message through the console's link,
// #conversation=<id>&message=<id> (console.js follows it). What a client wrote is put on the page as text nodes
// only: the server sends a snippet as plain text with the offsets of its matches, marked here with <mark>.

import { $, api, config, gettext, openLink } from "./common.js";
import { formatDate, formatDateTime } from "./formats.js";
import { el, formatTime } from "./socket.js";

const found = {
  cursor: null,
  loaded: false,
  timer: null,
  request: 0,
  timelineFor: null,
};

function snippetNode(snippet) {
  const node = el("span", { class: "preview snippet" });
  let at = 0;
  for (const [start, end] of snippet.highlights) {
    if (start < at || end <= start) continue;
    node.append(snippet.text.slice(at, start), el("mark", { text: snippet.text.slice(start, end) }));
    at = end;
  }
  node.append(snippet.text.slice(at));
  return node;
}

function resultItem(row) {
  const open = () => openLink(row.id, row.message_id);
  return el("li", {
      class: "conv-item history-item",
      dataset: { conversationId: String(row.id), messageId: row.message_id ? String(row.message_id) : "" },
      tabindex: "0",
      onclick: open,
      onkeydown: (event) => event.key === "Enter" && open(),
    },
    el("span", { class: "avatar", text: (row.client_name || "?").slice(0, 1).toUpperCase() }),
    el("span", { class: "name", text: row.client_name }),
    el("span", { class: "when", text: formatTime(row.at), title: formatDateTime(row.at) }),
    row.snippet ? snippetNode(row.snippet) : el("span", { class: "preview", text: row.operator_name }),
    el("span", { class: "tags" },
      el("span", { class: "tag", text: row.open_channel.name }),
      el("span", { class: "tag", text: row.source_label }),
      el("span", { class: `tag${row.is_open ? "" : " tag-closed"}`, text: row.status_label }),
      row.is_unprocessed ? el("span", { class: "tag tag-unprocessed", text: gettext("Missed") }) : null,
    ),
  );
}

function select(name, label, options) {
  return el("label", {},
    label,
    el("select", { name }, el("option", { value: "", text: gettext("All") }),
      ...options.map((option) => el("option", { value: String(option.value), text: option.label }))),
  );
}

function buildPanel(panel) {
  panel.replaceChildren(
    el("form", { class: "history-form", id: "history-form", role: "search", autocomplete: "off" },
      el("input", {
        type: "search",
        id: "history-q",
        name: "q",
        maxlength: "200",
        placeholder: gettext("Search messages, names, phones, e-mails"),
        "aria-label": gettext("Search conversations"),
      }),
      el("details", { class: "history-filters" },
        el("summary", { text: gettext("Filters") }),
        el("div", { class: "history-filter-grid", id: "history-filter-grid" }),
      ),
    ),
    el("p", { class: "empty", id: "history-status", role: "status" }),
    el("ul", { id: "history-results", class: "history-results" }),
    el("button", { type: "button", class: "btn btn-small", id: "history-more", hidden: true, text: gettext("Show more") }),
  );
  $("history-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  $("history-form").addEventListener("input", () => {
    clearTimeout(found.timer);
    found.timer = setTimeout(search, 300);
  });
  $("history-form").addEventListener("change", () => search());
  $("history-more").addEventListener("click", () => search({ more: true }));
}

async function loadFilters() {
  const choices = await api(config.urls.history_filters);
  $("history-filter-grid").replaceChildren(
    select("open_channel", gettext("Open channel"), choices.open_channels.map((c) => ({ value: c.id, label: c.name }))),
    select("operator", gettext("Operator"), choices.operators.map((o) => ({ value: o.id, label: o.name }))),
    select("source", gettext("Source"), choices.sources),
    select("status", gettext("Status"), [
      { value: "open", label: gettext("Open") },
      { value: "closed", label: gettext("Closed") },
      ...choices.statuses,
    ]),
    el("label", {}, gettext("From"), el("input", { type: "date", name: "from" })),
    el("label", {}, gettext("To"), el("input", { type: "date", name: "to" })),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "missed", value: "true" }),
      gettext("Missed only")),
  );
}

function queryString(more) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("history-form"))) if (value) params.set(name, String(value).trim());
  if (more && found.cursor) params.set("cursor", found.cursor);
  return params.toString();
}

async function search({ more = false } = {}) {
  const request = ++found.request;
  const status = $("history-status");
  status.textContent = gettext("Searching…");
  try {
    const page = await api(`${config.urls.history}?${queryString(more)}`);
    if (request !== found.request) return;
    found.cursor = page.next_cursor;
    const items = page.results.map(resultItem);
    if (more) $("history-results").append(...items);
    else $("history-results").replaceChildren(...items);
    const shown = $("history-results").children.length;
    status.textContent = shown ? "" : gettext("Nothing found.");
    $("history-more").hidden = !page.next_cursor;
  } catch (error) {
    if (request === found.request) status.textContent = error.message;
  }
}

function showHistory(show) {
  for (const section of document.querySelectorAll(".lists > section.list")) section.hidden = show;
  $("history-panel").hidden = !show;
  $("tab-lists").setAttribute("aria-selected", show ? "false" : "true");
  $("tab-history").setAttribute("aria-selected", show ? "true" : "false");
  if (show && !found.loaded) {
    found.loaded = true;
    loadFilters().catch((error) => ($("history-status").textContent = error.message));
    search();
  }
  if (show) $("history-q").focus();
}

/** Wire the History tab. */
export function initHistory() {
  buildPanel($("history-panel"));
  $("tab-lists").addEventListener("click", () => showHistory(false));
  $("tab-history").addEventListener("click", () => showHistory(true));
}

function timelineItem(row, currentId) {
  const current = row.id === currentId;
  return el("li", {},
    el("a", {
        href: `#conversation=${row.id}`,
        "aria-current": current ? "true" : "false",
        onclick: (event) => {
          event.preventDefault();
          openLink(row.id);
        },
      },
      el("span", { class: "when", text: formatDate(row.at) }),
      " ",
      el("span", { text: `${row.source_label} · ${row.open_channel.name} · ${row.status_label}` }),
    ),
  );
}

/** The client card's timeline for the open conversation (read once per conversation opened). */
export async function loadTimeline(conversationId) {
  const list = $("client-timeline");
  if (!list || found.timelineFor === conversationId) return;
  found.timelineFor = conversationId;
  list.replaceChildren(el("li", { class: "muted", text: gettext("Loading…") }));
  try {
    const url = config.urls.timeline.replace("{id}", String(conversationId));
    const timeline = await api(url);
    if (found.timelineFor !== conversationId) return;
    list.replaceChildren(...timeline.conversations.map((row) => timelineItem(row, conversationId)));
  } catch (error) {
    if (found.timelineFor === conversationId) list.replaceChildren(el("li", { class: "muted", text: error.message }));
  }
}
