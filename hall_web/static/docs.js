"use strict";
(async function () {
  const r = await fetch("/openapi.json"); const doc = await r.json();
  const root = document.getElementById("api");
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const sec = document.createElement("section");
      const h = document.createElement("h2"); h.textContent = method.toUpperCase() + " " + path; sec.appendChild(h);
      const p = document.createElement("p"); p.textContent = (op.summary || "") + (op.description ? " — " + op.description : ""); sec.appendChild(p);
      root.appendChild(sec);
    }
  }
})();
