// M5: canned replies typed by shortcut. "/hel" at the caret offers every reply whose shortcut starts
// with "hel"; choosing one replaces the "/hel" token with the reply's text.

const TOKEN = /(^|\s)\/([\w-]*)$/;

/** The "/query" token that ends at the caret, or null. */
export function shortcutAtCaret(text, caret) {
  const before = text.slice(0, caret);
  const match = TOKEN.exec(before);
  if (!match) return null;
  const start = match.index + match[1].length;
  return { start, end: caret, query: match[2].toLowerCase() };
}

export function cannedMatches(replies, query) {
  const exact = replies.filter((reply) => reply.shortcut.toLowerCase() === query);
  const prefixed = replies.filter((reply) => reply.shortcut.toLowerCase().startsWith(query) && !exact.includes(reply));
  return [...exact, ...prefixed].slice(0, 8);
}

export function replaceShortcut(text, token, replacement) {
  const next = text.slice(0, token.start) + replacement + text.slice(token.end);
  return { text: next, caret: token.start + replacement.length };
}
