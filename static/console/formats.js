// Dates, times and numbers in the page's language: the server writes it in <html lang> (the operator's language in
// the console, the open channel's in the widget, the supervisor's on the KPI pages). No import and no side effect,
// so the widget (which has no console config) and any page may load it; common.js re-exports it for the console.
//
// The clock is always 24-hour ("h23"): it is how Polish and Vietnamese write time, and one team reading one
// queue should read the same clock whatever the browser's own locale says. Never call toLocaleTimeString() or
// toLocaleString() without these: the browser's default locale is not the operator's language.

/** The page's language as a locale Intl accepts; undefined (the browser's own) when the tag is unknown. */
export function pageLocale() {
  const lang = document.documentElement.lang;
  if (!lang) return undefined;
  try {
    return Intl.getCanonicalLocales(lang)[0];
  } catch {
    return undefined;
  }
}

const cache = new Map();

function formatter(kind, options) {
  const locale = pageLocale();
  const key = `${kind}|${locale}|${JSON.stringify(options)}`;
  if (!cache.has(key)) {
    cache.set(key, kind === "number" ? new Intl.NumberFormat(locale, options) : new Intl.DateTimeFormat(locale, options));
  }
  return cache.get(key);
}

const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
const DAY = { day: "numeric", month: "short" };

function asDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const isToday = (date) => date.toDateString() === new Date().toDateString();

/** "14:05" today, "3 gru" on another day: the short form for lists. */
export function formatTime(iso) {
  const date = asDate(iso);
  if (!date) return "";
  return formatter("date", isToday(date) ? CLOCK : DAY).format(date);
}

/** "14:05" today, "3 gru 14:05" on another day: a moment the operator must read exactly (a deadline, an outage). */
export function formatClock(iso) {
  const date = asDate(iso);
  if (!date) return "";
  const time = formatter("date", CLOCK).format(date);
  return isToday(date) ? time : `${formatter("date", DAY).format(date)} ${time}`;
}

/** The day alone, e.g. "3 gru 2026" (options as Intl.DateTimeFormat's, default: day, short month, year). */
export function formatDate(iso, options = { day: "numeric", month: "short", year: "numeric" }) {
  const date = asDate(iso);
  return date ? formatter("date", options).format(date) : "";
}

/** Day and 24-hour time, e.g. "3 gru 2026, 14:05": for a title or tooltip that says exactly when. */
export function formatDateTime(iso) {
  const date = asDate(iso);
  return date ? formatter("date", { day: "numeric", month: "short", year: "numeric", ...CLOCK }).format(date) : "";
}

/** A number people read, with the language's decimal separator ("16,5" in Polish); "" for no value. */
export function formatNumber(value, options = { maximumFractionDigits: 1 }) {
  if (value === null || value === undefined || value === "" || Number.isNaN(Number(value))) return "";
  return formatter("number", options).format(Number(value));
}
