// Delivery state of an operator's message in the console (issue 15.5): sending…, sent ✓, delivered ✓✓,
// read ✓✓ (coloured), or failed with the messenger's reason and a Retry button. Each state is written in words
// too (and as the aria-label), never only as ticks. The ``message.delivery`` event redraws the message live.
// Issue 21: a reply still queued after a failure that may pass (or held while its source is not answering) is
// "Delayed", with the reason and until when it is retried; after that it fails like any other.

import { gettext, interpolate } from "./common.js";
import { el, formatClock } from "./socket.js";

// Messages whose delivery is shown: what the operator or a bot wrote to the client (system notices stay quiet).
const OUTBOUND = new Set(["operator", "bot"]);

function states() {
  return {
    queued: { ticks: "", words: gettext("Sending…") },
    sent: { ticks: "✓", words: gettext("Sent") },
    delivered: { ticks: "✓✓", words: gettext("Delivered") },
    read: { ticks: "✓✓", words: gettext("Read") },
  };
}

/**
 * The line under an outbound message saying where it is; ``onRetry(message, button)`` sends a failed one again
 * (only an operator's message offers it). ``null`` for a client's message. ``sourceDown``: the name of the
 * conversation's source while it is not answering (a reply still queued then waits for it: delayed too).
 */
export function deliveryNote(message, onRetry, { sourceDown = "" } = {}) {
  if (!OUTBOUND.has(message.author_kind) || !message.delivery || message.delivery === "received") return null;
  if (message.delivery === "failed") {
    const reason = message.delivery_error || gettext("no reason given");
    const words = interpolate(gettext("Not delivered: %(reason)s"), { reason });
    return el("span", { class: "delivery", role: "status", dataset: { delivery: "failed" } },
      el("span", { class: "state delivery-failed", text: words }),
      message.author_kind === "operator" && onRetry
        ? el("button", {
          class: "btn btn-small delivery-retry", type: "button", text: gettext("Retry"),
          "aria-label": gettext("Send this message again"),
          onclick: (event) => onRetry(message, event.currentTarget),
        })
        : null,
    );
  }
  if (message.delivery === "queued" && sourceDown) {
    // Held until the source answers again: said in the operator's language (the stored reason is the sender's,
    // in the server's language; the provider's own error stays in the tooltip).
    const reason = interpolate(gettext("%(source)s is not answering; the message will be sent when it answers again."), { source: sourceDown });
    return delayedNote({ ...message, delivery_error: reason }, message.delivery_error);
  }
  if (message.delivery === "queued" && message.delivery_delayed) return delayedNote(message);
  const state = states()[message.delivery];
  if (!state) return null;
  return el("span", {
    class: `delivery delivery-${message.delivery}`,
    dataset: { delivery: message.delivery },
    "aria-label": state.words,
    title: state.words,
  },
  state.ticks ? el("span", { class: "delivery-ticks", "aria-hidden": "true", text: state.ticks }) : null,
  el("span", { class: "delivery-words", text: state.words }),
  );
}

/** Issue 21: queued after a failure the sender keeps retrying (``delivery_retry_until``), or held for an outage;
 * ``detail`` (the provider's own error) goes to the tooltip only. */
function delayedNote(message, detail = "") {
  const reason = message.delivery_error || "";
  const until = message.delivery_retry_until
    ? interpolate(gettext("retrying until %(time)s"), { time: formatClock(message.delivery_retry_until) })
    : "";
  const words = gettext("Delayed");
  const label = [words, reason, until].filter(Boolean).join(" · ");
  return el("span", {
    class: "delivery delivery-delayed",
    dataset: { delivery: "delayed" },
    "aria-label": label,
    title: detail && detail !== reason ? `${label}\n${detail}` : label,
  },
  el("span", { class: "delivery-words", text: words }),
  reason ? el("span", { class: "delivery-reason", text: reason }) : null,
  until ? el("span", { class: "delivery-until", text: until }) : null,
  );
}
