// The chat's two forms (issue 15): the pre-chat form (name, e-mail, phone, as the open channel asks) and the
// offline form (outside working hours or when nobody can answer). Each field has a visible label, its error is
// tied to it (aria-describedby) and announced. The browser checks what it can so the visitor hears at once; the
// server checks again and its answer ({detail, fields: {field: message}}) is shown the same way.

import { formatNumber } from "../console/formats.js";
import { el } from "../console/socket.js";

// A phone loosely, as the server reads it: digits with the separators people type, 6 to 20 digits.
const PHONE_PATTERN = /^\+?[0-9 ().\-/]+$/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const INPUTS = {
  name: { type: "text", autocomplete: "name" },
  email: { type: "email", autocomplete: "email", inputmode: "email" },
  phone: { type: "tel", autocomplete: "tel", inputmode: "tel" },
};

// Draws the fields into `form` (before its submit button). `fields` is [{name, required, maxLength}].
export function drawFields(form, prefix, fields, texts) {
  const nodes = fields.map((field) => {
    const id = `${prefix}-${field.name}`;
    const label = texts[`field_${field.name}`];
    const control = field.name === "message"
      ? el("textarea", { id, name: field.name, rows: "4" })
      : el("input", { id, name: field.name, ...INPUTS[field.name] });
    // A one-line field may stop at its limit; the message box never does (a long paste would be cut silently):
    // it counts near its limit and the check below refuses it, with the text kept to be shortened.
    const counter = field.name === "message" && field.maxLength
      ? el("p", { class: "chat-counter form-counter", id: `${id}-counter`, hidden: true })
      : null;
    if (field.maxLength) {
      control.dataset.limit = String(field.maxLength);
      if (!counter) control.maxLength = field.maxLength;
    }
    control.required = Boolean(field.required);
    control.setAttribute("aria-describedby", counter ? `${id}-error ${id}-counter` : `${id}-error`);
    if (counter) control.addEventListener("input", () => countLength(control.value, field.maxLength, counter, texts));
    return el("div", { class: "form-field", dataset: { field: field.name } },
      el("label", { for: id },
        label, field.required ? null : el("span", { class: "optional", text: ` ${texts.field_optional}` })),
      control,
      counter,
      el("p", { class: "field-error", id: `${id}-error`, hidden: true }));
  });
  form.querySelector(".form-fields").replaceChildren(...nodes);
}

/** Characters as the server counts them (code points, not UTF-16 units: an emoji is one). */
export function lengthOf(text) {
  return [...text.trim()].length;
}

/**
 * The counter beside a long box (the chat's and the offline form's): shown from 80 % of `limit`, red beyond it.
 * Returns whether the text is over the limit.
 */
export function countLength(text, limit, counter, texts) {
  const length = lengthOf(text);
  const values = (template) =>
    template.replace("{count}", formatNumber(length)).replace("{limit}", formatNumber(limit));
  counter.hidden = length < Math.floor(limit * 0.8);
  counter.textContent = values(texts.counter);
  counter.setAttribute("aria-label", values(texts.counter_label));
  counter.classList.toggle("is-over", length > limit);
  return length > limit;
}

export function formValues(form) {
  const values = {};
  for (const control of form.querySelectorAll("input, textarea")) values[control.name] = control.value.trim();
  return values;
}

// What the browser can tell is wrong, by field, in the visitor's words ({} when nothing).
export function fieldErrors(form, { needsContact }, texts) {
  const errors = {};
  const values = formValues(form);
  for (const control of form.querySelectorAll("input, textarea")) {
    const value = values[control.name];
    if (!value) {
      if (control.required) errors[control.name] = texts.error_required;
    } else if (control.dataset.limit && lengthOf(value) > Number(control.dataset.limit)) {
      errors[control.name] = texts.error_too_long.replace("{limit}", formatNumber(Number(control.dataset.limit)));
    } else if (control.name === "email" && !EMAIL_PATTERN.test(value)) {
      errors[control.name] = texts.error_email;
    } else if (control.name === "phone") {
      const digits = value.replace(/\D/g, "").length;
      if (!PHONE_PATTERN.test(value) || digits < 6 || digits > 20) errors[control.name] = texts.error_phone;
    }
  }
  if (needsContact && !values.email && !values.phone && !errors.email && !errors.phone) {
    errors.email = texts.error_contact;
  }
  return errors;
}

// Marks each field with its error (or clears it), moves the focus to the first one, and says `summary`.
export function showErrors(form, errors, summary) {
  let first = null;
  for (const field of form.querySelectorAll(".form-field")) {
    const control = field.querySelector("input, textarea");
    const error = field.querySelector(".field-error");
    const message = errors[control.name] || "";
    error.textContent = message;
    error.hidden = !message;
    control.setAttribute("aria-invalid", message ? "true" : "false");
    if (message && !first) first = control;
  }
  const status = form.querySelector(".form-status");
  status.textContent = summary || "";
  status.hidden = !summary;
  if (first) first.focus();
}
