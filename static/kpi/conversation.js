// The supervisor's actions on the conversation page: each posts to the REST API (kpi/api.py), then the page reloads.
"use strict";

const actionsConfig = JSON.parse(document.getElementById("actions-config").textContent);

async function postAction(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": actionsConfig.csrf_token },
    body: JSON.stringify(body),
  });
  if (response.ok) return response.json();
  let detail = "";
  try {
    const data = await response.json();
    detail = typeof data.detail === "string" ? data.detail : Object.values(data).flat().join(" ");
  } catch (error) {
    detail = "";
  }
  throw new Error(detail || actionsConfig.failed);
}

function showError(error) {
  const box = document.getElementById("action-error");
  box.textContent = error.message;
  box.hidden = false;
}

const requests = {
  take_over: () => [actionsConfig.urls.take_over, {}],
  to_queue: () => [actionsConfig.urls.reassign, { to_queue: true }],
  close: () => [actionsConfig.urls.close, {}],
};

for (const button of document.querySelectorAll("#supervisor-actions [data-action]")) {
  button.addEventListener("click", async () => {
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const [url, body] = requests[button.dataset.action]();
    button.disabled = true;
    try {
      const result = await postAction(url, body);
      if (button.dataset.action === "take_over") window.location.assign(result.console_url);
      else window.location.reload();
    } catch (error) {
      showError(error);
      button.disabled = false;
    }
  });
}

const reassignSelect = document.getElementById("reassign-operator");
if (reassignSelect) {
  reassignSelect.addEventListener("change", async () => {
    if (!reassignSelect.value) return;
    try {
      await postAction(actionsConfig.urls.reassign, { to_operator_id: Number(reassignSelect.value) });
      window.location.reload();
    } catch (error) {
      showError(error);
      reassignSelect.value = "";
    }
  });
}

document.getElementById("note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = document.getElementById("note-text").value.trim();
  if (!text) return;
  try {
    await postAction(actionsConfig.urls.notes, { text });
    window.location.reload();
  } catch (error) {
    showError(error);
  }
});
