// Operator console: lists (offered to me, mine, waiting in my queues), the open conversation, the client card.
//
// The database is the truth. The socket brings events; after every (re)connect or stall the console
// re-reads the lists and the messages after the last one it read from the database (`?after=<id>`).
// Every piece of text that comes from a client or an operator is put on the page with textContent
// (see `el`), never as HTML.

import { LiveSocket, el, formatTime, initials, websocketUrl } from "./socket.js";
import { cannedMatches, replaceShortcut, shortcutAtCaret } from "./canned.js";
import { $, api, config, formatNumber, gettext, interpolate, ngettext, urlFor } from "./common.js";
import { consentFact, renderConsentWithdraw } from "./consent.js";
import { deliveryNote } from "./delivery.js";
import { initHistory, loadTimeline } from "./history.js";
import { noteBody } from "./notes.js";
import { applyReachability, outageTag, renderOutageBanner } from "./outage.js";
import { loadedEnds, noteInLoadedRange, pageQuery, redrawInPlace } from "./paging.js";
import { showPane } from "./panes.js";
import { playOfferSound } from "./sound.js";

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
  // The loaded page(s) are a stretch of the conversation: older ones load on scrolling up, newer ones (after a
  // link opened an old message) on scrolling down until the live end, where new messages arrive by events.
  hasOlder: false,
  hasNewer: false,
  loadingOlder: false,
  loadingNewer: false,
  pending: [],
  knownOfferIds: new Set(),
  active: true,
  suggestions: [],
  suggestionIndex: 0,
  lastTypingSentAt: 0,
  typingTimer: null,
  listRefreshTimer: null,
  offerCues: 0,
  uploads: [], // files of the open conversation on their way to the server (progress, or the reason they failed)
};

// --- notifications --------------------------------------------------------------------------------

function toast(text, kind = "info", title = "") {
  const node = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    title ? el("strong", { text: title }) : null, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 6000);
}

function cueOffer() {
  playOfferSound(); // silent until the browser allows sound: sound.js asks the operator to enable it
  state.offerCues += 1;
  document.body.dataset.offerCues = String(state.offerCues);
}

function cueNewOffers(rows) {
  const fresh = rows.filter((row) => !state.knownOfferIds.has(row.offer.id));
  rows.forEach((row) => state.knownOfferIds.add(row.offer.id));
  if (!fresh.length) return;
  cueOffer();
  const first = fresh[0];
  $("offer-banner-text").textContent = `${first.client_name} · ${first.open_channel.name}`;
  $("offer-banner-countdown").dataset.expiresAt = first.offer.expires_at;
  $("offer-banner").dataset.conversationId = String(first.id);
  $("offer-banner").dataset.offerId = String(first.offer.id);
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
  // A photo without a caption is previewed by its file's name.
  const text = row.last_message_text || (row.last_message_file ? `📎 ${row.last_message_file}` : "");
  if (!text) return "";
  const prefix = row.last_message_author === "operator" ? gettext("You: ") : "";
  return prefix + text;
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
      ? el("span", { class: "when countdown", dataset: { expiresAt: row.offer.expires_at }, title: gettext("Time left to accept") })
      : el("span", { class: "when", text: formatTime(row.last_message_at) }),
    el("span", { class: "preview", text: previewText(row) }),
    el("span", { class: "tags" },
      el("span", { class: "tag", text: row.open_channel.name }),
      row.is_unprocessed ? el("span", { class: "tag tag-unprocessed", text: gettext("Unprocessed") }) : null,
      row.is_offline_request ? el("span", { class: "tag tag-offline", text: gettext("Offline request") }) : null,
      row.status === "closed_pending_rating" ? el("span", { class: "tag", text: gettext("Waiting for rating") }) : null,
      outageTag(row),
    ),
    kind === "queued"
      ? el("button", {
          class: "btn btn-small btn-take",
          type: "button",
          text: gettext("Take"),
          onclick: (event) => {
            event.stopPropagation();
            takeConversation(row.id);
          },
          onkeydown: (event) => event.stopPropagation(),
        })
      : null,
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

function scheduleListRefresh(delay = 120, { withState = false } = {}) {
  // Bursts of events (an offer, its status, a message) cost one request.
  clearTimeout(state.listRefreshTimer);
  // The state comes along only after what can change why no new chats are offered (an offer, an assignment, a
  // close: the limit); a message cannot, and it is the most frequent event.
  state.stateRefreshDue = state.stateRefreshDue || withState;
  state.listRefreshTimer = setTimeout(() => {
    const loads = [loadLists()];
    if (state.stateRefreshDue) loads.push(loadState());
    state.stateRefreshDue = false;
    Promise.all(loads).catch((error) => toast(error.message, "error"));
  }, delay);
}

// --- operator status ----------------------------------------------------------------------------

// Issue 20: the operator's own Available / Away / Offline, the clock-in buttons only where a channel asks for
// them, and in words why no new conversations are offered right now.
function renderOperator() {
  const operator = state.operator;
  if (!operator) return;
  $("availability").value = operator.availability;
  let status = operator.availability;
  if (status === "available" && !operator.receiving) status = "blocked";
  const dot = $("status-dot");
  dot.dataset.status = status;
  const shift = operator.clock_in_required;
  $("shift").hidden = !shift;
  $("btn-clock").textContent = operator.clocked_in ? gettext("Clock out") : gettext("Clock in");
  $("btn-break").textContent = operator.on_break ? gettext("End break") : gettext("Start break");
  $("btn-break").hidden = !shift || !operator.clocked_in;
  renderAvailabilityNote(operator);
  $("my-channels").replaceChildren(...state.channels.map((channel) => el("span", { class: "chip", text: channel.name })));
}

function renderAvailabilityNote(operator) {
  const note = $("availability-note");
  note.hidden = !operator.reasons.length;
  note.dataset.receiving = operator.receiving ? "true" : "false";
  const headline = operator.receiving
    ? gettext("Some of your channels offer you no new conversations:")
    : gettext("You are not receiving new conversations:");
  note.replaceChildren(el("strong", { text: headline }), " ", operator.reasons.join(" "));
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
    renderOperator(); // the selector shows what holds, not what was refused
  }
}

// --- the open conversation ----------------------------------------------------------------------

function authorLabel(message) {
  if (message.author_kind === "client") return state.detail ? state.detail.client.name : gettext("Client");
  if (message.author_kind === "operator") return message.author_id === config.operator.id ? gettext("You") : message.author_name || gettext("Operator");
  if (message.author_kind === "bot") return gettext("Bot");
  return "";
}

// --- files in messages --------------------------------------------------------------------------------

/** The same words as the server's engine.attachments.human_size. */
function humanSize(size) {
  if (size === null || size === undefined) return "";
  const mb = 1024 * 1024;
  if (size >= mb) return `${formatNumber(size / mb, { maximumFractionDigits: size % mb === 0 ? 0 : 1, minimumFractionDigits: size % mb === 0 ? 0 : 1 })} MB`;
  if (size >= 1024) return `${Math.floor(size / 1024)} KB`;
  return `${size} B`;
}

function fileFacts(file) {
  return [humanSize(file.size), file.mime_type].filter(Boolean).join(" · ");
}

/** The extension, as a small badge on the file's icon ("PDF", "DOCX"…). */
function fileBadge(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 && name.length - dot <= 5 ? name.slice(dot + 1).toUpperCase() : "FILE";
}

function downloadLink(file) {
  // The file door answers everything but browser-shown media as a download (Content-Disposition: attachment).
  return el("a", { class: "file-link", href: file.url, download: file.name, target: "_blank", rel: "noopener" },
    el("span", { class: "file-icon", "aria-hidden": "true", text: fileBadge(file.name) }),
    el("span", { class: "file-name", text: file.name }),
    el("span", { class: "file-facts", text: fileFacts(file) }),
  );
}

function attachmentView(file) {
  const data = { attachmentId: file.id, state: file.state, kind: file.kind };
  if (file.state === "pending") {
    return el("div", { class: "attachment is-pending", dataset: data },
      el("span", { class: "file-name", text: file.name }),
      el("span", { class: "file-state", text: gettext("downloading…") }),
    );
  }
  if (file.state === "failed") {
    return el("div", { class: "attachment is-failed", dataset: data },
      el("span", { class: "file-name", text: file.name }),
      el("span", { class: "file-state", text: interpolate(gettext("could not download: %(reason)s"), { reason: file.error }) }),
    );
  }
  const picture = file.thumbnail_url || (file.inline ? file.url : "");
  if ((file.kind === "image" || file.kind === "sticker") && picture) {
    // The thumbnail opens the full image in a new tab, through the same checked door.
    return el("div", { class: "attachment is-image", dataset: data },
      el("a", { href: file.url, target: "_blank", rel: "noopener", title: file.name },
        el("img", { src: picture, alt: file.name, loading: "lazy" })),
    );
  }
  if ((file.kind === "audio" || file.kind === "voice") && file.inline) {
    return el("div", { class: "attachment is-audio", dataset: data },
      el("audio", { controls: true, preload: "metadata", src: file.url }),
      downloadLink(file),
    );
  }
  if (file.kind === "video" && file.inline) {
    return el("div", { class: "attachment is-video", dataset: data },
      el("video", { controls: true, preload: "metadata", src: file.url }),
      downloadLink(file),
    );
  }
  return el("div", { class: "attachment is-file", dataset: data }, downloadLink(file));
}

/** Send a failed reply again (``retry``); the ``message.delivery`` event then redraws it as it goes. */
async function retryDelivery(message, button) {
  button.disabled = true;
  const answer = await act("retry", { message_id: message.id });
  if (answer) replaceMessage(answer.message);
  else button.disabled = false;
}

/** What the client did to their message in the messenger: deleted it (staff still read it) or edited it (the
 * earlier wording in the tooltip). */
function changeNote(message) {
  if (message.deleted_at) {
    return el("span", { class: "change is-deleted", text: interpolate(gettext("Deleted by the client at %(time)s"), { time: formatTime(message.deleted_at) }) });
  }
  if (!message.edited_at) return null;
  const earlier = (message.earlier_texts || []).map((text) => interpolate(gettext("Before: %(text)s"), { text })).join("\n");
  return el("span", { class: "change is-edited", title: earlier, text: interpolate(gettext("Edited at %(time)s"), { time: formatTime(message.edited_at) }) });
}

function messageItem(message) {
  const kind = message.author_kind;
  const files = message.attachments || [];
  const undelivered = kind === "operator" && message.delivery === "failed";
  const classes = `msg msg-${kind}${undelivered ? " is-undelivered" : ""}${message.deleted_at ? " is-deleted" : ""}`;
  return el("li", { class: classes, dataset: { messageId: String(message.id) } },
    kind === "system" ? null : el("span", { class: "who", text: `${authorLabel(message)} · ${formatTime(message.created_at)}` }),
    el("div", { class: `bubble${files.length ? " has-files" : ""}` },
      files.length ? el("div", { class: "attachments" }, files.map(attachmentView)) : null,
      message.button ? el("span", { class: "button-mark", text: gettext("Button"), title: message.button.payload || "" }) : null,
      message.text ? el("div", { class: "text", text: message.text }) : null,
    ),
    changeNote(message),
    deliveryNote(message, retryDelivery, { sourceDown: state.detail?.source_unreachable_since ? state.detail.source_name : "" }),
  );
}

function pagingItem(direction) {
  const loading = direction === "older" ? state.loadingOlder : state.loadingNewer;
  const text = direction === "older"
    ? (loading ? gettext("Loading older messages…") : gettext("Scroll up for older messages"))
    : (loading ? gettext("Loading newer messages…") : gettext("Scroll down for newer messages"));
  return el("li", { class: "msg-paging", dataset: { paging: direction }, role: "status", text });
}

function noteItem(note) {
  const who = note.author_id === config.operator.id ? gettext("You") : note.author_name;
  return el("li", { class: "msg msg-note", dataset: { noteId: String(note.id) } },
    el("span", { class: "who", text: `${gettext("Private note")} · ${who} · ${formatTime(note.created_at)}` }),
    noteBody(note),
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

function uploadItem(upload) {
  const percent = upload.total ? Math.round((100 * upload.loaded) / upload.total) : 0;
  return el("li", { class: `msg msg-operator ${upload.error ? "is-failed" : "is-pending"}`, dataset: { upload: "true" } },
    el("span", { class: "who", text: upload.error ? gettext("Not sent") : interpolate(gettext("Sending %(name)s…"), { name: upload.name }) }),
    el("div", { class: "bubble upload" },
      el("span", { class: "file-name", text: upload.name }),
      upload.error ? null : el("progress", { max: "100", value: String(percent), "aria-label": upload.name }),
      upload.error ? null : el("span", { class: "file-facts", text: `${percent}% · ${humanSize(upload.total)}` }),
    ),
    upload.error ? el("span", { class: "state", text: upload.error }) : null,
    upload.error
      ? el("button", { class: "btn btn-small", type: "button", text: gettext("Dismiss"), onclick: () => dropUpload(upload) })
      : null,
  );
}

function renderMessages() {
  const list = $("messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const ends = loadedEnds(state.messages.values());
  // Notes come with the conversation, all of them: only those within the loaded stretch are shown.
  const notes = [...state.notes.values()].filter((note) => noteInLoadedRange(note, ends, state));
  const timeline = [
    ...[...state.messages.values()].map((message) => ({ at: Date.parse(message.created_at), id: message.id, item: () => messageItem(message) })),
    ...notes.map((note) => ({ at: Date.parse(note.created_at), id: note.id, item: () => noteItem(note) })),
  ].sort((a, b) => a.at - b.at || a.id - b.id);
  list.replaceChildren(
    state.hasOlder ? pagingItem("older") : "",
    ...timeline.map((entry) => entry.item()),
    state.hasNewer ? pagingItem("newer") : "",
    ...state.pending.map(pendingItem),
    ...state.uploads.map(uploadItem),
  );
  if (nearBottom || state.forceScroll) list.scrollTop = list.scrollHeight;
  state.forceScroll = false;
}

function addMessages(messages, { live = false } = {}) {
  // A live message beyond the loaded stretch (newer pages not loaded yet) waits for its page: no gap.
  if (live && state.hasNewer) return;
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

/** A message whose files, delivery or text changed (``message.attachments``, ``message.delivery``, ``message.edited``,
 * ``message.deleted``): redraw it. */
function replaceMessage(message) {
  if (message.conversation_id !== state.currentId) return;
  if (!state.messages.has(message.id) && state.hasNewer) return; // beyond the loaded stretch: its page brings it
  state.messages.set(message.id, message);
  renderMessages();
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
  $("btn-decline").hidden = !detail.offer;
  $("btn-take").hidden = !detail.can_take;
  $("btn-transfer").hidden = !detail.can_transfer;
  $("btn-close").hidden = !detail.can_close;
  if (!detail.can_transfer) $("transfer-panel").hidden = true;
  $("reply").disabled = !detail.can_reply;
  $("btn-send").disabled = !detail.can_reply;
  $("btn-attach").disabled = !detail.can_reply;
  const limits = detail.file_limits;
  $("file-input").accept = limits.accept;
  $("btn-attach").title = limits.groups.length
    ? interpolate(gettext("Attach a file (%(groups)s, up to %(size)s)"), { groups: limits.groups_text, size: limits.max_size_text })
    : gettext("This open channel accepts no files.");
  $("reply").placeholder = detail.can_reply
    ? gettext("Write a reply… Type / for canned replies, Enter to send, Shift+Enter for a new line")
    : gettext("Only the operator holding this conversation can reply.");
  renderTemplateComposer(detail);
  renderOutageBanner(detail);

  $("client-avatar").textContent = initials(client.name);
  $("client-name").textContent = client.name;
  $("client-source").textContent = client.source;
  const contact = client.contact;
  $("client-facts").replaceChildren(
    ...fact(gettext("Username"), client.username),
    ...fact(gettext("Phone"), client.phone),
    ...fact(gettext("E-mail"), client.email),
    // Typed by the visitor and not confirmed through the link mailed to it: shown, never trusted (no CRM match, no lead).
    ...fact(gettext("E-mail, not confirmed"), client.unverified_email),
    ...fact(gettext("CRM contact"), contact ? contact.full_name : gettext("Not in the CRM")),
    ...fact(gettext("Responsible"), contact ? contact.responsible : ""),
    ...fact(gettext("Conversations"), String(client.conversations_count)),
    ...fact(gettext("Consent"), consentFact(client)),
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
  renderConsentWithdraw(detail);
  renderCannedList(detail.canned_replies);
  loadTimeline(detail.id);
}

// S2: once Meta's 24-hour window has closed no reply goes out; on WhatsApp an approved template still may.
function renderTemplateComposer(detail) {
  const windowClosed = detail.can_reply && detail.reply_window_closed;
  $("composer").hidden = windowClosed;
  $("template-composer").hidden = !windowClosed;
  if (!windowClosed) return;
  const templates = detail.whatsapp_templates;
  $("template-picker").hidden = !templates.length;
  $("template-note").textContent = templates.length
    ? gettext("More than 24 hours have passed since the client's last message: WhatsApp takes only an approved template until the client writes again.")
    : detail.connector_kind === "whatsapp"
      ? gettext("More than 24 hours have passed since the client's last message: WhatsApp takes only an approved template, and this number has none. An administrator can add them on the connector.")
      : gettext("More than 24 hours have passed since the client's last message: no reply can go out until the client writes again.");
  const select = $("template-select");
  const key = `${detail.id}:${templates.map((template) => template.id).join(",")}`;
  if (select.dataset.key === key) return; // keep what the operator typed across re-syncs
  select.dataset.key = key;
  select.replaceChildren(...templates.map((template) =>
    el("option", { value: String(template.id), text: `${template.name} (${template.language})` })));
  renderTemplateFields();
}

function chosenTemplate() {
  const id = Number($("template-select").value);
  return ((state.detail && state.detail.whatsapp_templates) || []).find((template) => template.id === id) || null;
}

function renderTemplateFields() {
  const template = chosenTemplate();
  const count = template ? template.parameter_count : 0;
  $("template-fields").replaceChildren(...Array.from({ length: count }, (_, index) => el("label", {},
    interpolate(gettext("Text %(number)s"), { number: index + 1 }),
    el("input", { type: "text", required: "", maxlength: "1024", dataset: { parameter: String(index + 1) } }))));
  renderTemplatePreview();
}

function templateParameters() {
  return Array.from($("template-fields").querySelectorAll("input"), (input) => input.value.trim());
}

function renderTemplatePreview() {
  const template = chosenTemplate();
  if (!template) {
    $("template-preview").textContent = "";
    return;
  }
  const parameters = templateParameters();
  // The same filling as the server's (policy/message_templates.py): {{n}} is the n-th text; an empty one shows as is.
  $("template-preview").textContent = template.body.replace(/\{\{\s*(\d+)\s*\}\}/g,
    (placeholder, number) => parameters[Number(number) - 1] || placeholder);
}

async function submitTemplate(event) {
  event.preventDefault();
  const template = chosenTemplate();
  const conversationId = state.currentId;
  if (!template || !conversationId) return;
  const button = $("btn-send-template");
  button.disabled = true;
  try {
    const answer = await act("send_template", {
      conversation_id: conversationId, template_id: template.id, parameters: templateParameters(),
    });
    if (!answer) return;
    if (state.currentId === conversationId) addMessages([answer.message]);
    state.forceScroll = true;
    renderMessages();
    $("template-select").dataset.key = ""; // a fresh form for a next template
    await loadConversation(conversationId, { onlyNew: true });
  } finally {
    button.disabled = false;
  }
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

/** The conversation and a page of its messages: the latest (``around``: the page around that message), or with
 * ``onlyNew`` what followed the newest message read (a re-sync, or the next page towards the live end). */
async function loadConversation(conversationId, { onlyNew = false, around = null } = {}) {
  const resync = onlyNew && state.fetchedMessageId > 0;
  const query = pageQuery(resync ? { after: state.fetchedMessageId } : { around });
  // On a stretch opened at an old message, what is new waits for the newer pages: only the detail is read.
  const skipMessages = resync && state.hasNewer;
  const empty = { messages: [], has_older: state.hasOlder, has_newer: state.hasNewer };
  try {
    const [detail, history] = await Promise.all([
      api(urlFor(config.urls.conversation, conversationId)),
      skipMessages ? empty : api(urlFor(config.urls.messages, conversationId) + query),
    ]);
    if (state.currentId !== conversationId) return;
    if (!resync) {
      // A new page, not a continuation: it replaces what was loaded (a link may jump far from it).
      state.messages = new Map();
      state.fetchedMessageId = 0;
      state.hasOlder = history.has_older;
    }
    state.hasNewer = history.has_newer;
    state.detail = detail;
    renderDetail();
    for (const message of history.messages) state.fetchedMessageId = Math.max(state.fetchedMessageId, message.id);
    addNotes(detail.notes || []);
    addMessages(history.messages);
    renderMessages();
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

/** Show a conversation; ``atMessageId`` (a search hit, a notification's link) is scrolled to and highlighted. */
async function openConversation(conversationId, { atMessageId = null } = {}) {
  showPane("conversation");
  if (state.currentId !== conversationId) {
    state.currentId = conversationId;
    state.detail = null;
    state.messages = new Map();
    state.notes = new Map();
    state.fetchedMessageId = 0;
    state.hasOlder = false;
    state.hasNewer = false;
    state.pending = [];
    state.uploads = [];
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
  if (atMessageId !== null && state.messages.has(atMessageId)) {
    showMessage(atMessageId);
    return;
  }
  if (atMessageId !== null) state.forceScroll = false; // the linked message is scrolled to, not the end
  await loadConversation(conversationId, { around: atMessageId }).catch((error) => {
    toast(error.message, "error");
    // A link to a message that is not there (any more): the conversation still opens, on its latest messages.
    if (error.status === 400 && state.currentId === conversationId) return loadConversation(conversationId);
    return null;
  }).catch((error) => toast(error.message, "error"));
  if (atMessageId !== null && state.currentId === conversationId) showMessage(atMessageId);
}

/** Scrolling up to the top loads the page before the oldest loaded message, keeping the view where it was. */
async function loadOlder() {
  const conversationId = state.currentId;
  const { first } = loadedEnds(state.messages.values());
  if (!conversationId || !state.hasOlder || state.loadingOlder || !first) return;
  state.loadingOlder = true;
  redrawInPlace($("messages"), renderMessages, { addedAbove: true });
  try {
    const page = await api(urlFor(config.urls.messages, conversationId) + pageQuery({ before: first.id }));
    if (state.currentId !== conversationId) return;
    for (const message of page.messages) state.messages.set(message.id, message);
    state.hasOlder = page.has_older;
  } catch (error) {
    toast(error.message, "error");
  } finally {
    state.loadingOlder = false;
    if (state.currentId === conversationId) redrawInPlace($("messages"), renderMessages, { addedAbove: true });
  }
}

/** Scrolling down on a stretch opened at an old message loads the next newer page, until the live end. */
async function loadNewer() {
  const conversationId = state.currentId;
  const { last } = loadedEnds(state.messages.values());
  if (!conversationId || !state.hasNewer || state.loadingNewer || !last) return;
  state.loadingNewer = true;
  redrawInPlace($("messages"), renderMessages, { addedAbove: false });
  try {
    const page = await api(urlFor(config.urls.messages, conversationId) + pageQuery({ newer_than: last.id }));
    if (state.currentId !== conversationId) return;
    for (const message of page.messages) {
      state.messages.set(message.id, message);
      state.fetchedMessageId = Math.max(state.fetchedMessageId, message.id);
    }
    state.hasNewer = page.has_newer;
  } catch (error) {
    toast(error.message, "error");
  } finally {
    state.loadingNewer = false;
    if (state.currentId === conversationId) redrawInPlace($("messages"), renderMessages, { addedAbove: false });
  }
}

function onMessagesScroll() {
  const list = $("messages");
  if (list.scrollTop < 150) loadOlder();
  else if (list.scrollHeight - list.scrollTop - list.clientHeight < 150) loadNewer();
}

function showMessage(messageId) {
  const item = $("messages").querySelector(`[data-message-id="${messageId}"]`);
  if (!item) return;
  item.scrollIntoView({ block: "center" });
  item.classList.add("is-highlighted");
}

function closeView() {
  showPane("list");
  state.currentId = null;
  state.detail = null;
  state.messages = new Map();
  state.hasOlder = false;
  state.hasNewer = false;
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
    scheduleListRefresh(50, { withState: true });
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

/** Issue 20: accept the banner's offer in one click (or the A key) and open the conversation, ready to reply. */
async function acceptFromBanner() {
  const banner = $("offer-banner");
  const offerId = Number(banner.dataset.offerId);
  const conversationId = Number(banner.dataset.conversationId);
  if (banner.hidden || !offerId) return;
  banner.hidden = true; // one press, one accept: a second key press must not send it again
  const answer = await act("accept", { offer_id: offerId });
  if (!answer) return;
  await openConversation(conversationId);
  $("reply").focus();
}

/** The A key accepts the offer in the banner, unless the operator is typing (reply, note, search, a form). */
function onShortcutKey(event) {
  if (event.key !== "a" && event.key !== "A") return;
  if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.repeat) return;
  const target = event.target;
  if (target instanceof Element && target.closest("input, textarea, select, [contenteditable]")) return;
  if ($("offer-banner").hidden) return;
  event.preventDefault();
  acceptFromBanner();
}

/** Q3: refuse an offer; it moves on to the next operator at once. */
async function declineOffer(offerId, conversationId) {
  const answer = await act("decline", { offer_id: offerId });
  if (!answer) return;
  if (String(conversationId) === $("offer-banner").dataset.conversationId) $("offer-banner").hidden = true;
  toast(gettext("Offer declined."));
  if (state.currentId === conversationId) closeView();
}

async function declineCurrent() {
  const offer = state.detail && state.detail.offer;
  if (offer) await declineOffer(offer.id, state.currentId);
}

/** Take a conversation waiting in one of my queues (routing's eligibility and limit rules, checked by the server). */
async function takeConversation(conversationId) {
  const answer = await act("take", { conversation_id: conversationId });
  if (!answer) return;
  await openConversation(conversationId);
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
  // An answer goes at the live end: a stretch opened at an old message makes way for the latest page.
  if (state.hasNewer) await loadConversation(state.currentId).catch((error) => toast(error.message, "error"));
  sendReply(text);
}

// --- sending files -----------------------------------------------------------------------------------

const MEDIA_GROUPS = { "image/": "images", "audio/": "audio", "video/": "video" };
// Never accepted, whatever they claim to be (policy.files: a browser would run their scripts).
const MARKUP_EXTENSIONS = [".svg", ".svgz", ".html", ".htm", ".xhtml", ".xml", ".js", ".mjs"];

/** Why the open channel would refuse ``file`` ("" when it looks acceptable); the server checks again. */
function fileRefusal(file, limits) {
  if (!file.size) return gettext("This file is empty.");
  if (file.size > limits.max_bytes) {
    return interpolate(gettext("This file is larger than %(size)s, the most this chat accepts."), { size: limits.max_size_text });
  }
  const dot = file.name.lastIndexOf(".");
  const extension = dot > 0 ? file.name.slice(dot).toLowerCase() : "";
  const type = (file.type || "").toLowerCase();
  const markup = MARKUP_EXTENSIONS.includes(extension) || /svg|html|xml|javascript/.test(type);
  if (!markup) {
    if (extension && limits.accept.split(",").includes(extension)) return "";
    // A name without a known extension (a pasted screenshot may have none) is judged by its media type.
    const group = Object.entries(MEDIA_GROUPS).find(([prefix]) => type.startsWith(prefix));
    if (group && limits.groups.includes(group[1])) return "";
  }
  return gettext("This chat does not accept files of this type.");
}

function dropUpload(upload) {
  state.uploads = state.uploads.filter((item) => item !== upload);
  renderMessages();
}

function sendFiles(fileList) {
  const files = [...fileList];
  if (!files.length || !state.detail) return;
  if (!state.detail.can_reply) {
    toast(gettext("Only the operator holding this conversation can reply."), "error");
    return;
  }
  for (const file of files) sendFile(file, state.currentId, state.detail.file_limits);
}

function sendFile(file, conversationId, limits) {
  const upload = { name: file.name || "file", loaded: 0, total: file.size, error: "" };
  state.uploads.push(upload);
  state.forceScroll = true;
  const refused = fileRefusal(file, limits);
  if (refused) {
    upload.error = refused;
    renderMessages();
    return;
  }
  renderMessages();
  const body = new FormData();
  body.append("file", file, upload.name);
  // XMLHttpRequest rather than fetch: it reports the upload's progress.
  const request = new XMLHttpRequest();
  request.open("POST", urlFor(config.urls.files, conversationId));
  request.setRequestHeader("X-CSRFToken", config.csrf_token);
  request.setRequestHeader("Accept", "application/json");
  request.responseType = "json";
  request.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    upload.loaded = Math.min(event.loaded, upload.total);
    if (state.currentId === conversationId) renderMessages();
  });
  request.addEventListener("load", () => {
    const data = request.response || {};
    if (request.status === 201) {
      state.uploads = state.uploads.filter((item) => item !== upload);
      if (state.currentId === conversationId) addMessages([data]);
      renderMessages();
      if (state.detail && !state.detail.can_close) loadConversation(conversationId, { onlyNew: true });
      scheduleListRefresh();
      return;
    }
    upload.error = data.detail || Object.values(data).flat().join(" ")
      || interpolate(gettext("Request failed (%(status)s)"), { status: request.status });
    renderMessages();
  });
  request.addEventListener("error", () => {
    upload.error = gettext("The connection was lost before the server answered.");
    renderMessages();
  });
  request.send(body);
}

function hasFiles(event) {
  return Boolean(event.dataTransfer && [...event.dataTransfer.types].includes("Files"));
}

function onDragOver(event) {
  if (!hasFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = state.detail && state.detail.can_reply ? "copy" : "none";
  $("conversation-view").classList.add("is-dropping");
}

function onDragLeave(event) {
  if (event.relatedTarget && $("conversation-view").contains(event.relatedTarget)) return;
  $("conversation-view").classList.remove("is-dropping");
}

function onDrop(event) {
  if (!hasFiles(event)) return;
  event.preventDefault();
  $("conversation-view").classList.remove("is-dropping");
  sendFiles(event.dataTransfer.files);
}

function onPaste(event) {
  // A pasted screenshot arrives as a file; pasted text stays text.
  const files = [...(event.clipboardData ? event.clipboardData.files : [])];
  if (!files.length) return;
  event.preventDefault();
  sendFiles(files);
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
        el("option", {
          value: String(operator.id),
          text: transferTargetLabel(operator),
          title: operator.unavailable_reason,
          dataset: { name: operator.name, available: String(operator.available), reason: operator.unavailable_reason },
        })),
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

// A colleague as the transfer list shows them: availability and load, so an unavailable one is marked before
// the operator picks them (the server refuses or warns with the same reason).
function transferTargetLabel(operator) {
  const load = operator.chat_limit === null
    ? interpolate(ngettext("%(load)s chat", "%(load)s chats", operator.load), { load: operator.load })
    : interpolate(
      ngettext("%(load)s of %(limit)s chat", "%(load)s of %(limit)s chats", operator.chat_limit),
      { load: operator.load, limit: operator.chat_limit },
    );
  const presence = { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") }[operator.presence];
  // An unavailable colleague is marked before the operator picks them; the reason shows as the tooltip and in
  // the warning asked before the transfer.
  const mark = operator.available ? "" : " ⚠";
  return `${operator.name} — ${presence || ""} · ${load}${mark}`;
}

async function submitTransfer(event) {
  event.preventDefault();
  const operatorId = Number($("transfer-operator").value) || null;
  const channelId = Number($("transfer-channel").value) || null;
  if (Boolean(operatorId) === Boolean(channelId)) {
    toast(gettext("Choose either an operator or an open channel."), "error");
    return;
  }
  const chosen = operatorId ? $("transfer-operator").selectedOptions[0] : null;
  const target = chosen ? chosen.dataset.name : $("transfer-channel").selectedOptions[0].text;
  const payload = { conversation_id: state.currentId };
  if (operatorId) payload.to_operator_id = operatorId;
  else payload.to_open_channel_id = channelId;
  // Issue 20: offline, away or at their limit: ask first (the server still decides, and may refuse outright).
  if (chosen && chosen.dataset.available === "false") {
    const question = `${chosen.dataset.reason} ${gettext("Transfer anyway?")}`; // the server's own words
    if (!window.confirm(question)) return;
    payload.confirm = true;
  }
  let answer = null;
  try {
    answer = await socket.request("transfer", payload);
  } catch (error) {
    // Q13: the channel allows a transfer to an unavailable colleague once the operator confirms the warning.
    const askFirst = Boolean(error.frame && error.frame.needs_confirmation);
    if (!askFirst) toast(error.message, "error");
    else if (window.confirm(error.message)) answer = await act("transfer", { ...payload, confirm: true });
  } finally {
    scheduleListRefresh(50, { withState: true });
  }
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
  showPane("conversation"); // on a phone the canned list is on the client card's pane
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
  // Modules beside this one (notifications.js) follow the socket through window events.
  window.dispatchEvent(new CustomEvent("console:event", { detail: frame }));
  switch (frame.type) {
    case "hello":
      setServerTime(frame.server_time);
      break;
    case "offer.created":
    case "offer.withdrawn":
      scheduleListRefresh(0, { withState: true });
      if (frame.conversation_id === state.currentId) loadConversation(state.currentId, { onlyNew: true }).catch(() => {});
      break;
    case "conversation.assigned":
    case "conversation.status":
    case "conversation.closed":
      scheduleListRefresh(120, { withState: true });
      if (frame.conversation_id === state.currentId) loadConversation(state.currentId, { onlyNew: true }).catch(() => {});
      break;
    case "message.created":
      if (frame.conversation_id === state.currentId) {
        addMessages([frame.message], { live: true });
        if (frame.message.author_kind === "client") $("typing").hidden = true;
      }
      scheduleListRefresh();
      break;
    case "message.attachments":
    case "message.delivery":
    case "message.edited":
    case "message.deleted":
      replaceMessage(frame.message);
      break;
    case "conversation.erased":
      // Its messages, files and notes were erased (a privacy request or retention): show what is left.
      scheduleListRefresh();
      if (frame.conversation_id === state.currentId) openConversation(state.currentId).catch(() => {});
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
    case "connector.reachability":
      // Issue 21: a source stopped or started answering: every shown conversation of it says so.
      if (applyReachability(frame, [...state.lists.offered, ...state.lists.mine, ...state.lists.queued, state.detail])) {
        renderLists();
        renderOutageBanner(state.detail);
        if (state.detail) renderMessages(); // replies waiting for the source say so
      }
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
  window.dispatchEvent(new CustomEvent("console:resync"));
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
  // Q6: an open tab that is on screen counts as activity (the operator may be reading); a hidden tab counts
  // only the input it saw since the last ping.
  heartbeat: () => {
    const active = state.active;
    state.active = false;
    return { active, visible: document.visibilityState === "visible" };
  },
});

// --- wiring -------------------------------------------------------------------------------------------

// Q6: any input counts as activity. The listeners only set a flag that the next heartbeat (every 25 s)
// sends and clears, so frequent events such as pointer movement or scrolling cost nothing on the wire.
for (const name of ["keydown", "pointerdown", "pointermove", "wheel", "scroll", "touchstart", "focus"]) {
  window.addEventListener(name, () => (state.active = true), { passive: true, capture: true });
}
// Coming back to the tab is activity, and the server hears it at once rather than at the next ping.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    state.active = true;
    socket.send("heartbeat", socket.heartbeat());
  }
});
$("availability").addEventListener("change", (event) => changeStatus(event.target.value));
$("btn-clock").addEventListener("click", () => changeStatus(state.operator && state.operator.clocked_in ? "clock_out" : "clock_in"));
$("btn-break").addEventListener("click", () => changeStatus(state.operator && state.operator.on_break ? "break_end" : "break_start"));
$("btn-accept").addEventListener("click", acceptCurrent);
$("btn-decline").addEventListener("click", declineCurrent);
$("btn-take").addEventListener("click", () => state.currentId && takeConversation(state.currentId));
$("btn-close").addEventListener("click", closeCurrent);
$("btn-transfer").addEventListener("click", openTransfer);
$("transfer-panel").addEventListener("submit", submitTransfer);
$("transfer-cancel").addEventListener("click", () => ($("transfer-panel").hidden = true));
$("transfer-operator").addEventListener("change", () => $("transfer-operator").value && ($("transfer-channel").value = ""));
$("transfer-channel").addEventListener("change", () => $("transfer-channel").value && ($("transfer-operator").value = ""));
$("btn-lead").addEventListener("click", createLead);
$("composer").addEventListener("submit", submitComposer);
$("template-composer").addEventListener("submit", submitTemplate);
$("template-select").addEventListener("change", renderTemplateFields);
$("template-fields").addEventListener("input", renderTemplatePreview);
$("btn-attach").addEventListener("click", () => $("file-input").click());
$("file-input").addEventListener("change", (event) => {
  sendFiles(event.target.files);
  event.target.value = "";
});
$("conversation-view").addEventListener("dragover", onDragOver);
$("conversation-view").addEventListener("dragleave", onDragLeave);
$("conversation-view").addEventListener("drop", onDrop);
$("reply").addEventListener("paste", onPaste);
$("messages").addEventListener("scroll", onMessagesScroll, { passive: true });
$("reply").addEventListener("keydown", onComposerKeydown);
$("reply").addEventListener("input", onComposerInput);
$("reply").addEventListener("blur", () => setTimeout(hideSuggestions, 150));
$("offer-banner-decline").addEventListener("click", () => {
  const banner = $("offer-banner");
  if (banner.dataset.offerId) declineOffer(Number(banner.dataset.offerId), Number(banner.dataset.conversationId));
});
$("offer-banner-accept").addEventListener("click", acceptFromBanner);
document.addEventListener("keydown", onShortcutKey);
$("offer-banner-open").addEventListener("click", () => {
  const id = Number($("offer-banner").dataset.conversationId);
  if (id) openConversation(id);
});
initHistory();
setInterval(updateCountdowns, 1000);
// Queues of other operators' channels change without an event to this operator: look now and then.
setInterval(() => socket.isOpen && scheduleListRefresh(0, { withState: true }), 30000);

// For support staff and the browser tests: the socket can be inspected and dropped from the devtools.
window.openChannelsConsole = { socket, state };
socket.connect();
// Links into the console: /console/#conversation=<id> (the wallboard's "Open in the console" after a take-over),
// #conversation=<id>&message=<id> (a search result, a notification): opened at load and whenever the hash changes.
function followLink() {
  const linked = /^#conversation=(\d+)(?:&message=(\d+))?$/.exec(window.location.hash);
  if (linked) openConversation(Number(linked[1]), { atMessageId: linked[2] ? Number(linked[2]) : null });
}
window.addEventListener("hashchange", followLink);
followLink();
