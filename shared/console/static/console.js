// Switchyard console: the few things a page must do live. No framework, no network beyond Switchyard.
"use strict";

document.addEventListener("click", (ev) => {
  const fill = ev.target.closest("[data-fill]");
  if (fill) {
    const input = document.getElementById(fill.dataset.fill);
    if (input) { input.value = fill.dataset.value; input.classList.remove("invalid"); input.focus(); }
  }
  const copy = ev.target.closest("[data-copy]");
  if (copy) {
    const src = document.getElementById(copy.dataset.copy);
    const text = src ? src.textContent : "";
    // Select it first, so Ctrl-C works wherever the clipboard API is not offered (plain http off
    // loopback); then copy by both means the browser may have.
    selectText(src);
    try { document.execCommand("copy"); } catch (e) { /* the selection stays for a manual copy */ }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).catch(() => {});
    copy.textContent = "Copied";
    copy.dataset.copied = "1";
    setTimeout(() => { copy.textContent = "Copy"; }, 3000);
  }
});

function selectText(el) {
  if (!el) return;
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// The add-model form shows the fields of the chosen kind only.
function syncKind() {
  const checked = document.querySelector("input[name=kind]:checked");
  if (!checked) return;
  document.querySelectorAll("[data-kind-only]").forEach((el) => {
    el.hidden = el.dataset.kindOnly !== checked.value;
  });
}
document.addEventListener("change", (ev) => { if (ev.target.name === "kind") syncKind(); });
document.addEventListener("DOMContentLoaded", syncKind);

// The request log, opened from the playground for a request not written yet (the log is written in
// batches, within two seconds): look again a few times.
document.addEventListener("DOMContentLoaded", () => {
  const waiting = document.getElementById("waiting");
  if (!waiting) return;
  const u = new URL(location.href);
  const tries = Number(u.searchParams.get("tries") || 0);
  if (tries >= 8) { waiting.textContent = "Request " + waiting.dataset.requestId + " is still not in the log; press Refresh in a moment."; return; }
  u.searchParams.set("tries", String(tries + 1));
  setTimeout(() => location.replace(u.toString()), 700);
});

// A link to a folded section (a key's limits, "#limits-key_…") unfolds it, on load and on click.
function openTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const el = id && document.getElementById(id);
  if (el && el.tagName === "DETAILS") el.open = true;
}
openTarget();
window.addEventListener("hashchange", openTarget);
