/* The hall display (综合屏): calls, waiting counts, clock, notice, and the voice. */
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("screen-config").textContent);
  const $ = (id) => document.getElementById(id);
  const page = "screen-" + Math.random().toString(36).slice(2, 8);
  Hall.clock($("clock"), $("date"));
  let lastCall = null, flashTimer = null;
  let lastPlayed = null;           // highest announcement seq played (or skipped at load)
  const queue = [];                // announcements waiting to be played, in order
  let playing = false;
  const player = new Audio();
  player.preload = "auto";

  function report(seq, event) {
    fetch("/api/playback", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({seq, event, page})})
      .then(() => { document.body.dataset.reported = seq + ":" + event; })
      .catch(() => {});
  }
  function playNext() {
    if (playing || queue.length === 0) return;
    const a = queue.shift();
    playing = true;
    $("audio-state").textContent = "playing " + a.seq;
    let part = 0, finished = false;
    const done = (ev) => {
      if (finished) return;
      finished = true;
      playing = false;
      report(a.seq, ev);
      $("audio-state").textContent = "idle";
      playNext();
    };
    // Mandarin, then the dialect when configured: parts of one announcement, each to its end
    const playPart = () => {
      player.onended = () => { part += 1; if (part < (cfg.parts || 1)) playPart(); else done("end"); };
      player.onerror = () => done("error");
      // calls waiting behind this one: say it once instead of repeating (a backlog of
      // calls is worked off sooner; none is dropped, none cut off)
      const q = [];
      if (part) q.push("part=" + part);
      if (a.brief) q.push("repeat=1");
      player.src = "/audio/call/" + a.seq + ".wav" + (q.length ? "?" + q.join("&") : "");
      const p = player.play();
      if (p && p.catch) p.catch(() => done("error"));
    };
    report(a.seq, "start");
    playPart();
  }
  function announce(list) {
    if (!cfg.audio) return;
    if (lastPlayed === null) {  // a page (re)loaded: old calls are not announced again
      lastPlayed = list.length ? list[list.length - 1].seq : 0;
      return;
    }
    for (const a of list) {
      if (a.seq > lastPlayed) { queue.push(a); lastPlayed = a.seq; }
    }
    const backlog = queue.length + (playing ? 1 : 0) > 1;
    for (const a of queue) a.brief = backlog;
    playNext();
  }

  // Only what changed is touched: a state arrives many times a second and most of it is
  // the same; rewriting the DOM anyway costs the display PC's CPU (layout, paint).
  const setText = (el, v) => { v = String(v); if (el.textContent !== v) el.textContent = v; };
  let othersKey = "", recentKey = "";
  function render(st) {
    const closed = st.open === false;
    if ($("closed").hidden !== !closed) $("closed").hidden = !closed;
    setText($("next-open"), closed && st.next_opening ? "下次开放 " + st.next_opening.slice(0, 16).replace("T", " ") : "");
    setText($("hours"), st.hours || "");
    const calls = st.calls || [];
    const now = calls.find((c) => c.state === "called") || calls[0];
    const card = $("now");
    if (now) {
      card.dataset.empty = "0";
      setText($("now-number"), now.number);
      setText($("now-window"), now.window_name);
      const info = Hall.statics.windows[now.window] || {};
      setText($("now-window-en"), info.name_en || "");
      setText($("now-location"), info.location || "");
      const key = now.number + "|" + now.window + "|" + now.at + "|" + now.recall;
      if (key !== lastCall) {
        lastCall = key;
        card.classList.remove("flash"); void card.offsetWidth; card.classList.add("flash");
        clearTimeout(flashTimer);
        flashTimer = setTimeout(() => card.classList.remove("flash"), cfg.flash_s * 1000);
      }
    } else {
      card.dataset.empty = "1";
      setText($("now-number"), "—");
      setText($("now-window"), ""); setText($("now-window-en"), ""); setText($("now-location"), "");
    }
    const rest = calls.filter((c) => c !== now).slice(0, 6);
    const ok = rest.map((c) => c.number + c.state + c.window).join("|");
    if (ok !== othersKey) {
      othersKey = ok;
      $("others").replaceChildren(...rest.map((c) => {
        const d = document.createElement("div");
        d.className = "s-other " + c.state;
        d.innerHTML = "<span><span class='s-o-num'></span><span class='s-o-tag'></span></span><span class='s-o-win'></span>";
        d.querySelector(".s-o-num").textContent = c.number;
        d.querySelector(".s-o-tag").textContent = c.state === "serving" ? "办理中" : "";
        d.children[1].textContent = c.window_name;
        return d;
      }));
    }
    for (const q of st.queues || []) {
      const row = document.querySelector("tr[data-queue='" + q.queue + "'] .s-count");
      if (row) setText(row, q.waiting === null ? "—" : q.waiting);
    }
    const items = (st.announce || []).slice().reverse().slice(0, cfg.recent);
    const rk = items.map((a) => a.seq).join("|");
    if (rk !== recentKey) {
      recentKey = rk;
      $("recent").replaceChildren(...items.map((a) => {
        const li = document.createElement("li");
        li.innerHTML = "<span class='s-r-num'></span><span class='s-r-win'></span>";
        li.children[0].textContent = a.number; li.children[1].textContent = a.window_name;
        return li;
      }));
    }
    document.body.dataset.version = st.version;
    announce(st.announce || []);
  }
  Hall.follow("/live/hall", ["state"], (_n, st) => render(st));
})();
