// Names for the controls Django's own admin markup leaves unnamed (the accessibility test, issue 20):
// - a tabular inline's inputs have their column's header above them but no label: each gets the header's words
//   as its accessible name (rows added with "Add another" too);
// - the filter boxes of a two-list picker (filter_horizontal) put aria-label on a bare <span> icon, which assistive
//   technology may ignore: the icon becomes an image with that name.
// Only names are added; nothing changes on screen.
"use strict";

function nameTabularInputs(root) {
  for (const table of root.querySelectorAll(".tabular table")) {
    const headers = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr.form-row")) {
      [...row.children].forEach((cell, index) => {
        const header = headers[index];
        if (!header) return;
        for (const control of cell.querySelectorAll("input:not([type=hidden]), select, textarea")) {
          if (control.labels?.length || control.hasAttribute("aria-label") || control.hasAttribute("aria-labelledby")) {
            continue;
          }
          control.setAttribute("aria-label", header);
        }
      });
    }
  }
}

function nameFilterIcons() {
  for (const icon of document.querySelectorAll("span.help-tooltip[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
}

document.addEventListener("DOMContentLoaded", () => nameTabularInputs(document));
document.addEventListener("formset:added", (event) => nameTabularInputs(event.target.closest(".inline-group") || document));
// Django draws the two-list pickers on "load"; this listener is added later, so it runs after them.
window.addEventListener("load", nameFilterIcons);
