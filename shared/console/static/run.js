// The re-embed run page: poll the run's progress every second until it ends, then reload once so
// the verification report and the final state are drawn by the server.
"use strict";

(() => {
  const run = document.getElementById("run");
  const bar = document.getElementById("run-bar");
  if (!run || !bar) return;
  bar.style.width = (bar.dataset.pct || "0") + "%";
  if (run.dataset.finished) return;
  const $ = (id) => document.getElementById(id);
  const fmt = (n) => Number(n).toLocaleString("en");
  async function tick() {
    let p;
    try {
      const resp = await fetch(run.dataset.progress, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      p = await resp.json();
    } catch (e) {
      setTimeout(tick, 2000);
      return;
    }
    $("run-state").textContent = p.state;
    $("run-state").dataset.state = p.state;
    $("run-embedded").textContent = fmt(p.embedded);
    $("run-total").textContent = fmt(p.total);
    $("run-rate").textContent = p.rate_per_s == null ? "—" : p.rate_per_s.toFixed(1);
    $("run-eta").textContent = p.eta_s == null ? "—" : Math.round(p.eta_s) + " s";
    bar.style.width = p.percent.toFixed(1) + "%";
    bar.parentElement.setAttribute("aria-valuenow", Math.round(p.percent));
    run.dataset.polls = String(Number(run.dataset.polls || 0) + 1);
    if (p.error) { $("run-error").textContent = p.error; $("run-error").hidden = false; }
    if (p.finished) { location.reload(); return; }
    setTimeout(tick, 1000);
  }
  setTimeout(tick, 1000);
})();
