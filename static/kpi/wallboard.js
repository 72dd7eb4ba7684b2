// The supervisor's live wallboard: one snapshot per change over /ws/wallboard/, ages counted here every second.
// Actions go to the REST API (kpi/api.py); the next snapshot shows their effect. No framework, no build step.
"use strict";

const config = JSON.parse(document.getElementById("wallboard-config").textContent);
const T = config.texts;
const state = { board: null, clockOffset: 0, socket: null, retry: 0, noteFor: null };

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const urlFor = (template, id) => template.replace("{id}", String(id));
const now = () => Date.now() + state.clockOffset;

function age(iso) {
  const seconds = Math.max(0, Math.floor((now() - Date.parse(iso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function remaining(iso) {
  return Math.max(0, Math.ceil((Date.parse(iso) - now()) / 1000));
}

function toast(content, kind = "info") {
  const box = document.getElementById("toast");
  box.replaceChildren(content);
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 5000);
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrf_token },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = {};
  }
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : Object.values(data).flat().join(" ");
    throw new Error(detail || T.failed);
  }
  return data;
}

async function act(url, body, done) {
  try {
    const result = await post(url, body);
    done(result);
  } catch (error) {
    toast(document.createTextNode(error.message || T.failed), "error");
  }
}

// --- actions ---------------------------------------------------------------------------------------------

function takeOver(id) {
  act(urlFor(config.urls.take_over, id), {}, (result) =>
    toast(el("span", {}, `${T.taken_over} `, el("a", { href: result.console_url, text: T.open_console }))),
  );
}

function reassign(id, value) {
  if (!value) return;
  const body = value === "queue" ? { to_queue: true } : { to_operator_id: Number(value) };
  act(urlFor(config.urls.reassign, id), body, () => toast(document.createTextNode(T.reassigned)));
}

function closeConversation(id) {
  if (!window.confirm(T.confirm_close)) return;
  act(urlFor(config.urls.close, id), {}, () => toast(document.createTextNode(T.closed)));
}

function openNote(id) {
  state.noteFor = id;
  document.getElementById("note-text").value = "";
  document.getElementById("note-dialog").showModal();
  document.getElementById("note-text").focus();
}

function setUpNoteDialog() {
  document.getElementById("note-title").textContent = T.note_title;
  document.getElementById("note-hint").textContent = T.note_hint;
  document.getElementById("note-save").textContent = T.save_note;
  document.getElementById("note-cancel").textContent = T.cancel;
  document.getElementById("note-cancel").addEventListener("click", () => document.getElementById("note-dialog").close());
  document.getElementById("note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = document.getElementById("note-text").value.trim();
    if (!text || state.noteFor === null) return;
    act(urlFor(config.urls.notes, state.noteFor), { text }, () => {
      document.getElementById("note-dialog").close();
      toast(document.createTextNode(T.note_saved));
    });
  });
}

// --- rendering -------------------------------------------------------------------------------------------

function button(label, onclick, primary = false) {
  return el("button", { type: "button", class: `btn btn-small${primary ? " btn-primary" : ""}`, text: label, onclick });
}

function reassignSelect(channel, row, { toQueue }) {
  const select = el("select", { "aria-label": T.reassign, onchange: (event) => reassign(row.conversation_id, event.target.value) },
    el("option", { value: "", text: T.reassign }),
    toQueue ? el("option", { value: "queue", text: T.to_queue }) : null,
    channel.operators
      .filter((operator) => operator.is_active && operator.id !== row.operator_id)
      .map((operator) =>
        el("option", {
          value: String(operator.id),
          text: `${operator.name} · ${T[operator.presence]} · ${operator.load}${operator.limit === null ? "" : `/${operator.limit}`}`,
        }),
      ),
  );
  return select;
}

function actions(channel, row, held) {
  const mine = row.operator_id === config.me;
  return el("div", { class: "row-actions" },
    mine ? null : button(T.take_over, () => takeOver(row.conversation_id), true),
    reassignSelect(channel, row, { toQueue: held }),
    button(T.note, () => openNote(row.conversation_id)),
    button(T.close, () => closeConversation(row.conversation_id)),
    el("a", { class: "btn btn-small", href: urlFor(config.urls.conversation, row.conversation_id), text: T.open }),
  );
}

function tile(label, value, alert = false) {
  return el("div", { class: `tile${alert ? " alert" : ""}` }, el("div", { class: "value", text: String(value) }), el("div", { class: "label", text: label }));
}

function waitingTable(channel) {
  if (!channel.waiting.length) return el("p", { class: "muted", text: T.nobody_waiting });
  return el("table", { class: "data compact" },
    el("thead", {}, el("tr", {}, [T.client, T.source, T.wait, T.actions].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, channel.waiting.map((row) =>
      el("tr", { class: row.is_unprocessed ? "row-miss" : "", dataset: { conversationId: String(row.conversation_id) } },
        el("td", {}, el("div", { text: `#${row.conversation_id} ${row.client_name}` }),
          row.offers.length
            ? el("div", { class: "offers" }, `${T.offered_to}: `, row.offers.map((offer, i) =>
                el("span", {}, i ? ", " : "", `${offer.operator_name} (`, el("span", { class: "countdown", dataset: { expires: offer.expires_at } }), ")")))
            : null,
          row.held_back_until ? el("div", { class: "offers", text: T.held_back }) : null,
          row.is_offline_request ? el("div", { class: "offers offline-request", text: T.offline_request }) : null),
        el("td", { text: T.sources[row.source] || row.source }),
        el("td", {}, el("span", { class: "wait age", dataset: { since: row.waiting_since } })),
        el("td", {}, actions(channel, row, false)),
      ))),
  );
}

function heldTable(channel) {
  if (!channel.held.length) return el("p", { class: "muted", text: T.nobody_held });
  return el("table", { class: "data compact" },
    el("thead", {}, el("tr", {}, [T.client, T.operator, T.since, T.actions].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, channel.held.map((row) =>
      el("tr", { dataset: { conversationId: String(row.conversation_id) } },
        el("td", {}, el("div", { text: `#${row.conversation_id} ${row.client_name}` }), el("div", { class: "offers", text: T.sources[row.source] || row.source })),
        el("td", { text: row.operator_name }),
        el("td", {},
          row.assigned_at ? el("span", { class: "age", dataset: { since: row.assigned_at } }) : null,
          row.awaiting_reply_since
            ? el("div", { class: "offers" }, `${T.awaiting_reply}: `, el("span", { class: "wait age", dataset: { since: row.awaiting_reply_since } }))
            : null),
        el("td", {}, actions(channel, row, true)),
      ))),
  );
}

function operatorList(channel) {
  if (!channel.operators.length) return el("p", { class: "muted", text: T.no_operators });
  return el("table", { class: "data compact operators" },
    el("thead", {}, el("tr", {}, [T.operator, "", T.load, T.today].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, channel.operators.map((operator) => {
      const share = operator.limit ? Math.min(1, operator.load / operator.limit) : 0;
      return el("tr", { dataset: { operatorId: String(operator.id) } },
        el("td", { text: operator.name }),
        el("td", {}, el("span", { class: `presence presence-${operator.presence}`, text: T[operator.presence] })),
        el("td", {},
          operator.limit === null ? null : el("span", { class: `loadbar${share >= 1 ? " full" : ""}` }, el("span", { style: `width:${Math.round(share * 100)}%` })),
          el("span", { class: "load", text: ` ${operator.load}${operator.limit === null ? "" : ` / ${operator.limit}`}` })),
        el("td", { class: "num", text: String(operator.today) }),
      );
    })),
  );
}

function render() {
  const root = document.getElementById("wallboard");
  if (!state.board) return;
  root.replaceChildren(...state.board.channels.map((channel) => {
    const online = channel.operators.filter((o) => o.presence === "online").length;
    return el("section", { class: "board", dataset: { openChannelId: String(channel.id) }, "aria-label": channel.name },
      el("div", { class: "board-head" }, el("h2", { text: channel.name }), el("span", { class: "muted small", text: channel.time_zone })),
      ...(channel.unreachable_sources || []).map((down) => el("p", { class: "outage", role: "status" },
        el("strong", { text: T.source_not_answering.replace("%(source)s", down.source) }),
        down.since ? ` ${T.outage_duration} ` : null,
        down.since ? el("span", { class: "age", dataset: { since: down.since } }) : null)),
      el("div", { class: "tiles" },
        tile(T.waiting, channel.waiting.length, channel.waiting.length > 0),
        el("div", { class: "tile" },
          el("div", { class: "value" }, channel.longest_waiting_since ? el("span", { class: "age", dataset: { since: channel.longest_waiting_since } }) : "—"),
          el("div", { class: "label", text: T.longest })),
        tile(T.online, `${online} / ${channel.operators.length}`),
        tile(`${T.conversations_today} (${T.today.toLowerCase()})`, channel.today.conversations),
        tile(T.missed, channel.today.missed, channel.today.missed > 0),
        tile(T.response_misses, channel.today.response_misses, channel.today.response_misses > 0),
        tile(`${T.likes} / ${T.dislikes}`, `${channel.today.likes} / ${channel.today.dislikes}`),
      ),
      el("div", { class: "board-grid" },
        el("div", {},
          el("section", { class: "panel" }, el("h2", { text: T.waiting }), waitingTable(channel)),
          el("section", { class: "panel" }, el("h2", { text: T.with_operators }), heldTable(channel))),
        el("section", { class: "panel" }, el("h2", { text: T.operators }), operatorList(channel)),
      ),
    );
  }));
  tick();
}

function tick() {
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = age(node.dataset.since);
    if (node.classList.contains("wait")) node.classList.toggle("long", now() - Date.parse(node.dataset.since) > 120000);
  }
  for (const node of document.querySelectorAll("[data-expires]")) node.textContent = `${remaining(node.dataset.expires)} s`;
}

// --- socket ----------------------------------------------------------------------------------------------

function setConnection(kind) {
  const badge = document.getElementById("wallboard-state");
  badge.textContent = kind === "live" ? T.live : kind === "down" ? T.reconnecting : T.connecting;
  badge.className = `badge ${kind}`;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}${config.socket}`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    state.retry = 0;
    setConnection("live");
  });
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type !== "wallboard") return;
    state.clockOffset = Date.parse(frame.server_time) - Date.now();
    state.board = frame;
    render();
  });
  socket.addEventListener("close", (event) => {
    setConnection("down");
    if (event.code === 4403) {
      window.location.reload(); // no longer a supervisor of these channels: the page says why
      return;
    }
    state.retry = Math.min(state.retry + 1, 6);
    setTimeout(connect, 500 * 2 ** state.retry);
  });
}

setUpNoteDialog();
setConnection("connecting");
connect();
setInterval(tick, 1000);
