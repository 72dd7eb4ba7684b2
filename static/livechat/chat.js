// The live-chat window inside the widget's iframe (served by the contact center, see widget.js).
//
// Nothing the visitor writes is lost: every message gets an id in the browser and waits in an
// outbox (kept in localStorage) until the server acknowledges it; after a dropped connection the
// outbox is sent again and the server stores a message with a known id only once. Missed operator
// messages are fetched from the database after every reconnect. All text goes in with textContent.
//
// Files go up over HTTP (api/livechat/<token>/files/, so the browser reports progress) after the widget checked
// them against the chat's limits (config.files; the server checks again). An upload lives in this page only:
// a file cannot be kept in localStorage, so a failed one stays on screen with "Try again" until removed.

import { LiveSocket, el, formatTime, initials, websocketUrl } from "../console/socket.js";
import { formatNumber } from "../console/formats.js";
import { countLength, drawFields, fieldErrors, formValues, lengthOf, showErrors } from "./forms.js";

const config = JSON.parse(document.getElementById("livechat-config").textContent);
const texts = config.texts;
const $ = (id) => document.getElementById(id);
const tokenKey = `open-channels-chat:${config.key}:token`;
const outboxKey = `open-channels-chat:${config.key}:outbox`;
// An optional-only pre-chat form sent (even empty) is not shown again to this browser.
const detailsDoneKey = `open-channels-chat:${config.key}:details-done`;

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null; // storage blocked (private mode, third-party storage off): the chat still works for this page
  }
}

function storageSet(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // see storageGet
  }
}

const state = {
  token: storageGet(tokenKey) || config.fresh_token,
  conversation: null,
  messages: new Map(),
  // Highest message id read from the database: a resync asks for what follows it, so a live event
  // that arrived after a drop cannot hide the messages lost during it.
  fetchedMessageId: 0,
  // The widget opens on the latest page of the conversation; older pages load as the visitor scrolls up.
  hasOlder: false,
  loadingOlder: false,
  followingLatest: true, // the view stays at the newest message until the visitor scrolls away from it
  outbox: JSON.parse(storageGet(outboxKey) || "[]"),
  consentNeeded: false,
  consentWithdrawn: false, // withdrawn in this page: the link hides, a line says what happens next (issue 19)
  detailsNeeded: false, // the pre-chat form comes before the first message (issue 15)
  offlineForm: "", // "closed" or "busy": the offline form replaces the chat
  rated: false,
  visible: false,
  typingTimer: null,
  lastTypingSentAt: 0,
  uploads: [],
  // The list item drawn for each message, kept while the message is the same object: a redraw then moves the
  // node instead of rebuilding it, so a playing <audio> or <video> keeps playing.
  messageNodes: new Map(),
};
storageSet(tokenKey, state.token);

const urlFor = (template) => template.replace("{token}", encodeURIComponent(state.token));

function post(type, extra = {}) {
  if (window.parent !== window) window.parent.postMessage({ source: "open-channels-chat", type, ...extra }, "*");
}

// --- rendering ------------------------------------------------------------------------------------

function messageItem(message) {
  const drawn = state.messageNodes.get(message.id);
  if (drawn && drawn.message === message) return drawn.node;
  const kind = message.author;
  const who = kind === "client" ? "" : message.author_name;
  const files = message.attachments || [];
  const node = el("li", { class: `msg msg-${kind}${message.deleted ? " is-deleted" : ""}`, dataset: { messageId: String(message.id) } },
    who ? el("span", { class: "who", text: who }) : null,
    message.deleted
      ? el("div", { class: "bubble", text: texts.deleted, title: formatTime(message.created_at) })
      : message.text || !files.length
        ? el("div", { class: "bubble", text: message.text, title: formatTime(message.created_at) })
        : null,
    files.length ? el("div", { class: "files" }, files.map(attachmentNode)) : null,
    message.edited && !message.deleted ? el("span", { class: "edited", text: texts.edited }) : null,
  );
  state.messageNodes.set(message.id, { message, node });
  return node;
}

function formatSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes >= 1024 * 1024) return `${formatNumber(bytes / (1024 * 1024), { maximumFractionDigits: 1 })} MB`;
  if (bytes >= 1024) return `${Math.floor(bytes / 1024)} KB`;
  return `${bytes} B`;
}

// One file of a message: a thumbnail, a player, or its name with a download link; while a file is being copied
// from a messenger, or after that failed, its name and what happened.
function attachmentNode(file) {
  if (file.state === "pending") {
    return el("div", { class: "file file-pending" },
      el("span", { class: "file-name", text: file.name }), el("span", { class: "file-state", text: texts.file_pending }));
  }
  if (file.state === "failed" || !file.url) {
    return el("div", { class: "file file-failed" },
      el("span", { class: "file-name", text: file.name }),
      el("span", { class: "file-state", text: texts.file_failed.replace("{reason}", file.error || "") }));
  }
  if ((file.kind === "image" || file.kind === "sticker") && (file.thumbnail_url || file.inline)) {
    const label = texts.file_open.replace("{name}", file.name);
    return el("a", { class: "file file-image", href: file.url, target: "_blank", rel: "noopener", title: label },
      el("img", { src: file.thumbnail_url || file.url, alt: file.name, loading: "lazy" }));
  }
  if ((file.kind === "audio" || file.kind === "voice") && file.inline) {
    return el("audio", { class: "file file-audio", controls: true, preload: "metadata", src: file.url, title: file.name });
  }
  if (file.kind === "video" && file.inline) {
    return el("video", { class: "file file-video", controls: true, preload: "metadata", src: file.url, title: file.name });
  }
  const details = [formatSize(file.size), file.mime_type].filter(Boolean).join(" · ");
  return el("a", { class: "file file-download", href: file.url, download: file.name, title: texts.file_download },
    el("span", { class: "file-icon", "aria-hidden": "true" }),
    el("span", { class: "file-text" },
      el("span", { class: "file-name", text: file.name }), el("span", { class: "file-details", text: details })));
}

function outboxItem(item) {
  return el("li", { class: "msg msg-client is-pending", dataset: { clientId: item.client_id } },
    el("div", { class: "bubble", text: item.text }),
    el("span", { class: "state", text: item.error || texts.sending }),
  );
}

function uploadItem(upload) {
  const failed = Boolean(upload.error);
  return el("li", { class: `msg msg-client is-pending upload${failed ? " is-failed" : ""}`, dataset: { uploadId: upload.client_id } },
    el("div", { class: "files" },
      el("div", { class: "file file-download" },
        el("span", { class: "file-icon", "aria-hidden": "true" }),
        el("span", { class: "file-text" },
          el("span", { class: "file-name", text: upload.file.name }),
          el("span", { class: "file-details", text: formatSize(upload.file.size) })))),
    failed ? null : el("progress", { max: "100", value: String(upload.percent) }),
    el("span", {
      class: "state",
      role: failed ? "alert" : null,
      text: failed
        ? texts.upload_failed.replace("{reason}", upload.error)
        : texts.uploading.replace("{percent}", String(upload.percent)),
    }),
    failed
      ? el("span", { class: "upload-actions" },
          el("button", { type: "button", class: "link-button", text: texts.retry, onclick: () => startUpload(upload) }),
          el("button", { type: "button", class: "link-button", text: texts.dismiss, onclick: () => dropUpload(upload) }))
      : null,
  );
}

function orderedMessages() {
  return [...state.messages.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
}

function pagingItem() {
  return el("li", { class: "chat-paging", role: "status", text: state.loadingOlder ? texts.loading_older : texts.older_available });
}

/** Redraw; the view follows the newest message when the visitor was there (or ``toLatest``: they just wrote).
 * Otherwise what they read stays where it was on screen: older messages added above (``keepPlace``), or a new one
 * arriving below while they read the history. */
function renderMessages({ keepPlace = false, toLatest = false } = {}) {
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  const fromTop = list.scrollTop;
  const follow = toLatest || (!keepPlace && state.followingLatest);
  list.replaceChildren(
    state.hasOlder ? pagingItem() : "",
    ...orderedMessages().filter((message) => message.notice !== "rating_request").map(messageItem),
    ...state.outbox.map(outboxItem),
    ...state.uploads.map(uploadItem),
  );
  if (follow) list.scrollTop = list.scrollHeight;
  else list.scrollTop = keepPlace ? list.scrollHeight - fromBottom : fromTop;
  state.followingLatest = follow || atLatest(list);
}

/** The visitor is reading the newest message when the list is scrolled (nearly) to its end. */
function atLatest(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

async function loadOlder() {
  const [first] = orderedMessages();
  if (!state.hasOlder || state.loadingOlder || !first) return;
  const conversation = state.conversation;
  state.loadingOlder = true;
  renderMessages({ keepPlace: true });
  try {
    const response = await fetch(`${urlFor(config.urls.state)}?before=${first.id}`, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`state ${response.status}`);
    const data = await response.json();
    if (state.conversation !== conversation) return;
    for (const message of data.messages) state.messages.set(message.id, message);
    state.hasOlder = data.has_older;
  } catch {
    // scrolling up again tries again
  } finally {
    state.loadingOlder = false;
    renderMessages({ keepPlace: true });
  }
}

function addMessages(messages) {
  let fromOperator = false;
  for (const message of messages) {
    // A message seen before is replaced: its files may have been downloaded (or failed) since.
    if (!state.messages.has(message.id) && message.author !== "client") fromOperator = true;
    state.messages.set(message.id, message);
  }
  renderMessages();
  if (messages.some((message) => message.notice === "rating_request")) renderState();
  if (fromOperator && !state.visible) post("unread");
  reportRead();
}

// The operator learns the visitor saw their messages: the highest one shown while the chat is open and the tab
// on screen goes up once ("read"); the server ignores an id it has already counted.
function reportRead() {
  if (!state.visible || document.visibilityState !== "visible" || !socket.isOpen) return;
  let latest = 0;
  for (const message of state.messages.values()) {
    if (message.author !== "client" && message.id > latest) latest = message.id;
  }
  if (latest <= (state.readReported || 0)) return;
  state.readReported = latest;
  socket.send("read", { message_id: latest });
}

function renderHeader() {
  const operator = state.conversation && state.conversation.operator;
  const identity = operator || config.channel;
  const avatar = $("header-avatar");
  avatar.textContent = identity.photo_url ? "" : initials(identity.name);
  avatar.style.backgroundImage = identity.photo_url ? `url("${encodeURI(identity.photo_url)}")` : "";
  $("header-title").textContent = config.channel.name;
  // Q12: the operator's name (or the channel's chosen name) once someone answers; nothing when hidden.
  $("header-subtitle").textContent = operator
    ? operator.name
    : config.out_of_hours.closed ? texts.closed_now : texts.open_now;
}

const prechatHasRequired = Object.values(config.forms.prechat).includes("required");

// Which form stands before the chat now: the consent notice first, then the offline form or the pre-chat one.
function currentForm() {
  if (state.consentNeeded) return "consent";
  const open = Boolean(state.conversation && state.conversation.is_open);
  if (state.offlineForm && !open) return "offline";
  const done = !prechatHasRequired && storageGet(detailsDoneKey) === "1";
  if (state.detailsNeeded && !done) return "prechat";
  return "";
}

function renderState() {
  const conversation = state.conversation;
  const form = currentForm();
  const awaitingRating = Boolean(conversation && conversation.awaiting_rating) && !state.rated && !form;
  const ended = Boolean(conversation && !conversation.is_open) && !form;
  const blocked = Boolean(form);
  $("consent").hidden = form !== "consent";
  $("prechat-form").hidden = form !== "prechat";
  $("offline-form").hidden = form !== "offline";
  if (form === "offline") {
    $("offline-intro").textContent = config.forms.offline_intro
      || (state.offlineForm === "closed" ? texts.offline_intro_closed : texts.offline_intro_busy);
  }
  $("messages").hidden = form === "offline";
  $("out-of-hours").hidden = form === "offline" || !(config.out_of_hours.closed && config.out_of_hours.text);
  $("composer").hidden = form === "offline" || form === "prechat";
  $("rating").hidden = !awaitingRating;
  $("rating-prompt").textContent = ratingRequestText() || texts.rate_prompt;
  $("ended").hidden = !ended;
  // One thank-you: the channel's own message in the thread, or this line when the channel sends none.
  const thanked = state.rated && !config.rating_thanks;
  $("ended").textContent = `${thanked ? texts.rated : texts.ended} ${texts.write_again}`;
  $("text").disabled = blocked;
  $("send").disabled = blocked || lengthOf($("text").value) > config.max_message_length;
  $("attach").disabled = blocked;
  $("transcript-open").hidden = !conversation || form === "offline";
  // A consent given can be withdrawn (issue 19): the chat asks for consent, and the visitor gave it.
  $("withdraw-open").hidden = !config.consent || Boolean(form) || state.consentWithdrawn;
  renderHeader();
}

/** The channel's rating request (a system message for messengers): the widget shows it once, above its buttons. */
function ratingRequestText() {
  const requests = orderedMessages().filter((message) => message.notice === "rating_request");
  return requests.length ? requests[requests.length - 1].text : "";
}

function showConnection(socketState) {
  const node = $("connection");
  node.hidden = socketState === "open";
  node.textContent = socketState === "connecting" && !state.everConnected ? texts.connecting : texts.reconnecting;
  if (socketState === "open") state.everConnected = true;
}

// --- data ------------------------------------------------------------------------------------------

async function fetchState({ onlyNew }) {
  const after = onlyNew && state.fetchedMessageId ? `?after=${state.fetchedMessageId}` : "";
  const response = await fetch(urlFor(config.urls.state) + after, { headers: { Accept: "application/json" } });
  if (response.status === 403) {
    // The stored token is no longer valid (too old, or the chat was set up again): start afresh.
    state.token = config.fresh_token;
    storageSet(tokenKey, state.token);
    socket.url = websocketUrl(urlFor(config.urls.socket));
    socket.drop();
    return;
  }
  if (!response.ok) throw new Error(`state ${response.status}`);
  const data = await response.json();
  state.consentNeeded = data.consent_needed;
  state.detailsNeeded = data.details_needed;
  state.offlineForm = data.offline_form;
  setConversation(data.conversation);
  if (!onlyNew || !state.fetchedMessageId) state.hasOlder = data.has_older; // a re-sync's page says nothing of older
  addMessages(data.messages);
  for (const message of data.messages) state.fetchedMessageId = Math.max(state.fetchedMessageId, message.id);
}

function setConversation(conversation) {
  if (conversation && state.conversation && conversation.id !== state.conversation.id) {
    state.messages = new Map();
    state.messageNodes = new Map();
    state.fetchedMessageId = 0;
    state.hasOlder = false;
    state.rated = false;
  }
  state.conversation = conversation;
  // Consent withdrawn during this conversation: once it ends, the next one asks for the notice again.
  if (state.consentWithdrawn && config.consent && conversation && !conversation.is_open) state.consentNeeded = true;
  renderState();
}

function saveOutbox() {
  storageSet(outboxKey, state.outbox.length ? JSON.stringify(state.outbox) : null);
}

async function flushOutbox() {
  // One flush at a time; a request made meanwhile runs once the current one ends.
  if (state.flushing) {
    state.flushAgain = true;
    return;
  }
  state.flushing = true;
  try {
    await flushOnce();
  } finally {
    state.flushing = false;
  }
  if (state.flushAgain) {
    state.flushAgain = false;
    flushOutbox();
  }
}

async function flushOnce() {
  for (const item of [...state.outbox]) {
    if (!socket.isOpen) return;
    try {
      const answer = await socket.request("send", { text: item.text, client_id: item.client_id });
      state.outbox = state.outbox.filter((queued) => queued.client_id !== item.client_id);
      saveOutbox();
      setConversation(answer.conversation);
      addMessages([answer.message]);
    } catch (error) {
      if (error.connectionLost || !socket.isOpen) return; // stays in the outbox; sent again after the reconnect
      const frame = error.frame || {};
      if (frame.code === 429) {
        item.error = error.message;
        renderMessages();
        setTimeout(flushOutbox, Math.max(1000, (frame.retry_after || 1) * 1000));
        return;
      }
      // Refused for good (e.g. consent missing): keep the text in the box so nothing is lost.
      state.outbox = state.outbox.filter((queued) => queued.client_id !== item.client_id);
      saveOutbox();
      renderMessages();
      if (!$("text").value) $("text").value = item.text;
      updateCounter();
      showNote(error.message);
      fetchState({ onlyNew: true }).catch(() => {}); // the pre-chat form may be what the server waits for
      return;
    }
  }
}

function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function showNote(text) {
  const note = $("transcript-note");
  note.textContent = text;
  note.hidden = false;
  clearTimeout(state.noteTimer);
  state.noteTimer = setTimeout(() => (note.hidden = true), 8000);
}

// --- events ------------------------------------------------------------------------------------------

function onEvent(frame) {
  if (frame.type === "message") {
    addMessages([frame.message]);
    if (frame.message.author === "operator") $("typing").hidden = true;
  } else if (frame.type === "conversation") {
    if (!state.conversation || !frame.conversation || frame.conversation.id !== state.conversation.id) {
      setConversation(frame.conversation);
      fetchState({ onlyNew: false }).catch(() => {});
    } else {
      setConversation(frame.conversation);
    }
  } else if (frame.type === "typing") {
    const operator = state.conversation && state.conversation.operator;
    $("typing").textContent = `${operator ? operator.name : texts.operator} ${texts.typing}`;
    $("typing").hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => ($("typing").hidden = true), 5000);
  } else if (frame.type === "error") {
    showNote(frame.message);
  }
}

async function resync() {
  // A file still being copied from a messenger may have arrived (or failed) while the socket was down: that
  // changes an old message, which only a full read brings back.
  const filePending = [...state.messages.values()].some((message) =>
    (message.attachments || []).some((file) => file.state === "pending"));
  try {
    await fetchState({ onlyNew: !filePending });
  } catch {
    // the next reconnect or wake-up tries again
  }
  flushOutbox();
}

const socket = new LiveSocket(websocketUrl(urlFor(config.urls.socket)), {
  texts: { notConnected: texts.reconnecting, connectionLost: texts.reconnecting, noAnswer: texts.no_answer },
  onEvent,
  onResync: resync,
  onState: showConnection,
});

// --- visitor actions ------------------------------------------------------------------------------------

// --- the length of a message --------------------------------------------------------------------------------
// Nothing is cut silently: the box takes any length, a counter appears near the limit and turns red beyond it, and
// an over-long message is not sent (the text stays in the box to be shortened). The server refuses one anyway.

function updateCounter() {
  const limit = config.max_message_length;
  const over = countLength($("text").value, limit, $("counter"), texts);
  $("text").setAttribute("aria-invalid", over ? "true" : "false");
  $("too-long").hidden = !over;
  $("too-long").textContent = over ? texts.too_long.replace("{limit}", formatNumber(limit)) : "";
  $("send").disabled = over || Boolean(currentForm());
}

function submitMessage(event) {
  event.preventDefault();
  const textarea = $("text");
  const text = textarea.value.trim();
  if (!text) return;
  if (lengthOf(text) > config.max_message_length) {
    updateCounter();
    textarea.focus();
    return;
  }
  textarea.value = "";
  state.outbox.push({ client_id: newClientId(), text });
  saveOutbox();
  updateCounter();
  renderMessages({ toLatest: true });
  flushOutbox();
}

// --- files ---------------------------------------------------------------------------------------------------

function fileExtension(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

// Why the chat would refuse this file, in the visitor's words ("" when it may go up). The server decides;
// this only spares the visitor an upload that cannot succeed.
function fileRefusal(file) {
  const limits = config.files;
  if (file.size > limits.max_bytes) {
    return texts.file_too_large.replace("{name}", file.name).replace("{limits}", limits.description);
  }
  const extension = fileExtension(file.name);
  if (extension && !limits.accept.split(",").includes(extension)) {
    return texts.file_type_refused.replace("{name}", file.name).replace("{limits}", limits.description);
  }
  return "";
}

function sendFiles(fileList) {
  if (!config.files || state.consentNeeded) return;
  for (const file of fileList) {
    const refusal = fileRefusal(file);
    if (refusal) {
      showNote(refusal);
      continue;
    }
    const upload = { client_id: newClientId(), file, percent: 0, error: "" };
    state.uploads.push(upload);
    startUpload(upload);
  }
}

function uploadChanged(upload) {
  // Progress redraws only its own item, so the thread is not rebuilt many times a second.
  const node = $("messages").querySelector(`[data-upload-id="${upload.client_id}"]`);
  if (node) node.replaceWith(uploadItem(upload));
  else renderMessages();
}

function startUpload(upload) {
  upload.error = "";
  upload.percent = 0;
  renderMessages({ toLatest: true });
  const body = new FormData();
  body.append("file", upload.file, upload.file.name);
  // The same id on a retry: if the first try reached the server after all, the message is not stored twice.
  body.append("client_message_id", upload.client_id);
  const request = new XMLHttpRequest();
  request.open("POST", urlFor(config.urls.files));
  request.setRequestHeader("Accept", "application/json");
  request.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    upload.percent = Math.min(99, Math.floor((event.loaded / event.total) * 100));
    uploadChanged(upload);
  });
  request.addEventListener("load", () => {
    let data = {};
    try {
      data = JSON.parse(request.responseText);
    } catch {
      // not JSON (a proxy's page): the status says enough
    }
    if (request.status === 201) {
      dropUpload(upload);
      setConversation(data.conversation);
      addMessages([data.message]);
      return;
    }
    upload.error = data.detail || Object.values(data).flat().join(" ") || `Error ${request.status}`;
    uploadChanged(upload);
  });
  request.addEventListener("error", () => {
    upload.error = texts.upload_lost;
    uploadChanged(upload);
  });
  request.send(body);
}

function dropUpload(upload) {
  state.uploads = state.uploads.filter((item) => item !== upload);
  renderMessages();
}

function hasFiles(event) {
  return Boolean(event.dataTransfer && [...event.dataTransfer.types].includes("Files"));
}

function wireFiles() {
  if (!config.files) return; // this chat takes no files
  const input = $("file-input");
  input.accept = config.files.accept;
  $("attach").hidden = false;
  $("attach").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    sendFiles([...input.files]);
    input.value = "";
  });
  const chat = $("chat");
  let depth = 0; // dragenter and dragleave fire for every child crossed: count them to know when the file left
  chat.addEventListener("dragenter", (event) => {
    if (!hasFiles(event) || state.consentNeeded) return;
    event.preventDefault();
    depth += 1;
    $("drop").hidden = false;
  });
  chat.addEventListener("dragover", (event) => {
    if (!hasFiles(event) || state.consentNeeded) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  chat.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) $("drop").hidden = true;
  });
  chat.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    $("drop").hidden = true;
    sendFiles([...event.dataTransfer.files]);
  });
  // A screenshot or a copied image pasted into the text box goes up as a file; pasted text stays text.
  $("text").addEventListener("paste", (event) => {
    const pasted = event.clipboardData ? [...event.clipboardData.files] : [];
    if (!pasted.length) return;
    event.preventDefault();
    sendFiles(pasted);
  });
}

async function acceptConsent() {
  try {
    await socket.request("consent");
    state.consentNeeded = false;
    state.consentWithdrawn = false;
    $("withdrawn-note").hidden = true;
    renderState();
    $("text").focus();
  } catch (error) {
    showNote(error.message);
  }
}

// --- the pre-chat and offline forms (issue 15) ----------------------------------------------------------------

function prechatFields() {
  const limits = config.forms.max_lengths;
  return ["name", "email", "phone"]
    .filter((name) => config.forms.prechat[name] !== "off")
    .map((name) => ({ name, required: config.forms.prechat[name] === "required", maxLength: limits[name] }));
}

function offlineFields() {
  const limits = config.forms.max_lengths;
  // Name, e-mail and phone (required as the pre-chat form says; an e-mail or a phone at least), then the message.
  return [
    ...["name", "email", "phone"].map((name) => ({
      name, required: config.forms.prechat[name] === "required", maxLength: limits[name],
    })),
    { name: "message", required: true, maxLength: config.max_message_length },
  ];
}

async function postForm(url, body) {
  const response = await fetch(urlFor(url), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  return { response, data };
}

async function submitForm(event, { form, url, needsContact, onDone }) {
  event.preventDefault();
  const errors = fieldErrors(form, { needsContact }, texts);
  if (Object.keys(errors).length) {
    showErrors(form, errors, texts.error_form);
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const { response, data } = await postForm(url, formValues(form));
    if (response.ok) {
      showErrors(form, {}, "");
      onDone(data);
    } else {
      showErrors(form, data.fields || {}, data.detail || `Error ${response.status}`);
    }
  } catch {
    showErrors(form, {}, texts.upload_lost);
  } finally {
    button.disabled = false;
  }
}

function wireForms() {
  drawFields($("prechat-form"), "prechat", prechatFields(), texts);
  drawFields($("offline-form"), "offline", offlineFields(), texts);
  $("prechat-form").addEventListener("submit", (event) => submitForm(event, {
    form: $("prechat-form"),
    url: config.urls.details,
    needsContact: false,
    onDone: (data) => {
      storageSet(detailsDoneKey, "1");
      state.detailsNeeded = data.details_needed;
      renderState();
      $("text").focus();
    },
  }));
  $("offline-form").addEventListener("submit", (event) => submitForm(event, {
    form: $("offline-form"),
    url: config.urls.offline,
    needsContact: true,
    onDone: (data) => {
      state.offlineForm = "";
      state.detailsNeeded = false;
      $("offline-form").reset();
      $("offline-sent").textContent = texts.offline_sent;
      $("offline-sent").hidden = false;
      setConversation(data.conversation);
      addMessages([data.message]);
      // The out-of-hours or "nobody available" reply was stored after the answer left: read it too.
      setTimeout(() => fetchState({ onlyNew: false }).catch(() => {}), 1000);
    },
  }));
}

async function rate(value) {
  try {
    const answer = await socket.request("rate", { value });
    state.rated = true;
    setConversation(answer.conversation); // the thanks arrives as the channel's message (or the ended line says it)
  } catch (error) {
    showNote(error.message);
  }
}

async function sendTranscript(event) {
  event.preventDefault();
  const email = $("transcript-email").value.trim();
  const response = await fetch(urlFor(config.urls.transcript), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ email }),
  });
  const data = await response.json().catch(() => ({}));
  if (response.ok) {
    $("transcript-form").hidden = true;
    showNote(texts.transcript_sent.replace("{email}", data.email));
    // A typed address is used to contact the visitor only once they open the link mailed to it: say so,
    // and leave it on screen (the transcript note fades) so the visitor knows to look for the mail.
    $("email-confirm-note").textContent = texts.email_confirm_sent;
    $("email-confirm-note").hidden = !data.confirmation_sent;
  } else {
    showNote(data.detail || Object.values(data).flat().join(" ") || `Error ${response.status}`);
  }
}

// Withdrawing consent (issue 19): asked to confirm, then recorded; the open conversation continues.
async function withdrawConsent() {
  $("withdraw-confirm").hidden = true;
  const response = await fetch(urlFor(config.urls.consent_withdraw), {
    method: "POST",
    headers: { Accept: "application/json" },
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    showNote(data.detail || `Error ${response.status}`);
    return;
  }
  state.consentWithdrawn = true;
  $("withdrawn-note").textContent = texts.consent_withdrawn;
  $("withdrawn-note").hidden = false;
  // With no conversation going on, the notice is asked for again at once.
  if (!data.conversation_continues) await fetchState({ onlyNew: true });
  renderState();
}

function onTextInput() {
  const now = Date.now();
  if (state.conversation && state.conversation.is_open && now - state.lastTypingSentAt > 3000) {
    state.lastTypingSentAt = now;
    socket.send("typing");
  }
}

// --- wiring --------------------------------------------------------------------------------------------

function applyTexts() {
  $("text").placeholder = texts.placeholder;
  $("send").textContent = texts.send;
  $("consent-title").textContent = config.consent ? config.consent.title || texts.consent_title : texts.consent_title;
  $("consent-text").textContent = config.consent ? config.consent.text : "";
  $("consent-accept").textContent = texts.consent_accept;
  $("rating-prompt").textContent = texts.rate_prompt;
  $("rate-like").textContent = `👍 ${texts.like}`;
  $("rate-dislike").textContent = `👎 ${texts.dislike}`;
  $("transcript-open").textContent = texts.transcript_button;
  $("transcript-email").placeholder = texts.transcript_email;
  $("transcript-email").setAttribute("aria-label", texts.transcript_email);
  $("transcript-send").textContent = texts.transcript_send;
  $("withdraw-open").textContent = texts.consent_withdraw;
  $("withdraw-question").textContent = texts.consent_withdraw_confirm;
  $("withdraw-yes").textContent = texts.consent_withdraw_yes;
  $("withdraw-no").textContent = texts.consent_withdraw_no;
  $("attach").setAttribute("aria-label", texts.attach);
  $("attach").title = config.files ? `${texts.attach} (${config.files.description})` : texts.attach;
  $("drop").textContent = texts.drop_here;
  $("prechat-title").textContent = texts.prechat_title;
  $("prechat-submit").textContent = texts.prechat_submit;
  $("offline-title").textContent = texts.offline_title;
  $("offline-submit").textContent = texts.offline_submit;
  if (config.out_of_hours.closed && config.out_of_hours.text) {
    $("out-of-hours").textContent = config.out_of_hours.text;
    $("out-of-hours").hidden = false;
  }
}

applyTexts();
wireFiles();
wireForms();
renderState();
renderMessages();
$("composer").addEventListener("submit", submitMessage);
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("text").addEventListener("input", onTextInput);
$("text").addEventListener("input", updateCounter);
$("messages").addEventListener("scroll", () => {
  const list = $("messages");
  state.followingLatest = atLatest(list);
  if (list.scrollTop < 120) loadOlder();
}, { passive: true });
// The list shrinks when the composer, the rating or a note appears below it, and has no height while the widget is
// closed: a visitor who was at the newest message stays there.
new ResizeObserver(() => {
  const list = $("messages");
  if (state.followingLatest && !atLatest(list)) list.scrollTop = list.scrollHeight;
}).observe($("messages"));
$("consent-accept").addEventListener("click", acceptConsent);
$("rate-like").addEventListener("click", () => rate("like"));
$("rate-dislike").addEventListener("click", () => rate("dislike"));
$("transcript-open").addEventListener("click", () => {
  $("email-confirm-note").hidden = true;
  $("transcript-form").hidden = !$("transcript-form").hidden;
  if (!$("transcript-form").hidden) $("transcript-email").focus();
});
$("transcript-form").addEventListener("submit", sendTranscript);
$("withdraw-open").addEventListener("click", () => {
  $("withdraw-confirm").hidden = false;
  $("withdraw-yes").focus();
});
$("withdraw-no").addEventListener("click", () => ($("withdraw-confirm").hidden = true));
$("withdraw-yes").addEventListener("click", withdrawConsent);
$("minimize").addEventListener("click", () => post("minimize"));
// Escape closes the chat as the minimise button does (the website's launcher comes back and takes the focus).
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.isComposing && !event.defaultPrevented) post("minimize");
});
window.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.source === "open-channels-host" && data.type === "visibility") {
    state.visible = Boolean(data.open);
    reportRead();
    if (state.visible && !$("text").disabled) $("text").focus();
  }
});
document.addEventListener("visibilitychange", reportRead);
post("ready", { launcher: texts.launcher });
window.openChannelsChat = { socket, state };
socket.connect();
