// What the open channel's editors share: their words (translated by the page, see change_form.html) and
// a polite live region that tells screen readers what a move or a copy did.
const source = document.getElementById("open-channel-editor-texts");
export const texts = source ? JSON.parse(source.textContent) : { queue: {}, hours: {} };

// Django's interpolate() with named values, without needing the admin's JavaScript catalog.
export const fill = (template, values) =>
  String(template).replace(/%\((\w+)\)s/g, (whole, key) => (key in values ? String(values[key]) : whole));

let region = null;
export function announce(message) {
  if (!region) {
    region = document.createElement("p");
    region.className = "oc-live";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    document.body.append(region);
  }
  region.textContent = "";
  // A fresh text node on the next frame, so the same words twice are read twice.
  requestAnimationFrame(() => { region.textContent = message; });
}
