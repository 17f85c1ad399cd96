/* The citizen's phone page: the ticket's place, live; 静默叫号 by SMS. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const token = $("phone").dataset.token;
  const STATES = {
    waiting: ["等候中", "Waiting"], called: ["请前往窗口", "Your turn"], serving: ["正在办理", "Being served"],
    finished: ["已办结", "Finished"], skipped: ["已过号，请联系工作人员", "Missed: please ask staff"],
    cancelled: ["已取消", "Cancelled"], expired: ["已过期", "Expired"],
  };
  let offered = false, silent = null;
  function render(t) {
    if ("silent_offered" in t) offered = t.silent_offered;
    if ("silent" in t) silent = t.silent;
    $("p-number").textContent = t.number;
    $("p-queue").textContent = t.queue_name;
    const s = STATES[t.state] || [t.state, t.state];
    let line = s[0] + " · " + s[1];
    if (t.state === "called" && t.window_hint) line = "请到 " + t.window_hint + " 办理 · Your turn: please go to the window";
    $("p-state").textContent = line;
    document.body.dataset.state = t.state;
    document.body.dataset.version = String((parseInt(document.body.dataset.version || "0", 10) || 0) + 1);
    $("p-facts").hidden = t.state !== "waiting";
    $("p-ahead").textContent = t.people_ahead;
    $("p-wait").textContent = t.expected_wait_min;
    if (silent) { $("silent").hidden = true; $("s-done").hidden = false; $("s-done").textContent = "将在前面还剩 " + silent.when_ahead + " 人时发短信到 " + silent.phone; }
    else { $("silent").hidden = t.state !== "waiting" || !offered; }
  }
  Hall.setHallUp(true);
  Hall.api("GET", "/api/tickets/" + encodeURIComponent(token)).then(render).catch((e) => { $("p-error").textContent = e.message; });
  Hall.follow("/live/tickets/" + encodeURIComponent(token), ["ticket"], (_n, t) => render(t));
  $("silent").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await Hall.api("POST", "/api/tickets/" + encodeURIComponent(token) + "/notify",
        {phone: $("s-phone").value.trim(), when_ahead: parseInt($("s-ahead").value, 10)});
      $("s-phone").value = "";
      $("silent").hidden = true; $("s-done").hidden = false;
      silent = r.silent;
      $("s-done").textContent = "已登记：将在前面还剩 " + r.silent.when_ahead + " 人时发短信到 " + r.silent.phone;
    } catch (e) { $("p-error").textContent = e.message + " " + (e.message_en || ""); }
  });
})();
