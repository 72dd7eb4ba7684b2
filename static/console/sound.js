// The offer sound and the prompt to allow it (issue 20). Browsers keep a page silent until the person has
// clicked or pressed a key in it (the autoplay rule): until then the console shows "Enable sound", and the
// prompt goes as soon as the browser lets the page play, by that button or by any other click or key.

import { $ } from "./common.js";

let context = null;

function audio() {
  if (!context) {
    try {
      context = new AudioContext();
      context.addEventListener("statechange", renderSoundPrompt);
    } catch {
      context = null; // no audio device: the banner and the pulsing list entry still show offers
    }
  }
  return context;
}

/** Whether an offer would be heard now. */
export function soundAllowed() {
  const current = audio();
  return Boolean(current) && current.state === "running";
}

function renderSoundPrompt() {
  const current = audio();
  $("sound-prompt").hidden = !current || current.state === "running";
}

async function allow() {
  const current = audio();
  if (!current) return;
  try {
    await current.resume();
  } catch {
    // still blocked: the prompt stays
  }
  renderSoundPrompt();
}

function tones(current, frequencies, volume) {
  const start = current.currentTime;
  frequencies.forEach((frequency, index) => {
    const oscillator = current.createOscillator();
    const gain = current.createGain();
    const at = start + index * 0.18;
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(volume, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
    oscillator.connect(gain).connect(current.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.17);
  });
}

/** Two short tones for a new offer (silent while the browser does not allow sound). */
export function playOfferSound() {
  const current = audio();
  if (!current) return;
  try {
    if (current.state === "suspended") current.resume().catch(() => {});
    tones(current, [880, 1175], 0.25);
  } catch {
    // the banner still shows the offer
  }
}

$("btn-sound").addEventListener("click", async () => {
  await allow();
  if (soundAllowed()) tones(context, [880], 0.12); // a short tone says it works
});
// Any click or key is the gesture the browser waits for ("click", not "pointerdown": the prompt folding away
// between the press and the release would move what the operator is clicking).
for (const name of ["click", "keydown"]) {
  window.addEventListener(name, () => context && context.state === "suspended" && allow(), { capture: true, passive: true });
}
renderSoundPrompt();
