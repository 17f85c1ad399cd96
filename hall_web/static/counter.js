/* The staff console: sign in, pick a window, call and serve with keyboard shortcuts. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const cfg = JSON.parse(document.getElementById("counter-config").textContent);
  const winCfg = Object.fromEntries(cfg.windows.map((w) => [w.id, w]));
  const queueName = Object.fromEntries(cfg.queues.map((q) => [q.id, q]));
  const STATE = {called: "已呼叫 Called", serving: "办理中 Serving"};
  const STEP = {issued: "取号", called: "呼叫", recalled: "重呼", started: "开始办理", no_show: "过号",
    requeued: "重新排队", transferred: "转入", finished: "办结", rated: "已评价", expired: "过期", cancelled: "取消"};
  let me = null, busy = false, lastWaiting = null, current = null, latest = null, onBoard = false;
  Hall.clock($("c-clock"));

  function show(which) {
    for (const id of ["login", "pick", "desk"]) $(id).hidden = id !== which;
  }
  function say(text, bad) { $("msg").textContent = text; $("msg").className = "c-msg" + (bad ? " bad" : ""); }
  function chime() {  // a short two-tone sound, generated: no audio file needed
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach((f, i) => {
        const o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = f; o.connect(g); g.connect(ctx.destination);
        g.gain.setValueAtTime(0.2, ctx.currentTime + i * 0.18);
        g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + i * 0.18 + 0.16);
        o.start(ctx.currentTime + i * 0.18); o.stop(ctx.currentTime + i * 0.18 + 0.17);
      });
    } catch (_) { /* no audio: the count still shows */ }
    document.body.dataset.chimes = String(parseInt(document.body.dataset.chimes || "0", 10) + 1);
  }
  function renderTicket(t) {
    current = t;
    onBoard = false;
    $("d-number").textContent = t ? t.number : "—";
    $("d-state").textContent = t ? (STATE[t.state] || t.state) : "";
    $("d-queue").textContent = t ? t.queue_name : "";
    $("d-history").replaceChildren(...(t ? t.history : []).map((s) => {
      const li = document.createElement("li");
      const time = new Intl.DateTimeFormat("zh-CN", {timeZone: document.body.dataset.tz, hour: "2-digit", minute: "2-digit", hour12: false}).format(new Date(s.at * 1000));
      li.textContent = time + " " + (STEP[s.what] || s.what) + (s.window ? " · " + (winCfg[s.window] ? winCfg[s.window].name : s.window) : "")
        + (s.queue && s.what === "transferred" ? " · " + (queueName[s.queue] ? queueName[s.queue].name : s.queue) : "")
        + (s.staff ? " · " + s.staff : "") + (s.note ? " · 备注：" + s.note : "");
      return li;
    }));
  }
  function renderWindow(st) {
    if (!me || !me.window) return;
    const w = (st.windows || []).find((x) => x.window === me.window);
    if (w) {
      $("d-paused").hidden = !w.paused;
      $("d-paused").textContent = w.paused ? "暂停中 Paused" : "";
      // the ticket left the window elsewhere (expired, another console): clear it, but
      // only once the board has shown it here — a state older than the reply may come
      // after it and must not wipe what the reply just showed
      if (current && current.number) {
        if (w.current === current.number) onBoard = true;
        else if (onBoard) renderTicket(null);
      }
    }
    const mine = winCfg[me.window] ? winCfg[me.window].queues : [];
    const rows = (st.queues || []).filter((q) => mine.includes(q.queue));
    let total = 0;
    $("d-queues").replaceChildren(...rows.map((q) => {
      total += q.waiting || 0;
      const tr = document.createElement("tr");
      tr.innerHTML = "<th></th><td></td>";
      tr.children[0].textContent = q.letter + " " + q.name;
      tr.children[1].textContent = q.waiting === null ? "—" : q.waiting;
      return tr;
    }));
    if (lastWaiting === 0 && total > 0) chime();
    lastWaiting = total;
    document.body.dataset.waiting = String(total);
  }
  async function start() {
    try { me = await Hall.api("GET", "/api/counter/me"); }
    catch (_) { me = null; }
    if (!me) { show("login"); $("l-account").focus(); return; }
    $("c-who").textContent = me.name + "（" + me.account + "）";
    if (!me.window) { pickWindow(); return; }
    openDesk();
  }
  function pickWindow() {
    show("pick");
    $("pick-list").replaceChildren(...me.windows.map((wid) => {
      const b = document.createElement("button");
      b.className = "c-btn"; b.textContent = winCfg[wid] ? winCfg[wid].name : wid;
      b.onclick = async () => {
        try { await Hall.api("POST", "/api/counter/window", {window: wid}, me.csrf); me.window = wid; openDesk(); }
        catch (e) { alert(e.message); }
      };
      return b;
    }));
  }
  async function openDesk() {
    show("desk");
    $("d-window").textContent = winCfg[me.window] ? winCfg[me.window].name : me.window;
    document.body.dataset.window = me.window;
    lastWaiting = null;
    if (latest) renderWindow(latest);  // the counts at once, and the base for the chime
    try {
      const st = await Hall.api("POST", "/api/counter/status", {}, me.csrf);
      $("d-paused").hidden = !st.result.paused;
      if (st.result.current) renderTicket({number: st.result.current, state: st.result.current_state, queue_name: "", history: []});
    } catch (_) { /* the stream will tell */ }
  }
  async function act(name, body) {
    if (busy) return;              // the lock against double calls
    busy = true;
    document.body.dataset.busy = "1";
    for (const b of document.querySelectorAll("[data-act]")) b.disabled = true;
    try {
      const r = await Hall.api("POST", "/api/counter/" + name, body || {}, me.csrf);
      const res = r.result;
      if (res && res.ticket && res.ticket.number) renderTicket(res.ticket);        // finish
      else if (res && res.number) renderTicket(res);                              // ticket ops
      if (name === "finish" || name === "transfer" || name === "no_show") renderTicket(null);
      if (name === "finish" && res.case) say("已办结 " + res.ticket.number + "，办件号 " + res.case.case_no);
      else if (res && res.number) say(res.number + " · " + (STATE[res.state] || res.state));
      else if (name === "pause") say("已暂停 Paused");
      else if (name === "resume") say("已恢复 Resumed");
      else say("完成 Done");
      document.body.dataset.last = name;
    } catch (e) {
      if (e.status === 401) { me = null; show("login"); }
      say((e.message || "失败") + " · " + (e.message_en || ""), true);
    } finally {
      busy = false;
      document.body.dataset.busy = "0";
      for (const b of document.querySelectorAll("[data-act]")) b.disabled = false;
    }
  }
  function dialog(id, onOk) {
    const d = $(id);
    d.returnValue = "";
    d.onclose = () => { if (d.returnValue === "ok") onOk(); };
    d.showModal();
  }
  async function logout() {
    try { await Hall.api("POST", "/api/counter/logout", {}, me.csrf); } catch (_) { /* gone anyway */ }
    me = null; renderTicket(null); show("login");
  }
  const ACTIONS = {
    call_next: () => act("call_next"), recall: () => act("recall"), start: () => act("start"),
    no_show: () => dialog("dlg-noshow", () => act("no_show", {requeue: $("n-requeue").checked})),
    finish: () => dialog("dlg-finish", () => act("finish", {accept_case: $("f-case").checked})),
    transfer: () => dialog("dlg-transfer", () => {
      const q = $("t-queue").value, w = $("t-window").value, note = $("t-note").value.trim();
      if (!!q === !!w) { say("请选择一个队列或一个窗口 · pick a queue or a window", true); return; }
      const body = q ? {to_queue: q} : {to_window: w};
      if (note) body.note = note;
      $("t-note").value = "";
      act("transfer", body);
    }),
    pause: () => dialog("dlg-pause", () => {
      const reason = $("p-reason").value, note = $("p-note").value.trim();
      if (!reason) { say("暂停须选择原因 · a reason is required", true); return; }
      const body = {reason}; if (note) body.note = note;
      $("p-note").value = "";
      act("pause", body);
    }),
    resume: () => act("resume"), logout: () => logout(),
  };
  for (const b of document.querySelectorAll("[data-act]")) b.addEventListener("click", () => ACTIONS[b.dataset.act]());
  document.addEventListener("keydown", (ev) => {
    if ($("desk").hidden || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (document.querySelector("dialog[open]")) return;
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const b = document.querySelector("[data-key='" + ev.key + "']");
    if (b) { ev.preventDefault(); ACTIONS[b.dataset.act](); }
  });
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      me = await Hall.api("POST", "/api/counter/login", {account: $("l-account").value.trim(), password: $("l-password").value});
      $("l-password").value = "";
      start();
    } catch (e) { $("l-password").value = ""; alert((e.message || "登录失败") + "\n" + (e.message_en || "")); }
  });
  Hall.follow("/live/hall", ["state"], (_n, st) => { latest = st; renderWindow(st); document.body.dataset.version = st.version; });
  start();
})();
