/*
 * Open Channels live-chat loader: the one file a website includes with the snippet
 *   <script async src="https://contact.example.com/static/livechat/widget.js" data-open-channels-key="KEY"></script>
 *
 * It adds a launcher button and an iframe served by the contact center. The chat itself runs
 * inside the iframe, on the contact center's own origin, so:
 *   - the websocket's Origin is the contact center's host (no cross-site allowance needed);
 *   - the visitor token lives in the iframe's storage, out of reach of the host page's scripts;
 *   - the host page's CSS cannot break the chat, and ours cannot break the page (shadow DOM).
 * A classic script (not a module) so it runs on any page, old browsers included.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var key = script.getAttribute("data-open-channels-key");
  if (!key || window["__openChannelsChat_" + key]) return;
  window["__openChannelsChat_" + key] = true;
  var origin = new URL(script.src, window.location.href).origin;
  var frameUrl = origin + "/livechat/frame/" + encodeURIComponent(key) + "/";

  var css =
    ":host{all:initial}" +
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;" +
    "padding:12px 18px;border:0;border-radius:999px;background:#2459c9;color:#fff;cursor:pointer;" +
    "font:600 14px system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;box-shadow:0 8px 24px rgba(16,24,40,.25)}" +
    ".launcher:hover{background:#1d4ed8}" +
    ".launcher:focus-visible{outline:3px solid #1d4ed8;outline-offset:3px}" +
    // The open chat covers the launcher's corner: the launcher hides while the chat is open (its minimise
    // button, or Escape, closes it and the launcher comes back).
    ".launcher[aria-expanded=true]{display:none}" +
    ".badge{min-width:18px;height:18px;border-radius:9px;background:#d92d20;color:#fff;font-size:11px;" +
    "display:none;align-items:center;justify-content:center;padding:0 5px}" +
    ".badge.on{display:inline-flex}" +
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:370px;height:560px;" +
    "max-width:calc(100vw - 24px);max-height:calc(100vh - 40px);border:0;border-radius:16px;overflow:hidden;" +
    "box-shadow:0 16px 48px rgba(16,24,40,.28);background:#fff;display:none}" +
    ".panel.open{display:block}" +
    // On a phone the open chat takes the whole screen (its header's minimise button closes it).
    "@media (max-width:480px){.panel{inset:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0}}" +
    "iframe{width:100%;height:100%;border:0;display:block}";

  var host = document.createElement("div");
  host.setAttribute("data-open-channels-chat", key);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = document.createElement("style");
  style.textContent = css;
  var panel = document.createElement("div");
  panel.className = "panel";
  var frame = document.createElement("iframe");
  frame.src = frameUrl;
  frame.title = "Live chat";
  frame.setAttribute("allow", "clipboard-write");
  panel.appendChild(frame);
  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.setAttribute("aria-expanded", "false");
  var label = document.createElement("span");
  label.textContent = "Chat";
  var badge = document.createElement("span");
  badge.className = "badge";
  launcher.appendChild(label);
  launcher.appendChild(badge);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(launcher);

  var unread = 0;
  function setOpen(open) {
    var wasOpen = panel.className.indexOf("open") !== -1;
    panel.className = open ? "panel open" : "panel";
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      unread = 0;
      badge.className = "badge";
      badge.textContent = "";
      frame.focus(); // the keyboard goes on in the chat, since the launcher is hidden
    } else if (wasOpen) {
      launcher.focus();
    }
    frame.contentWindow && frame.contentWindow.postMessage({ source: "open-channels-host", type: "visibility", open: open }, origin);
  }
  launcher.addEventListener("click", function () {
    setOpen(panel.className.indexOf("open") === -1);
  });

  // Only the iframe we created, on the contact center's origin, may talk to the loader.
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.source !== "open-channels-chat") return;
    if (data.type === "ready" && typeof data.launcher === "string") label.textContent = data.launcher;
    if (data.type === "minimize") setOpen(false);
    if (data.type === "unread" && panel.className.indexOf("open") === -1) {
      unread += 1;
      badge.textContent = String(unread);
      badge.className = "badge on";
    }
  });

  function mount() {
    document.body.appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
