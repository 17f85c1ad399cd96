/* A window's small screen: its current number, 暂停服务 while paused, blank when closed. */
"use strict";
(function () {
  const main = document.getElementById("wd");
  const wid = main.dataset.window;
  const num = document.getElementById("w-number"), text = document.getElementById("w-text");
  let last = null;
  Hall.follow("/live/hall", ["state"], (_n, st) => {
    const w = (st.windows || []).find((x) => x.window === wid);
    let state = "closed", n = "", t = "";
    if (w) {
      if (w.current) { state = w.state || "called"; n = w.current; t = w.state === "serving" ? "正在办理 Serving" : "请到本窗口 Please come"; }
      else if (w.paused) { state = "paused"; t = "暂停服务"; }
      else if (w.open && st.open !== false) { state = "idle"; t = "欢迎光临 Welcome"; }
    }
    main.dataset.state = state;
    num.textContent = n; text.textContent = t;
    const key = state + n;
    if (key !== last && state === "called") { main.classList.remove("flash"); void main.offsetWidth; main.classList.add("flash"); }
    last = key;
    document.body.dataset.version = st.version;
  });
})();
