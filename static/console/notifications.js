// The bell in the console's top bar (issue 15): notifications that stay until read. The database is the truth:
// the list is read over REST at load, after every socket re-sync, and when a `notification.created` or
// `notification.read` event arrives (another tab of the same person marked one read). console.js re-dispatches
// every socket frame as a `console:event` window event and each re-sync as `console:resync`.

import { $, api, config, gettext, interpolate, openLink, urlFor } from "./common.js";
import { el, formatTime } from "./socket.js";


const TITLES = {
  k2_miss: () => gettext("Response-time target missed"),
  mention: () => gettext("You were mentioned in a note"),
  transfer: () => gettext("A conversation was transferred to you"),
  delivery_failed: () => gettext("A message was not delivered"),
};

const inbox = { items: [], unread: 0, nextBefore: null, loading: null };

function item(notification) {
  const title = (TITLES[notification.kind] || (() => notification.kind))();
  const where = interpolate(gettext("Conversation #%(id)s"), { id: notification.conversation_id }) + (notification.client_name ? ` · ${notification.client_name}` : "");
  return el("li", {
      class: notification.read_at ? "is-read" : "is-unread",
      tabindex: "0",
      dataset: { notificationId: String(notification.id), conversationId: String(notification.conversation_id) },
      onclick: () => openNotification(notification),
      onkeydown: (event) => event.key === "Enter" && openNotification(notification),
    },
    el("strong", { text: title }),
    el("span", { text: where }),
    notification.text ? el("span", { class: "text", text: notification.text, title: notification.text }) : null,
    el("span", { class: "when", text: formatTime(notification.created_at) }),
  );
}

function render() {
  $("notifications-list").replaceChildren(...inbox.items.map(item));
  $("notifications-empty").hidden = inbox.items.length > 0;
  $("notifications-more").hidden = inbox.nextBefore === null;
  const count = $("notifications-count");
  count.hidden = inbox.unread === 0;
  count.textContent = String(inbox.unread);
  $("btn-notifications").setAttribute("aria-label", interpolate(gettext("Notifications: %(count)s unread"), { count: inbox.unread }));
  $("notifications-read-all").disabled = inbox.unread === 0;
}

async function load() {
  // One reload at a time; a burst of events is answered by one more read.
  if (inbox.loading) return inbox.loading.then(load);
  inbox.loading = api(config.urls.notifications)
    .then((page) => {
      inbox.items = page.results;
      inbox.unread = page.unread;
      inbox.nextBefore = page.next_before;
      render();
    })
    .catch(() => {})
    .finally(() => (inbox.loading = null));
  return inbox.loading;
}

async function loadOlder() {
  if (inbox.nextBefore === null) return;
  const page = await api(`${config.urls.notifications}?before=${inbox.nextBefore}`);
  inbox.items = [...inbox.items, ...page.results];
  inbox.unread = page.unread;
  inbox.nextBefore = page.next_before;
  render();
}

async function openNotification(notification) {
  if (!notification.read_at) {
    await api(urlFor(config.urls.notification_read, notification.id), { method: "POST" }).catch(() => {});
    load();
  }
  togglePanel(false);
  openLink(notification.conversation_id, notification.message_id);
}

function togglePanel(open) {
  const panel = $("notifications-panel");
  const show = open === undefined ? panel.hidden : open;
  panel.hidden = !show;
  $("btn-notifications").setAttribute("aria-expanded", String(show));
  if (show) load();
}

$("btn-notifications").addEventListener("click", () => togglePanel());
$("notifications-read-all").addEventListener("click", async () => {
  await api(config.urls.notifications_read_all, { method: "POST" }).catch(() => {});
  load();
});
$("notifications-more").addEventListener("click", () => loadOlder().catch(() => {}));
document.addEventListener("keydown", (event) => event.key === "Escape" && togglePanel(false));
document.addEventListener("click", (event) => {
  if (!$("notifications-panel").hidden && !event.target.closest(".bell")) togglePanel(false);
});
window.addEventListener("console:event", (event) => {
  const frame = event.detail;
  if (frame.type === "notification.created" || frame.type === "notification.read") load();
});
window.addEventListener("console:resync", () => load());
load();
