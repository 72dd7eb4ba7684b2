// Operator console: lists (offered to me, mine, waiting in my queues), the open conversation, the client card.
//
// The database is the truth. The socket brings events; after every (re)connect or stall the console
// re-reads the lists and the messages after the last one it read from the database (`?after=<id>`).
// Every piece of text that comes from a client or an operator is put on the page with textContent
// (see `el`), never as HTML.

import { LiveSocket, el, formatTime, initials, websocketUrl } from "./socket.js";
import { cannedMatches, replaceShortcut, shortcutAtCaret } from "./canned.js";

// Django's JavaScriptCatalog (loaded before this module, in the operator's language) translates the texts;
// without it the English text stays.
const gettext = (text) => (window.gettext ? window.gettext(text) : text);
const interpolate = (format, values) => format.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
const config = JSON.parse(document.getElementById("console-config").textContent);
const $ = (id) => document.getElementById(id);
const urlFor = (template, id) => template.replace("{id}", String(id));

const state = {
  operator: null,
  channels: [],
  lists: { offered: [], mine: [], queued: [] },
  serverOffsetMs: 0,
  currentId: null,
  detail: null,
  messages: new Map(),
  notes: new Map(), // private notes of the open conversation, shown in its timeline, never sent to the client
  // Highest message id read from the database. Resyncs ask for what follows it, not for what follows
  // the newest live event: an event that arrived after a drop must not hide the ones lost during it.
  fetchedMessageId: 0,
  pending: [],
  knownOfferIds: new Set(),
  active: true,
  suggestions: [],
  suggestionIndex: 0,
  lastTypingSentAt: 0,
  typingTimer: null,
  listRefreshTimer: null,
  offerCues: 0,
};

// --- HTTP ---------------------------------------------------------------------------------------

async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = config.csrf_token;
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 403 && method === "GET" && /credentials/i.test(data.detail || "")) {
    window.location.assign("/console/login/?next=/console/");
  }
  if (!response.ok) {
    const message = data.detail || Object.values(data).flat().join(" ") || interpolate(gettext("Request failed (%(status)s)"), { status: response.status });
    throw Object.assign(new Error(message), { status: response.status, data });
  }
  return data;
}

// --- notifications --------------------------------------------------------------------------------

function toast(text, kind = "info", title = "") {
  const node = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    title ? el("strong", { text: title }) : null, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 6000);
}

let audioContext = null;
function playOfferSound() {
  // Two short tones; browsers allow audio once the operator has interacted with the page.
  try {
    audioContext = audioContext || new AudioContext();
    if (audioContext.state === "suspended") audioContext.resume();
    const start = audioContext.currentTime;
    [880, 1175].forEach((frequency, index) => {
      const oscillator = audioContext.createOscillator();
      const gain = audioContext.createGain();
      const at = start + index * 0.18;
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      oscillator.connect(gain).connect(audioContext.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.17);
    });
  } catch {
    // No audio device: the banner and the pulsing list entry still show the offer.
  }
  state.offerCues += 1;
  document.body.dataset.offerCues = String(state.offerCues);
}

function cueNewOffers(rows) {
  const fresh = rows.filter((row) => !state.knownOfferIds.has(row.offer.id));
  rows.forEach((row) => state.knownOfferIds.add(row.offer.id));
  if (!fresh.length) return;
  playOfferSound();
  const first = fresh[0];
  $("offer-banner-text").textContent = `${first.client_name} · ${first.open_channel.name}`;
  $("offer-banner-countdown").dataset.expiresAt = first.offer.expires_at;
  $("offer-banner").dataset.conversationId = String(first.id);
  $("offer-banner").hidden = false;
  updateCountdowns();
}

function updateTitle() {
  const offers = state.lists.offered.length;
  document.title = offers
    ? interpolate(gettext("(%(count)s) New chat · Console"), { count: offers })
    : `${gettext("Console")} · Open Channels`;
}

// --- lists --------------------------------------------------------------------------------------

function serverNow() {
  return Date.now() + state.serverOffsetMs;
}

function setServerTime(iso) {
  if (iso) state.serverOffsetMs = Date.parse(iso) - Date.now();
}

function remainingText(expiresAt) {
  const seconds = Math.max(0, Math.round((Date.parse(expiresAt) - serverNow()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function updateCountdowns() {
  let expired = false;
  for (const node of document.querySelectorAll("[data-expires-at]")) {
    node.textContent = remainingText(node.dataset.expiresAt);
    if (Date.parse(node.dataset.expiresAt) <= serverNow()) expired = true;
  }
  if (expired) scheduleListRefresh(1000);
}

function previewText(row) {
  if (!row.last_message_text) return "";
  const prefix = row.last_message_author === "operator" ? "You: " : "";
  return prefix + row.last_message_text;
}

function conversationItem(row, kind) {
  const isOffer = kind === "offered";
  return el("li", {
      class: `conv-item${isOffer ? " is-offer" : ""}`,
      "aria-current": row.id === state.currentId ? "true" : "false",
      dataset: { conversationId: String(row.id), list: kind },
      tabindex: "0",
      onclick: () => openConversation(row.id),
      onkeydown: (event) => event.key === "Enter" && openConversation(row.id),
    },
    el("span", { class: "avatar", text: initials(row.client_name) }),
    el("span", { class: "name", text: row.client_name }),
    isOffer
      ? el("span", { class: "when countdown", dataset: { expiresAt: row.offer.expires_at }, title: "Time left to accept" })
      : el("span", { class: "when", text: formatTime(row.last_message_at) }),
    el("span", { class: "preview", text: previewText(row) }),
    el("span", { class: "tags" },
      el("span", { class: "tag", text: row.open_channel.name }),
      row.is_unprocessed ? el("span", { class: "tag tag-unprocessed", text: gettext("Unprocessed") }) : null,
      row.status === "closed_pending_rating" ? el("span", { class: "tag", text: gettext("Waiting for rating") }) : null,
    ),
  );
}

function renderLists() {
  for (const kind of ["offered", "mine", "queued"]) {
    const rows = state.lists[kind];
    $(`list-${kind}`).replaceChildren(...rows.map((row) => conversationItem(row, kind)));
    $(`count-${kind}`).textContent = rows.length ? String(rows.length) : "";
    $(`empty-${kind}`).hidden = rows.length > 0;
  }
  if (!state.lists.offered.some((row) => String(row.id) === $("offer-banner").dataset.conversationId)) {
    $("offer-banner").hidden = true;
  }
  updateCountdowns();
  updateTitle();
}

async function loadLists() {
  const lists = await api(config.urls.conversations);
  setServerTime(lists.server_time);
  state.lists = { offered: lists.offered, mine: lists.mine, queued: lists.queued };
  renderLists();
  cueNewOffers(lists.offered);
}

function scheduleListRefresh(delay = 120) {
  // Bursts of events (an offer, its status, a message) cost one request.
  clearTimeout(state.listRefreshTimer);
  state.listRefreshTimer = setTimeout(() => loadLists().catch((error) => toast(error.message, "error")), delay);
}

// --- operator status ----------------------------------------------------------------------------

function renderOperator() {
  const operator = state.operator;
  if (!operator) return;
  const pill = $("status-pill");
  let status = "offline";
  let label = gettext("Offline");
  if (!operator.clocked_in) [status, label] = ["out", gettext("Not clocked in")];
  else if (operator.on_break) [status, label] = ["break", gettext("On a break")];
  else if (operator.is_online) [status, label] = ["online", gettext("Online")];
  pill.dataset.status = status;
  pill.textContent = label;
  $("btn-clock").textContent = operator.clocked_in ? gettext("Clock out") : gettext("Clock in");
  $("btn-break").textContent = operator.on_break ? gettext("End break") : gettext("Start break");
  $("btn-break").disabled = !operator.clocked_in;
  $("my-channels").replaceChildren(...state.channels.map((channel) => el("span", { class: "chip", text: channel.name })));
}

async function loadState() {
  const data = await api(config.urls.state);
  setServerTime(data.server_time);
  state.operator = data.operator;
  state.channels = data.open_channels;
  renderOperator();
}

async function changeStatus(action) {
  try {
    const data = await api(config.urls.status, { method: "POST", body: { action } });
    state.operator = data.operator;
    state.channels = data.open_channels;
    renderOperator();
  } catch (error) {
    toast(error.message, "error");
  }
}

// --- the open conversation ----------------------------------------------------------------------

function authorLabel(message) {
  if (message.author_kind === "client") return state.detail ? state.detail.client.name : gettext("Client");
  if (message.author_kind === "operator") return message.author_id === config.operator.id ? gettext("You") : message.author_name || gettext("Operator");
  if (message.author_kind === "bot") return gettext("Bot");
  return "";
}

function messageItem(message) {
  const kind = message.author_kind;
  return el("li", { class: `msg msg-${kind}`, dataset: { messageId: String(message.id) } },
    kind === "system" ? null : el("span", { class: "who", text: `${authorLabel(message)} · ${formatTime(message.created_at)}` }),
    el("div", { class: "bubble", text: message.text }),
  );
}

function noteItem(note) {
  const who = note.author_id === config.operator.id ? gettext("You") : note.author_name;
  return el("li", { class: "msg msg-note", dataset: { noteId: String(note.id) } },
    el("span", { class: "who", text: `${gettext("Private note")} · ${who} · ${formatTime(note.created_at)}` }),
    el("div", { class: "bubble", text: note.text }),
  );
}

function pendingItem(pending) {
  return el("li", { class: `msg msg-operator ${pending.failed ? "is-failed" : "is-pending"}`, dataset: { pending: "true" } },
    el("span", { class: "who", text: pending.failed ? gettext("Not sent") : gettext("Sending…") }),
    el("div", { class: "bubble", text: pending.text }),
    pending.failed
      ? el("button", { class: "btn btn-small", type: "button", text: gettext("Retry"), onclick: () => retrySend(pending) })
      : null,
    pending.failed ? el("span", { class: "state", text: pending.error }) : null,
  );
}

function renderMessages() {
  const list = $("messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const timeline = [
    ...[...state.messages.values()].map((message) => ({ at: Date.parse(message.created_at), id: message.id, item: () => messageItem(message) })),
    ...[...state.notes.values()].map((note) => ({ at: Date.parse(note.created_at), id: note.id, item: () => noteItem(note) })),
  ].sort((a, b) => a.at - b.at || a.id - b.id);
  list.replaceChildren(...timeline.map((entry) => entry.item()), ...state.pending.map(pendingItem));
  if (nearBottom || state.forceScroll) list.scrollTop = list.scrollHeight;
  state.forceScroll = false;
}

function addMessages(messages) {
  let changed = false;
  for (const message of messages) {
    if (message.conversation_id !== undefined && message.conversation_id !== state.currentId) continue;
    if (!state.messages.has(message.id)) {
      state.messages.set(message.id, message);
      changed = true;
    }
  }
  if (changed) renderMessages();
}

function addNotes(notes) {
  let changed = false;
  for (const note of notes) {
    if (note.conversation_id !== state.currentId || state.notes.has(note.id)) continue;
    state.notes.set(note.id, note);
    changed = true;
  }
  if (changed) renderMessages();
}

function fact(label, value) {
  return value ? [el("dt", { text: label }), el("dd", { text: value })] : [];
}

function renderDetail() {
  const detail = state.detail;
  $("conversation-empty").hidden = Boolean(detail);
  $("conversation-view").hidden = !detail;
  $("client-empty").hidden = Boolean(detail);
  $("client-details").hidden = !detail;
  if (!detail) return;
  const client = detail.client;
  $("conv-title").textContent = client.name;
  let status = detail.status_label;
  if (detail.status === "active") status = detail.operator_id === config.operator.id
      ? gettext("With you")
      : interpolate(gettext("With %(name)s"), { name: detail.operator_name });
  const rating = detail.rating
    ? interpolate(gettext("Client rating: %(rating)s"), { rating: detail.rating === "like" ? "👍" : "👎" })
    : "";
  $("conv-meta").textContent = [detail.open_channel.name, status, rating].filter(Boolean).join(" · ");
  $("btn-accept").hidden = !detail.offer;
  $("btn-transfer").hidden = !detail.can_transfer;
  $("btn-close").hidden = !detail.can_close;
  if (!detail.can_transfer) $("transfer-panel").hidden = true;
  $("reply").disabled = !detail.can_reply;
  $("btn-send").disabled = !detail.can_reply;
  $("reply").placeholder = detail.can_reply
    ? gettext("Write a reply… Type / for canned replies, Enter to send, Shift+Enter for a new line")
    : gettext("Only the operator holding this conversation can reply.");

  $("client-avatar").textContent = initials(client.name);
  $("client-name").textContent = client.name;
  $("client-source").textContent = client.source;
  const contact = client.contact;
  $("client-facts").replaceChildren(
    ...fact(gettext("Username"), client.username),
    ...fact(gettext("Phone"), client.phone),
    ...fact("E-mail", client.email),
    // Typed by the visitor and not confirmed through the link mailed to it: shown, never trusted (no CRM match, no lead).
    ...fact(gettext("E-mail, not confirmed"), client.unverified_email),
    ...fact("CRM contact", contact ? contact.full_name : "Not in the CRM"),
    ...fact(gettext("Responsible"), contact ? contact.responsible : ""),
    ...fact(gettext("Conversations"), String(client.conversations_count)),
    ...fact(gettext("Consent"), client.consents.length ? `${client.consents[0].form}, ${formatTime(client.consents[0].accepted_at)}` : ""),
    ...fact(gettext("Contactable"), client.can_be_contacted ? gettext("Yes") : gettext("No phone or e-mail")),
  );
  const leadButton = $("btn-lead");
  const leadNote = $("lead-note");
  if (detail.lead) {
    leadButton.disabled = true;
    leadButton.textContent = gettext("Lead created");
    leadNote.className = "note is-ok";
    leadNote.textContent = detail.lead.title;
  } else if (leadNote.dataset.conversationId !== String(detail.id)) {
    leadButton.disabled = false;
    leadButton.textContent = gettext("Create lead");
    leadNote.className = "note";
    leadNote.textContent = "";
  }
  leadNote.dataset.conversationId = String(detail.id);
  renderCannedList(detail.canned_replies);
}

function renderCannedList(replies) {
  const list = $("canned-list");
  if (!replies.length) {
    list.replaceChildren(el("li", { class: "muted", text: gettext("This open channel has no canned replies.") }));
    return;
  }
  list.replaceChildren(...replies.map((reply) => el("li", {},
    el("button", { type: "button", title: reply.text, onclick: () => insertCanned(reply, true) },
      el("span", { class: "shortcut", text: `/${reply.shortcut}` }),
      reply.title ? ` ${reply.title}` : "",
      el("span", { class: "text", text: reply.text }),
    ),
  )));
}

async function loadConversation(conversationId, { onlyNew = false } = {}) {
  const after = onlyNew && state.fetchedMessageId ? `?after=${state.fetchedMessageId}` : "";
  try {
    const [detail, history] = await Promise.all([
      api(urlFor(config.urls.conversation, conversationId)),
      api(urlFor(config.urls.messages, conversationId) + after),
    ]);
    if (state.currentId !== conversationId) return;
    state.detail = detail;
    renderDetail();
    addNotes(detail.notes || []);
    addMessages(history.messages);
    for (const message of history.messages) state.fetchedMessageId = Math.max(state.fetchedMessageId, message.id);
    reconcilePending(history.messages);
  } catch (error) {
    if (error.status === 404 && state.currentId === conversationId) {
      toast(gettext("This conversation is not available to you any more."), "error");
      closeView();
      return;
    }
    throw error;
  }
}

async function openConversation(conversationId) {
  if (state.currentId !== conversationId) {
    state.currentId = conversationId;
    state.detail = null;
    state.messages = new Map();
    state.notes = new Map();
    state.fetchedMessageId = 0;
    state.pending = [];
    state.forceScroll = true;
    $("messages").replaceChildren();
    $("typing").hidden = true;
    $("transfer-panel").hidden = true;
    $("reply").value = "";
    hideSuggestions();
  }
  for (const item of document.querySelectorAll(".conv-item")) {
    item.setAttribute("aria-current", item.dataset.conversationId === String(conversationId) ? "true" : "false");
  }
  if (socket.isOpen) socket.request("watch", { conversation_id: conversationId }).catch(() => {});
  await loadConversation(conversationId).catch((error) => toast(error.message, "error"));
}

function closeView() {
  state.currentId = null;
  state.detail = null;
  state.messages = new Map();
  renderDetail();
  if (socket.isOpen) socket.send("watch", { conversation_id: null });
}

// --- actions --------------------------------------------------------------------------------------

async function act(action, payload, success) {
  try {
    const answer = await socket.request(action, payload);
    if (success) success(answer);
    return answer;
  } catch (error) {
    toast(error.message, "error");
    return null;
  } finally {
    scheduleListRefresh(50);
  }
}

async function acceptCurrent() {
  const offer = state.detail && state.detail.offer;
  if (!offer) return;
  await act("accept", { offer_id: offer.id });
  $("offer-banner").hidden = true;
  await loadConversation(state.currentId, { onlyNew: true });
  $("reply").focus();
}

async function closeCurrent() {
  if (!state.currentId) return;
  const answer = await act("close", { conversation_id: state.currentId });
  if (answer) {
    toast(gettext("Conversation closed."));
    await loadConversation(state.currentId, { onlyNew: true });
  }
}

function sendReply(text) {
  const conversationId = state.currentId;
  const pending = { text, conversationId, sentAt: Date.now(), failed: false, error: "" };
  state.pending.push(pending);
  state.forceScroll = true;
  renderMessages();
  socket.request("send", { conversation_id: conversationId, text })
    .then((answer) => {
      state.pending = state.pending.filter((item) => item !== pending);
      if (state.currentId === conversationId) addMessages([answer.message]);
      renderMessages();
      if (state.detail && !state.detail.can_close) loadConversation(conversationId, { onlyNew: true });
      scheduleListRefresh();
    })
    .catch((error) => {
      pending.failed = true;
      // A reply sent just before the connection dropped may have been stored: the re-sync tells.
      pending.unsure = Boolean(error.connectionLost);
      pending.error = error.message;
      renderMessages();
      if (!pending.unsure) toast(error.message, "error");
    });
}

function retrySend(pending) {
  state.pending = state.pending.filter((item) => item !== pending);
  sendReply(pending.text);
}

function reconcilePending(messages) {
  const mine = messages.filter((message) => message.author_kind === "operator" && message.author_id === config.operator.id);
  const before = state.pending.length;
  state.pending = state.pending.filter((pending) => !(pending.unsure && mine.some((message) => message.text === pending.text)));
  if (state.pending.length !== before) renderMessages();
}

async function submitComposer(event) {
  event.preventDefault();
  const reply = $("reply");
  const text = reply.value.trim();
  if (!text || !state.currentId) return;
  if (text.length > config.max_message_length) {
    toast(interpolate(gettext("A reply is at most %(limit)s characters."), { limit: config.max_message_length }), "error");
    return;
  }
  reply.value = "";
  hideSuggestions();
  sendReply(text);
}

async function openTransfer() {
  const panel = $("transfer-panel");
  if (!panel.hidden) {
    panel.hidden = true;
    return;
  }
  try {
    const targets = await api(urlFor(config.urls.transfer_targets, state.currentId));
    $("transfer-operator").replaceChildren(
      el("option", { value: "", text: "—" }),
      ...targets.operators.map((operator) =>
        el("option", { value: String(operator.id), text: `${operator.name} (${operator.is_online ? "online" : "offline"})` })),
    );
    $("transfer-channel").replaceChildren(
      el("option", { value: "", text: "—" }),
      ...targets.open_channels.map((channel) => el("option", { value: String(channel.id), text: channel.name })),
    );
    panel.hidden = false;
  } catch (error) {
    toast(error.message, "error");
  }
}

async function submitTransfer(event) {
  event.preventDefault();
  const operatorId = Number($("transfer-operator").value) || null;
  const channelId = Number($("transfer-channel").value) || null;
  if (Boolean(operatorId) === Boolean(channelId)) {
    toast(gettext("Choose either an operator or an open channel."), "error");
    return;
  }
  const target = operatorId ? $("transfer-operator").selectedOptions[0].text : $("transfer-channel").selectedOptions[0].text;
  const payload = { conversation_id: state.currentId };
  if (operatorId) payload.to_operator_id = operatorId;
  else payload.to_open_channel_id = channelId;
  const answer = await act("transfer", payload);
  if (answer) {
    toast(interpolate(gettext("Transferred to %(target)s."), { target }));
    $("transfer-panel").hidden = true;
    await loadConversation(state.currentId, { onlyNew: true });
  }
}

async function createLead() {
  const button = $("btn-lead");
  const note = $("lead-note");
  button.disabled = true;
  try {
    const lead = await api(urlFor(config.urls.lead, state.currentId), { method: "POST", body: {} });
    note.className = "note is-ok";
    note.textContent = interpolate(gettext("Lead created: %(title)s"), { title: lead.title });
    button.textContent = gettext("Lead created");
  } catch (error) {
    // C2: the reason (e.g. an anonymous visitor left no phone or e-mail) is shown next to the button.
    note.className = "note is-error";
    note.textContent = error.message;
    button.disabled = error.status === 409;
  }
}

// --- canned replies (M5) ----------------------------------------------------------------------------

function hideSuggestions() {
  state.suggestions = [];
  $("canned-suggestions").hidden = true;
}

function renderSuggestions() {
  const box = $("canned-suggestions");
  if (!state.suggestions.length) {
    box.hidden = true;
    return;
  }
  box.replaceChildren(...state.suggestions.map((reply, index) =>
    el("div", {
        class: "canned-option",
        role: "option",
        "aria-selected": index === state.suggestionIndex ? "true" : "false",
        onmousedown: (event) => {
          event.preventDefault();
          insertCanned(reply);
        },
      },
      el("span", { class: "shortcut", text: `/${reply.shortcut}` }),
      el("span", { class: "text", text: reply.text }),
    )));
  box.hidden = false;
}

function updateSuggestions() {
  const reply = $("reply");
  const token = shortcutAtCaret(reply.value, reply.selectionStart);
  const replies = state.detail ? state.detail.canned_replies : [];
  state.suggestions = token === null ? [] : cannedMatches(replies, token.query);
  state.suggestionIndex = 0;
  renderSuggestions();
}

function insertCanned(reply, append = false) {
  const textarea = $("reply");
  const token = shortcutAtCaret(textarea.value, textarea.selectionStart);
  if (token && !append) {
    const { text, caret } = replaceShortcut(textarea.value, token, reply.text);
    textarea.value = text;
    textarea.setSelectionRange(caret, caret);
  } else {
    textarea.value = textarea.value ? `${textarea.value.trimEnd()} ${reply.text}` : reply.text;
  }
  hideSuggestions();
  textarea.focus();
}

function onComposerKeydown(event) {
  if (state.suggestions.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.suggestionIndex = (state.suggestionIndex + step + state.suggestions.length) % state.suggestions.length;
      renderSuggestions();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned(state.suggestions[state.suggestionIndex]);
      return;
    }
    if (event.key === "Escape") {
      hideSuggestions();
      return;
    }
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
}

function onComposerInput() {
  updateSuggestions();
  const now = Date.now();
  if (state.currentId && state.detail && state.detail.can_reply && now - state.lastTypingSentAt > 3000) {
    state.lastTypingSentAt = now;
    socket.send("typing", { conversation_id: state.currentId });
  }
}

function showTyping() {
  $("typing").hidden = false;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => ($("typing").hidden = true), 5000);
}

// --- socket -------------------------------------------------------------------------------------------

function onEvent(frame) {
  switch (frame.type) {
    case "hello":
      setServerTime(frame.server_time);
      break;
    case "offer.created":
    case "offer.withdrawn":
      scheduleListRefresh(0);
      if (frame.conversation_id === state.currentId) loadConversation(state.currentId, { onlyNew: true }).catch(() => {});
      break;
    case "conversation.assigned":
    case "conversation.status":
    case "conversation.closed":
      scheduleListRefresh();
      if (frame.conversation_id === state.currentId) loadConversation(state.currentId, { onlyNew: true }).catch(() => {});
      break;
    case "message.created":
      if (frame.conversation_id === state.currentId) {
        addMessages([frame.message]);
        if (frame.message.author_kind === "client") $("typing").hidden = true;
      }
      scheduleListRefresh();
      break;
    case "note.created":
      if (frame.conversation_id === state.currentId) addNotes([frame.note]);
      else {
        toast(frame.note.text, "info", interpolate(gettext("Private note from %(name)s on conversation #%(id)s"), {
          name: frame.note.author_name,
          id: frame.conversation_id,
        }));
      }
      break;
    case "typing":
      if (frame.conversation_id === state.currentId && frame.author === "client") showTyping();
      break;
    case "kpi.miss":
      toast(frame.text, "kpi", gettext("Response-time target missed"));
      break;
    case "operator.presence":
      loadState().catch(() => {});
      break;
    case "access.changed":
      // Dismissed, moved out of a queue or no longer supervising: what this console may show changed.
      resync();
      break;
    case "error":
      toast(frame.message, "error");
      break;
    default:
      break;
  }
}

async function resync() {
  try {
    if (state.currentId) await socket.request("watch", { conversation_id: state.currentId }).catch(() => {});
    await Promise.all([loadState(), loadLists()]);
    if (state.currentId) await loadConversation(state.currentId, { onlyNew: true });
  } catch (error) {
    toast(error.message, "error");
  }
}

function onSocketState(socketState) {
  if (socketState === "refused") {
    // Reloading lets the server answer: the sign-in page, or the page that says this is not an operator.
    window.location.reload();
    return;
  }
  const node = $("connection");
  node.dataset.state = socketState;
  node.querySelector(".label").textContent =
    socketState === "open"
      ? gettext("Connected")
      : socketState === "connecting"
        ? gettext("Connecting…")
        : gettext("Reconnecting…");
}

const socket = new LiveSocket(websocketUrl(config.urls.socket), {
  texts: {
    notConnected: gettext("Not connected. Reconnecting…"),
    noAnswer: gettext("The server did not answer in time."),
    connectionLost: gettext("The connection was lost before the server answered."),
  },
  onEvent,
  onResync: resync,
  onState: onSocketState,
  heartbeat: () => {
    const active = state.active;
    state.active = false;
    return { active };
  },
});

// --- wiring -------------------------------------------------------------------------------------------

for (const name of ["keydown", "mousedown", "focus"]) {
  window.addEventListener(name, () => (state.active = true), { passive: true });
}
$("btn-clock").addEventListener("click", () => changeStatus(state.operator && state.operator.clocked_in ? "clock_out" : "clock_in"));
$("btn-break").addEventListener("click", () => changeStatus(state.operator && state.operator.on_break ? "break_end" : "break_start"));
$("btn-accept").addEventListener("click", acceptCurrent);
$("btn-close").addEventListener("click", closeCurrent);
$("btn-transfer").addEventListener("click", openTransfer);
$("transfer-panel").addEventListener("submit", submitTransfer);
$("transfer-cancel").addEventListener("click", () => ($("transfer-panel").hidden = true));
$("transfer-operator").addEventListener("change", () => $("transfer-operator").value && ($("transfer-channel").value = ""));
$("transfer-channel").addEventListener("change", () => $("transfer-channel").value && ($("transfer-operator").value = ""));
$("btn-lead").addEventListener("click", createLead);
$("composer").addEventListener("submit", submitComposer);
$("reply").addEventListener("keydown", onComposerKeydown);
$("reply").addEventListener("input", onComposerInput);
$("reply").addEventListener("blur", () => setTimeout(hideSuggestions, 150));
$("offer-banner-open").addEventListener("click", () => {
  const id = Number($("offer-banner").dataset.conversationId);
  if (id) openConversation(id);
});
setInterval(updateCountdowns, 1000);
// Queues of other operators' channels change without an event to this operator: look now and then.
setInterval(() => socket.isOpen && scheduleListRefresh(0), 30000);

// For support staff and the browser tests: the socket can be inspected and dropped from the devtools.
window.openChannelsConsole = { socket, state };
socket.connect();
// The wallboard's "Open in the console" after a take-over: /console/#conversation=<id>.
const linked = /^#conversation=(\d+)$/.exec(window.location.hash);
if (linked) openConversation(Number(linked[1]));
