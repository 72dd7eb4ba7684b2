// Turns the fieldsets and inlines marked `tab-<slug>` into tabs.
// The open tab follows the URL hash, so a reload or a shared link keeps it;
// after a failed save the first tab with an error opens and every tab with
// errors is marked.
const nav = document.querySelector("[data-tabs]");
if (nav) {
  const buttons = [...nav.querySelectorAll("[data-tab]")];
  const panelsFor = (slug) => [...document.querySelectorAll(`.tab-${slug}`)].map((el) => el.closest(".inline-group") || el);

  for (const button of buttons) {
    const panels = panelsFor(button.dataset.tab);
    panels.forEach((panel, index) => {
      panel.dataset.tabPanel = button.dataset.tab;
      panel.setAttribute("role", "tabpanel");
      panel.id ||= `tab-${button.dataset.tab}-${index}`; // aria-controls must name panels that exist
    });
    button.setAttribute("aria-controls", panels.map((panel) => panel.id).join(" "));
    if (panels.some((panel) => panel.querySelector(".errorlist, .errors"))) button.classList.add("has-errors");
  }

  const show = (slug) => {
    for (const button of buttons) {
      const selected = button.dataset.tab === slug;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
    }
    document.querySelectorAll("[data-tab-panel]").forEach((panel) => {
      panel.hidden = panel.dataset.tabPanel !== slug;
    });
  };

  nav.addEventListener("click", (event) => {
    const button = event.target.closest("[data-tab]");
    if (!button) return;
    event.preventDefault();
    history.replaceState(null, "", `#tab-${button.dataset.tab}`);
    show(button.dataset.tab);
  });
  nav.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0 || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const next = buttons[(index + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    next.click();
  });

  const withErrors = buttons.find((button) => button.classList.contains("has-errors"));
  const fromHash = buttons.find((button) => `#tab-${button.dataset.tab}` === location.hash);
  show((withErrors || fromHash || buttons[0]).dataset.tab);
}
