// The playground: calls this origin's developer API with the key typed into the page, as an SDK would.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // The public base path ("/prod" behind API Gateway's stage URL), which the server writes into the page.
  const base = document.documentElement.dataset.base || "";
  const keyInput = $("pg-key"), modelSel = $("pg-model"), info = $("pg-model-info");
  const status = $("pg-status"), errBox = $("pg-error");
  let models = {};

  function headers() {
    return { "Authorization": "Bearer " + keyInput.value.trim(), "Content-Type": "application/json" };
  }

  function showError(text) { errBox.textContent = text; errBox.hidden = false; }
  function clearError() { errBox.hidden = true; errBox.textContent = ""; }

  // An error answer in SPEC's shape becomes "code: message (param)"; anything else its status.
  async function describe(resp) {
    let body = "";
    try { body = await resp.text(); } catch (e) { /* nothing */ }
    try {
      const e = JSON.parse(body).error;
      if (e && e.code) return e.code + ": " + e.message + (e.param ? " (" + e.param + ")" : "");
    } catch (e) { /* not JSON */ }
    return "HTTP " + resp.status + (body ? ": " + body.slice(0, 300) : "");
  }

  function logLink(resp, started) {
    const id = resp.headers.get("X-Request-Id") || "";
    status.textContent = "";
    const t = document.createTextNode("Request " + (id || "") + " answered " + resp.status + " in " + Math.round(performance.now() - started) + " ms. ");
    const a = document.createElement("a");
    a.href = base + "/console/requests" + (id ? "?request_id=" + encodeURIComponent(id) : "");
    a.id = "pg-log-link";
    a.textContent = "Find it in the request log";
    status.append(t, a);
  }

  $("pg-load").addEventListener("click", async () => {
    clearError();
    modelSel.disabled = true;
    const resp = await fetch(base + "/v1/models", { headers: headers() });
    if (!resp.ok) { showError(await describe(resp)); return; }
    const list = (await resp.json()).data || [];
    models = {};
    modelSel.textContent = "";
    list.sort((a, b) => a.id.localeCompare(b.id));
    for (const m of list) {
      models[m.id] = m;
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.id + " — " + (m.kind || "chat") + (m.dimension ? ", " + m.dimension + " dims" : "") + (m.resolves_to ? " → " + m.resolves_to : "");
      modelSel.append(o);
    }
    if (list.length === 0) {
      const o = document.createElement("option");
      o.textContent = "This key may use no model: grant one to its team";
      modelSel.append(o);
      return;
    }
    modelSel.disabled = false;
    pick();
  });

  function pick() {
    const m = models[modelSel.value];
    if (!m) return;
    const emb = m.kind === "embedding";
    $("pg-chat").hidden = emb;
    $("pg-embed").hidden = !emb;
    const caps = m.capabilities || {};
    info.textContent = emb
      ? "Embedding model: returns vectors of " + m.dimension + " dimensions."
      : "Chat model" + (m.context_window ? ", context window " + m.context_window + " tokens" : "") + (caps.streaming ? ", streams" : ", does not stream") + ".";
    if (!emb) $("pg-stream").checked = !!caps.streaming;
  }
  modelSel.addEventListener("change", pick);

  $("pg-send").addEventListener("click", async () => {
    clearError();
    const out = $("pg-output");
    const stream = $("pg-stream").checked;
    const msg = $("pg-message").value;
    const user = document.createElement("div");
    user.className = "turn-user";
    user.textContent = "You: " + msg;
    const answer = document.createElement("div");
    answer.className = "turn-assistant";
    answer.id = "pg-answer";
    out.querySelectorAll("#pg-answer").forEach((el) => el.removeAttribute("id"));
    out.append(user, answer);
    const started = performance.now();
    const resp = await fetch(base + "/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: modelSel.value, stream: stream, messages: [{ role: "user", content: msg }] }),
    });
    if (!resp.ok) {
      const text = await describe(resp);
      answer.className = "turn-error";
      answer.textContent = text;
      showError(text);
      logLink(resp, started);
      return;
    }
    if (!stream) {
      const body = await resp.json();
      answer.textContent = (body.choices && body.choices[0] && body.choices[0].message.content) || "";
      answer.dataset.model = body.model || "";
      answer.dataset.done = "1";
      logLink(resp, started);
      return;
    }
    // Server-sent events, read as they arrive: each "data:" line holds one chunk.
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") continue;
        try {
          const chunk = JSON.parse(data);
          if (chunk.error) { showError((chunk.error.code || "error") + ": " + chunk.error.message); continue; }
          const d = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (d && d.content) answer.textContent += d.content;
          if (chunk.model) answer.dataset.model = chunk.model;
          answer.dataset.chunks = String(Number(answer.dataset.chunks || 0) + 1);
        } catch (e) { /* a partial or foreign line: skip it */ }
      }
    }
    answer.dataset.done = "1";
    logLink(resp, started);
  });

  $("pg-embed-send").addEventListener("click", async () => {
    clearError();
    const m = models[modelSel.value] || {};
    const started = performance.now();
    const resp = await fetch(base + "/v1/embeddings", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ model: modelSel.value, input: $("pg-input").value }),
    });
    const res = $("pg-embed-result");
    if (!resp.ok) { showError(await describe(resp)); res.textContent = ""; logLink(resp, started); return; }
    const body = await resp.json();
    const vec = (body.data && body.data[0] && body.data[0].embedding) || [];
    const ok = vec.length === m.dimension;
    res.textContent = "";
    const len = document.createElement("strong");
    len.id = "pg-vector-length";
    len.textContent = String(vec.length);
    const badge = document.createElement("span");
    badge.className = "badge " + (ok ? "ok" : "bad");
    badge.textContent = ok ? "matches" : "does not match: the wrong model is targeted or its metadata is wrong";
    res.append("Vector length ", len, " · recorded dimension " + m.dimension + " ", badge, " · served by " + (body.model || "?"));
    logLink(resp, started);
  });
})();
