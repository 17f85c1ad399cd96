/* The rating pad (评价器) at a window: after each finish, one rating for that service. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad"), wid = pad.dataset.window, idleS = parseFloat(pad.dataset.idle);
  let pending = null, level = null, idleTimer = null, rated = new Set(), paired = false, baseline = undefined, latest = null;
  const finishedNow = () => { const f = latest && (latest.finished || {})[wid]; return f ? f.ticket : null; };
  function show(which) {
    for (const id of ["r-pair", "r-idle", "r-ask", "r-reasons", "r-thanks"]) $(id).hidden = id !== which;
    pad.dataset.state = which.slice(2);
  }
  function idle() { pending = null; level = null; show("r-idle"); }
  function armIdle() { clearTimeout(idleTimer); idleTimer = setTimeout(idle, idleS * 1000); }
  function ask(f) {
    pending = f; level = null;
    $("r-number").textContent = f.number;
    for (const c of document.querySelectorAll(".r-reason input")) c.checked = false;
    show("r-ask"); armIdle();
  }
  async function submit() {
    const reasons = level <= 2 ? [...document.querySelectorAll(".r-reason input:checked")].map((c) => c.value) : [];
    try {
      await Hall.api("POST", "/api/rate/" + wid, {ticket: pending.ticket, level, reasons});
      rated.add(pending.ticket); show("r-thanks");
      clearTimeout(idleTimer); idleTimer = setTimeout(idle, 5000);
    } catch (e) {
      $("r-error").textContent = (e.message || "") + " " + (e.message_en || "");
      if (e.code === "conflict" || e.code === "too_late") { rated.add(pending.ticket); idleTimer = setTimeout(idle, 4000); }
    }
  }
  for (const b of document.querySelectorAll("[data-level]")) b.addEventListener("click", () => {
    level = parseInt(b.dataset.level, 10);
    if (level <= 2) { show("r-reasons"); armIdle(); } else { submit(); }
  });
  $("r-submit").addEventListener("click", submit);
  $("r-back").addEventListener("click", () => { level = null; show("r-ask"); armIdle(); });
  $("pair-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await Hall.api("POST", "/api/rate/" + wid + "/pair", {account: $("r-account").value.trim(), password: $("r-password").value});
      $("r-password").value = ""; paired = true; baseline = finishedNow(); idle();
    } catch (e) { $("r-password").value = ""; $("r-error").textContent = e.message + " " + (e.message_en || ""); }
  });
  async function init() {
    const st = await Hall.api("GET", "/api/rate/" + wid);
    paired = st.paired;
    if (!paired) { show("r-pair"); return; }
    baseline = st.finished ? st.finished.ticket : null;
    idle();
  }
  Hall.follow("/live/hall", ["state"], (_n, st) => {
    document.body.dataset.version = st.version;
    latest = st;
    if (!paired || baseline === undefined) return;
    const f = (st.finished || {})[wid];
    // the service finished before the pad was ready is not asked for (it may be long
    // gone); each one finished while it watches is, once
    if (f && f.ticket !== baseline && !rated.has(f.ticket) && (!pending || pending.ticket !== f.ticket)) ask(f);
  });
  init().catch(() => show("r-pair"));
})();
