// The console on a narrow screen (issue 20): one pane at a time (the lists, the conversation, the client card)
// and the top bar's secondary controls folded into a menu. On a wide screen the three columns all show and
// none of this changes anything but an attribute on <body>.
//
// The pane is `document.body.dataset.pane` ("list", "conversation" or "client"); console.css decides by it
// what shows below its phone and tablet breakpoints. console.js calls `showPane` when a conversation opens
// or closes; the buttons marked `.pane-nav` move between the panes.

const PANES = new Set(["list", "conversation", "client"]);

export function showPane(name) {
  if (!PANES.has(name) || document.body.dataset.pane === name) return;
  document.body.dataset.pane = name;
  // Narrow screens show the pane from its top; focus follows so a keyboard or screen reader lands in it.
  const target = {
    list: document.querySelector(".lists"),
    conversation: document.getElementById("reply"),
    client: document.getElementById("btn-pane-conversation"),
  }[name];
  if (target && isNarrow() && name !== "conversation") target.focus({ preventScroll: true });
  window.dispatchEvent(new CustomEvent("console:pane", { detail: { pane: name } }));
}

export function currentPane() {
  return document.body.dataset.pane || "list";
}

function isNarrow() {
  return window.matchMedia("(max-width: 960px)").matches;
}

function setMenu(open) {
  const button = document.getElementById("btn-menu");
  document.getElementById("topbar").classList.toggle("is-menu-open", open);
  button.setAttribute("aria-expanded", open ? "true" : "false");
}

function wire() {
  document.getElementById("btn-pane-list").addEventListener("click", () => showPane("list"));
  document.getElementById("btn-pane-client").addEventListener("click", () => showPane("client"));
  document.getElementById("btn-pane-conversation").addEventListener("click", () => showPane("conversation"));
  document.querySelector(".lists").tabIndex = -1; // a focus target when the pane changes, not a tab stop

  const menu = document.getElementById("btn-menu");
  menu.addEventListener("click", (event) => {
    event.stopPropagation();
    setMenu(menu.getAttribute("aria-expanded") !== "true");
  });
  // A click outside the menu, or Escape, folds it again.
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#topbar-more")) setMenu(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.getAttribute("aria-expanded") === "true") {
      setMenu(false);
      menu.focus();
    }
  });
}

wire();
