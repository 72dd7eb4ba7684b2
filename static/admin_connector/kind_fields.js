// The connector's add page: only the chosen source's fields show, named in that source's words.
// Without this script every field shows; the server refuses a value in a field the source does not have.
(function () {
  "use strict";
  const data = document.getElementById("connector-kind-fields");
  const kind = document.getElementById("id_kind");
  if (!data || !kind) return;
  const kinds = JSON.parse(data.textContent);
  const all = new Set();
  Object.values(kinds).forEach((k) => k.fields.forEach((name) => all.add(name)));
  const defaults = {};
  const rowOf = (name) => document.querySelector(`.form-row.field-${name}`) || document.querySelector(`.field-${name}`)?.closest(".form-row");

  const remember = (name) => {
    if (defaults[name]) return defaults[name];
    const label = document.querySelector(`label[for="id_${name}"]`);
    const help = document.getElementById(`id_${name}_helptext`);
    defaults[name] = { label: label ? label.textContent : "", help: help ? help.innerHTML : "" };
    return defaults[name];
  };

  const show = () => {
    const chosen = kinds[kind.value] || kinds[""];
    all.forEach((name) => {
      const row = rowOf(name);
      if (row) row.hidden = !chosen.fields.includes(name);
    });
    const worded = new Set([...Object.keys(chosen.labels), ...Object.keys(chosen.help), ...Object.keys(defaults)]);
    worded.forEach((name) => {
      const original = remember(name);
      const label = document.querySelector(`label[for="id_${name}"]`);
      if (label) label.textContent = chosen.labels[name] ? chosen.labels[name].charAt(0).toUpperCase() + chosen.labels[name].slice(1) + ":" : original.label;
      const help = document.getElementById(`id_${name}_helptext`);
      if (help) {
        if (chosen.help[name]) help.textContent = chosen.help[name];
        else help.innerHTML = original.help;
      }
    });
    // A section whose every row is hidden hides with them.
    document.querySelectorAll("#connector_form fieldset.module").forEach((fieldset) => {
      const rows = [...fieldset.querySelectorAll(".form-row")];
      fieldset.hidden = rows.length > 0 && rows.every((row) => row.hidden);
    });
  };
  kind.addEventListener("change", show);
  show();
})();
