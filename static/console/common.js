// What every module of the console shares: translation (Django's JavaScriptCatalog, loaded before the modules in
// the operator's language; without it the English text stays), the page's JSON config, the REST helper, and the
// console's link to a conversation (at a message).

export const gettext = (text) => (window.gettext ? window.gettext(text) : text);
export const ngettext = (singular, plural, count) =>
  window.ngettext ? window.ngettext(singular, plural, count) : count === 1 ? singular : plural;
export const interpolate = (format, values) => format.replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
export const config = JSON.parse(document.getElementById("console-config").textContent);
export const $ = (id) => document.getElementById(id);
export const urlFor = (template, id) => template.replace("{id}", String(id));

/** JSON over the console's REST API; a refusal throws an Error with the server's words, ``status`` and ``data``. */
export async function api(url, { method = "GET", body } = {}) {
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

/** Open a conversation (at a message) through the console's link (console.js follows it); twice still opens it. */
export function openLink(conversationId, messageId = null) {
  const hash = `#conversation=${conversationId}` + (messageId ? `&message=${messageId}` : "");
  if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else window.location.hash = hash;
}

// Dates, times and numbers in the operator's language (24-hour clock): one place, formats.js.
export { formatClock, formatDate, formatDateTime, formatNumber, formatTime, pageLocale } from "./formats.js";
