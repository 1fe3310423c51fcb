/* Jemput office dashboard: keeps relative times current, draws bars without inline styles (CSP), applies the
   stations filters on change, and follows the live stream (SSE) to replace changed rows and the alert strip. */
(function () {
  "use strict";
  var lang = document.body.dataset.lang || "id";
  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;

  function relTime(iso) {
    var s = (Date.parse(iso) - Date.now()) / 1000, a = Math.abs(s);
    if (!rtf) return null;
    if (a < 45) return rtf.format(0, "second");
    if (a < 2700) return rtf.format(Math.round(s / 60), "minute");
    if (a < 79200) return rtf.format(Math.round(s / 3600), "hour");
    return rtf.format(Math.round(s / 86400), "day");
  }
  function refreshTimes(root) {
    (root || document).querySelectorAll("time[data-rel]").forEach(function (el) {
      var t = relTime(el.getAttribute("datetime"));
      if (t) el.textContent = t;
    });
  }
  function drawBars(root) {
    (root || document).querySelectorAll("[data-w]").forEach(function (el) { el.style.width = el.dataset.w + "%"; });
    (root || document).querySelectorAll("[data-h]").forEach(function (el) { el.style.height = el.dataset.h + "%"; });
  }
  function fromHtml(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }
  function swap(id, html) {
    var old = document.getElementById(id), fresh = fromHtml(html);
    if (!fresh) return null;
    if (old) old.replaceWith(fresh);
    drawBars(fresh); refreshTimes(fresh);
    return fresh;
  }
  window.JemputOffice = { swap: swap, drawBars: drawBars, refreshTimes: refreshTimes, fromHtml: fromHtml };

  drawBars(); refreshTimes();
  setInterval(refreshTimes, 20000);

  var filters = document.getElementById("filters");
  if (filters) filters.querySelectorAll("select").forEach(function (sel) {
    sel.addEventListener("change", function () { filters.submit(); });
  });

  var table = document.getElementById("fleet");
  var src = table && table.dataset.events;
  var live = document.getElementById("live");
  if (!src || !window.EventSource) return;
  function setLive(on) {
    if (!live) return;
    live.textContent = on ? live.dataset.on : live.dataset.off;
    live.classList.toggle("on", on);
  }
  var es = new EventSource(src);
  es.addEventListener("hello", function () { setLive(true); });
  es.addEventListener("station", function (ev) {
    var d = JSON.parse(ev.data);
    var tr = swap("row-" + d.id, d.row);
    if (tr) { tr.classList.toggle("hidden", !d.visible); tr.classList.add("flash-row"); }
    document.dispatchEvent(new CustomEvent("jemput:station", { detail: d }));
  });
  es.addEventListener("alerts", function (ev) { swap("alert-strip", JSON.parse(ev.data).strip); });
  es.addEventListener("logout", function () { es.close(); window.location.reload(); });
  es.addEventListener("full", function () { es.close(); setLive(false); setTimeout(function () { window.location.reload(); }, 60000); });
  es.onerror = function () { setLive(false); if (es.readyState === 2) setTimeout(function () { window.location.reload(); }, 30000); };
})();
