// Issue 21: what the console shows while a conversation's source (Telegram, WhatsApp…) is not answering.
//
// The conversation rows and detail carry ``connector_id``, ``source_name`` and ``source_unreachable_since`` (null
// while the source answers). The ``connector.reachability`` event (sent when the connector's circuit breaker
// opens or closes) updates every shown conversation of that connector; a re-sync reads the database again.
// Replies keep being accepted meanwhile: they wait, shown as delayed, and go out in order when it answers.

import { $, gettext, interpolate } from "./common.js";
import { el, formatClock } from "./socket.js";

/** Apply a ``connector.reachability`` event to the payloads it concerns; true if any of them changed. */
export function applyReachability(frame, payloads) {
  const since = frame.unreachable ? frame.unreachable_since || new Date().toISOString() : null;
  let changed = false;
  for (const payload of payloads) {
    if (!payload || payload.connector_id !== frame.connector_id) continue;
    if ((payload.source_unreachable_since || null) === since) continue;
    payload.source_unreachable_since = since;
    changed = true;
  }
  return changed;
}

function bannerText(payload) {
  return interpolate(
    gettext("%(source)s has not answered since %(time)s. Your replies wait and go out, in order, when it answers again."),
    { source: payload.source_name, time: formatClock(payload.source_unreachable_since) },
  );
}

/** The banner above the open conversation's messages: shown while its source is not answering. */
export function renderOutageBanner(detail) {
  const banner = $("outage-banner");
  if (!banner) return;
  const down = Boolean(detail && detail.source_unreachable_since);
  banner.hidden = !down;
  banner.dataset.connectorId = detail ? String(detail.connector_id) : "";
  banner.replaceChildren(...(down ? [
    el("span", { class: "outage-icon", "aria-hidden": "true", text: "⚠" }),
    el("span", { class: "outage-text", text: bannerText(detail) }),
  ] : []));
}

/** A tag on a conversation row of the lists, while its source is not answering; null otherwise. */
export function outageTag(row) {
  if (!row.source_unreachable_since) return null;
  return el("span", {
    class: "tag tag-outage",
    text: interpolate(gettext("%(source)s not answering"), { source: row.source_name }),
    title: bannerText(row),
  });
}
