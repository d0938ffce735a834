// CONTROL/MONITORING: swap in freshly drawn traffic charts every few seconds (the server draws them).
(function () {
  "use strict";
  var box = document.getElementById("traffic");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-src");
  var every = Math.max(2, parseInt(box.getAttribute("data-every") || "2", 10)) * 1000;
  var busy = false;
  function update() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) { box.innerHTML = html; box.setAttribute("data-updated", String(Date.now())); }
      })
      .catch(function () { /* keep the last charts; the next tick tries again */ })
      .then(function () { busy = false; });
  }
  window.setInterval(update, every);
}());
