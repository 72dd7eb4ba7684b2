// Private notes in the console (issue 15): the note box under the reply box, its @mention suggestions, and how a
// note's mentions are highlighted in the timeline. A note goes to the server over REST; the server resolves the
// @names itself (the suggestions only help typing) and sends the note back to every console watching the
// conversation as `note.created`. The client never receives a note.

import { $, api, config, gettext, urlFor } from "./common.js";
import { el } from "./socket.js";

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The bubble of a note, its @mentions (the names the server resolved) highlighted; text only, never HTML. */
export function noteBody(note) {
  const names = [...new Set((note.mentions || []).map((person) => person.name).filter(Boolean))].sort((a, b) => b.length - a.length);
  if (!names.length) return el("div", { class: "bubble", text: note.text });
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_@])@(?:${names.map(escapeRegExp).join("|")})(?![\\p{L}\\p{N}_])`, "giu");
  const pieces = [];
  let position = 0;
  for (const match of note.text.matchAll(pattern)) {
    if (match.index > position) pieces.push(note.text.slice(position, match.index));
    pieces.push(el("span", { class: "mention", text: match[0] }));
    position = match.index + match[0].length;
  }
  if (position < note.text.length) pieces.push(note.text.slice(position));
  return el("div", { class: "bubble" }, ...pieces);
}

const notes = {
  candidates: new Map(), // conversation id -> [{id, name}]
  shown: [],
  index: 0,
  asked: 0, // how many suggestion lists were asked for: a late answer to an older one is dropped
};

function currentId() {
  const consoleState = window.openChannelsConsole && window.openChannelsConsole.state;
  return consoleState ? consoleState.currentId : null;
}

async function candidatesFor(conversationId) {
  if (!notes.candidates.has(conversationId)) {
    notes.candidates.set(conversationId, await api(urlFor(config.urls.mention_candidates, conversationId)).catch(() => []));
  }
  return notes.candidates.get(conversationId);
}

/** The "@query" being typed just before the caret, or null. */
function mentionAtCaret(textarea) {
  const before = textarea.value.slice(0, textarea.selectionStart);
  const match = /(?:^|\s)@([^@\n]{0,40})$/u.exec(before);
  return match ? { query: match[1], start: before.length - match[1].length - 1 } : null;
}

function hideMentions() {
  notes.asked += 1;
  notes.shown = [];
  $("mention-suggestions").hidden = true;
}

function renderMentions() {
  const box = $("mention-suggestions");
  box.replaceChildren(
    ...notes.shown.map((person, index) =>
      el("button", {
        type: "button",
        role: "option",
        "aria-selected": index === notes.index ? "true" : "false",
        text: person.name,
        onmousedown: (event) => {
          event.preventDefault();
          insertMention(person);
        },
      }),
    ),
  );
  box.hidden = notes.shown.length === 0;
}

async function updateMentions() {
  const textarea = $("note-input");
  const conversationId = currentId();
  if (!mentionAtCaret(textarea) || !conversationId) return hideMentions();
  const asked = ++notes.asked;
  const people = await candidatesFor(conversationId);
  // Typing went on while the list loaded: only the latest call draws, from what the box holds now.
  if (asked !== notes.asked) return;
  const token = mentionAtCaret(textarea);
  if (!token || currentId() !== conversationId) return hideMentions();
  const query = token.query.toLocaleLowerCase();
  notes.shown = people.filter((person) => person.name.toLocaleLowerCase().startsWith(query) || person.name.toLocaleLowerCase().includes(` ${query}`)).slice(0, 8);
  notes.index = 0;
  renderMentions();
}

function insertMention(person) {
  const textarea = $("note-input");
  const token = mentionAtCaret(textarea);
  if (!token) return hideMentions();
  const after = textarea.value.slice(textarea.selectionStart);
  const inserted = `@${person.name} `;
  textarea.value = textarea.value.slice(0, token.start) + inserted + after;
  const caret = token.start + inserted.length;
  textarea.setSelectionRange(caret, caret);
  hideMentions();
  textarea.focus();
}

function showError(text) {
  let node = $("note-error");
  if (!node) {
    node = el("p", { id: "note-error", class: "note is-error", role: "alert" });
    $("note-composer").after(node);
  }
  node.textContent = text;
  node.hidden = !text;
}

async function submitNote(event) {
  event.preventDefault();
  const textarea = $("note-input");
  const text = textarea.value.trim();
  const conversationId = currentId();
  if (!text || !conversationId) return;
  $("btn-note").disabled = true;
  try {
    await api(urlFor(config.urls.notes, conversationId), { method: "POST", body: { text } });
    textarea.value = "";
    showError("");
  } catch (error) {
    // The server's words when it gave some (a refused note), else a plain sentence (the network failed).
    showError(error.data && Object.keys(error.data).length ? error.message : gettext("The note was not saved."));
  } finally {
    $("btn-note").disabled = false;
    hideMentions();
  }
}

function onKeydown(event) {
  if (notes.shown.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      notes.index = (notes.index + (event.key === "ArrowDown" ? 1 : -1) + notes.shown.length) % notes.shown.length;
      renderMentions();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertMention(notes.shown[notes.index]);
      return;
    }
    if (event.key === "Escape") return hideMentions();
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("note-composer").requestSubmit();
  }
}

if ($("note-composer")) {
  $("note-composer").addEventListener("submit", submitNote);
  $("note-input").addEventListener("keydown", onKeydown);
  $("note-input").addEventListener("input", () => updateMentions().catch(hideMentions));
  $("note-input").addEventListener("blur", () => setTimeout(hideMentions, 150));
}
