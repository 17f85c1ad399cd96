/* Shared by every page: the live stream (Server-Sent Events) and the offline overlay. */
"use strict";
window.Hall = (function () {
  const overlay = () => document.getElementById("offline");
  // Optimistic at load (no overlay flashing on every page load); down when the stream
  // fails, or has not opened within 3 s.
  let streamUp = true, hallUp = true, opened = false;
  setTimeout(() => { if (!opened) { streamUp = false; showOffline(); } }, 3000);
  function showOffline() {
    const o = overlay();
    if (o) o.hidden = streamUp && hallUp;
    document.body.dataset.online = streamUp && hallUp ? "1" : "0";
  }
  /* Follow an SSE url; onEvent(name, data) for each event. EventSource reconnects by
     itself; while it is down (or the controller is lost) the overlay shows. */
  function follow(url, events, onEvent) {
    let es;
    function open() {
      es = new EventSource(url);
      es.onopen = () => { opened = true; streamUp = true; showOffline(); };
      es.onerror = () => {
        streamUp = false; showOffline();
        if (es.readyState === EventSource.CLOSED) setTimeout(open, 2000);
      };
      for (const name of events) {
        es.addEventListener(name, (e) => {
          streamUp = true;
          let data;
          try { data = JSON.parse(e.data); } catch (_) { return; }
          if (name === "state") { hallUp = !!data.online; }
          showOffline();
          onEvent(name, data);
        });
      }
    }
    open();
    return () => es.close();
  }
  function setHallUp(up) { hallUp = up; showOffline(); }
  function tz() { return document.body.dataset.tz || "Asia/Shanghai"; }
  function clock(el, dateEl) {
    const t = new Intl.DateTimeFormat("zh-CN", {timeZone: tz(), hour: "2-digit", minute: "2-digit", hour12: false});
    const d = new Intl.DateTimeFormat("zh-CN", {timeZone: tz(), year: "numeric", month: "long", day: "numeric", weekday: "long"});
    function tick() {
      const now = new Date();
      if (el) el.textContent = t.format(now);
      if (dateEl) dateEl.textContent = d.format(now);
    }
    tick(); setInterval(tick, 1000);
  }
  async function api(method, url, body, csrf) {
    const headers = {"Content-Type": "application/json"};
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const r = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin"});
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {code: "http", message: "请求失败（" + r.status + "）", message_en: "request failed"};
      e.status = r.status;
      throw e;
    }
    return data;
  }
  showOffline();
  const el = document.getElementById("statics");
  const statics = el ? JSON.parse(el.textContent) : {windows: {}};
  return {follow, clock, api, setHallUp, showOffline, statics};
})();
