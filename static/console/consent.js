// The client card's "Consent withdrawn" button (issue 19): a client who asked in words to withdraw their consent
// to the personal-data notice has it recorded by the operator, on their behalf. Their open conversation continues;
// the next one asks for consent again.

import { $, api, config, gettext, interpolate, urlFor } from "./common.js";
import { formatTime } from "./socket.js";

let conversationId = null;

// The consent line of the client card, and the button while a consent stands.
export function consentFact(client) {
  const latest = client.consents[0];
  if (!latest) return "";
  const given = `${latest.form}, ${formatTime(latest.accepted_at)}`;
  return latest.withdrawn_at
    ? interpolate(gettext("%(given)s, withdrawn %(when)s"), { given, when: formatTime(latest.withdrawn_at) })
    : given;
}

export function renderConsentWithdraw(detail) {
  const button = $("btn-consent-withdraw");
  const note = $("consent-withdraw-note");
  const standing = detail.client.consents.some((consent) => !consent.withdrawn_at);
  if (conversationId !== detail.id) {
    note.textContent = "";
    note.className = "note";
  }
  conversationId = detail.id;
  button.hidden = !standing;
  button.disabled = false;
}

async function withdraw() {
  const button = $("btn-consent-withdraw");
  const note = $("consent-withdraw-note");
  if (!window.confirm(gettext("Record that the client withdrew their consent? Their next conversation will ask for it again."))) return;
  button.disabled = true;
  try {
    await api(urlFor(config.urls.consent_withdraw, conversationId), { method: "POST", body: {} });
    note.className = "note is-ok";
    note.textContent = gettext("Consent withdrawn. This conversation continues; the next one asks again.");
    button.hidden = true;
  } catch (error) {
    note.className = "note is-error";
    note.textContent = error.message;
    button.disabled = false;
  }
}

$("btn-consent-withdraw").addEventListener("click", withdraw);
