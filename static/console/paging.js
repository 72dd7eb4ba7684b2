// Issue 15, point 3: a conversation opens on its latest messages and pages older (and, from a linked message,
// newer) ones as the operator scrolls. What is pure about it lives here; console.js owns the state.

/** The messages endpoint's query for a page: the latest (no position), ``before``, ``around`` or ``after`` an id. */
export function pageQuery(position = {}) {
  const [name, id] = Object.entries(position).find(([, value]) => value !== null && value !== undefined) || [];
  return name ? `?${name}=${encodeURIComponent(String(id))}` : "";
}

/** The loaded messages' first and last by (time, id), or nulls when none is loaded. */
export function loadedEnds(messages) {
  let first = null;
  let last = null;
  const before = (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id;
  for (const message of messages) {
    if (!first || before(message, first) < 0) first = message;
    if (!last || before(message, last) > 0) last = message;
  }
  return { first, last };
}

/** Whether a note falls within the loaded stretch of the timeline: a note older than the oldest loaded message
 * waits for that older page, one newer than the newest loaded (while newer pages exist) for the newer page. */
export function noteInLoadedRange(note, { first, last }, { hasOlder, hasNewer }) {
  const at = Date.parse(note.created_at);
  if (hasOlder && first && at < Date.parse(first.created_at)) return false;
  if (hasNewer && last && at > Date.parse(last.created_at)) return false;
  return true;
}

/** Redraw ``list`` by ``render()`` without moving what the reader sees: rows added above keep their place on
 * screen (scrolling up), rows added below leave the scroll position as it was (scrolling down). */
export function redrawInPlace(list, render, { addedAbove }) {
  const fromBottom = list.scrollHeight - list.scrollTop;
  const fromTop = list.scrollTop;
  render();
  list.scrollTop = addedAbove ? list.scrollHeight - fromBottom : fromTop;
}
