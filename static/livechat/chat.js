// The live-chat window inside the widget's iframe (served by the contact center, see widget.js).
//
// Nothing the visitor writes is lost: every message gets an id in the browser and waits in an
// outbox (kept in localStorage) until the server acknowledges it; after a dropped connection the
// outbox is sent again and the server stores a message with a known id only once. Missed operator
// messages are fetched from the database after every reconnect. All text goes in with textContent.

import { LiveSocket, el, formatTime, initials, websocketUrl } from "../console/socket.js";

const config = JSON.parse(document.getElementById("livechat-config").textContent);
const texts = config.texts;
const $ = (id) => document.getElementById(id);
const tokenKey = `open-channels-chat:${config.key}:token`;
const outboxKey = `open-channels-chat:${config.key}:outbox`;

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
  outbox: JSON.parse(storageGet(outboxKey) || "[]"),
  consentNeeded: false,
  rated: false,
  visible: false,
  typingTimer: null,
  lastTypingSentAt: 0,
};
storageSet(tokenKey, state.token);

const urlFor = (template) => template.replace("{token}", encodeURIComponent(state.token));

function post(type, extra = {}) {
  if (window.parent !== window) window.parent.postMessage({ source: "open-channels-chat", type, ...extra }, "*");
}

// --- rendering ------------------------------------------------------------------------------------

function messageItem(message) {
  const kind = message.author;
  const who = kind === "client" ? "" : message.author_name;
  return el("li", { class: `msg msg-${kind}`, dataset: { messageId: String(message.id) } },
    who ? el("span", { class: "who", text: who }) : null,
    el("div", { class: "bubble", text: message.text, title: formatTime(message.created_at) }),
  );
}

function outboxItem(item) {
  return el("li", { class: "msg msg-client is-pending", dataset: { clientId: item.client_id } },
    el("div", { class: "bubble", text: item.text }),
    el("span", { class: "state", text: item.error || texts.sending }),
  );
}

function renderMessages() {
  const list = $("messages");
  const ordered = [...state.messages.values()].sort(
    (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id,
  );
  list.replaceChildren(...ordered.map(messageItem), ...state.outbox.map(outboxItem));
  list.scrollTop = list.scrollHeight;
}

function addMessages(messages) {
  let fromOperator = false;
  for (const message of messages) {
    if (!state.messages.has(message.id)) {
      state.messages.set(message.id, message);
      if (message.author !== "client") fromOperator = true;
    }
  }
  renderMessages();
  if (fromOperator && !state.visible) post("unread");
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

function renderState() {
  const conversation = state.conversation;
  const awaitingRating = Boolean(conversation && conversation.awaiting_rating) && !state.rated;
  const ended = Boolean(conversation && !conversation.is_open);
  $("consent").hidden = !state.consentNeeded;
  $("rating").hidden = !awaitingRating;
  $("ended").hidden = !ended;
  $("ended").textContent = state.rated ? `${texts.rated} ${texts.write_again}` : `${texts.ended} ${texts.write_again}`;
  $("text").disabled = state.consentNeeded;
  $("send").disabled = state.consentNeeded;
  $("transcript-open").hidden = !conversation;
  renderHeader();
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
  setConversation(data.conversation);
  addMessages(data.messages);
  for (const message of data.messages) state.fetchedMessageId = Math.max(state.fetchedMessageId, message.id);
}

function setConversation(conversation) {
  if (conversation && state.conversation && conversation.id !== state.conversation.id) {
    state.messages = new Map();
    state.fetchedMessageId = 0;
    state.rated = false;
  }
  state.conversation = conversation;
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
      showNote(error.message);
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
  try {
    await fetchState({ onlyNew: true });
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

function submitMessage(event) {
  event.preventDefault();
  const textarea = $("text");
  const text = textarea.value.trim();
  if (!text) return;
  if (text.length > config.max_message_length) return;
  textarea.value = "";
  state.outbox.push({ client_id: newClientId(), text });
  saveOutbox();
  renderMessages();
  flushOutbox();
}

async function acceptConsent() {
  try {
    await socket.request("consent");
    state.consentNeeded = false;
    renderState();
    $("text").focus();
  } catch (error) {
    showNote(error.message);
  }
}

async function rate(value) {
  try {
    const answer = await socket.request("rate", { value });
    state.rated = true;
    setConversation(answer.conversation);
    showNote(texts.rated);
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
  if (config.out_of_hours.closed && config.out_of_hours.text) {
    $("out-of-hours").textContent = config.out_of_hours.text;
    $("out-of-hours").hidden = false;
  }
}

applyTexts();
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
$("consent-accept").addEventListener("click", acceptConsent);
$("rate-like").addEventListener("click", () => rate("like"));
$("rate-dislike").addEventListener("click", () => rate("dislike"));
$("transcript-open").addEventListener("click", () => {
  $("email-confirm-note").hidden = true;
  $("transcript-form").hidden = !$("transcript-form").hidden;
  if (!$("transcript-form").hidden) $("transcript-email").focus();
});
$("transcript-form").addEventListener("submit", sendTranscript);
$("minimize").addEventListener("click", () => post("minimize"));
window.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.source === "open-channels-host" && data.type === "visibility") state.visible = Boolean(data.open);
});
post("ready", { launcher: texts.launcher });
window.openChannelsChat = { socket, state };
socket.connect();
