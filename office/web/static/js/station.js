/* Station page: the battery chart (uPlot, vendored) for 24 h / 7 days, and live refresh of the page's parts when
   the station reports (SSE) or while a command waits for its answer. */
(function () {
  "use strict";
  var box = document.getElementById("battery-chart");
  var title = document.getElementById("station-title");
  if (!box || !title) return;
  var station = title.dataset.station, plot = null, range = "24h";

  function fmtTime(sec) {
    var d = new Date(sec * 1000);
    var hm = d.toLocaleTimeString(document.body.dataset.lang || "id", { hour: "2-digit", minute: "2-digit" });
    return range === "24h" ? hm : d.toLocaleDateString(document.body.dataset.lang || "id", { day: "numeric", month: "short" }) + " " + hm;
  }
  function draw(data) {
    if (plot) { plot.destroy(); plot = null; }
    box.textContent = "";
    if (!data.t.length) { var p = document.createElement("p"); p.className = "muted"; p.textContent = box.dataset.empty; box.appendChild(p); return; }
    var mains = data.on_mains.map(function (v) { return v === null ? null : v * 100; });
    var opts = {
      width: Math.max(280, box.clientWidth), height: 240,
      scales: { y: { range: [0, 100] } },
      axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return v + "%"; }); } }],
      series: [{ label: box.dataset.time, value: function (u, v) { return v == null ? "–" : fmtTime(v); } },
               { label: box.dataset.label, stroke: "#0b6e4f", width: 2, fill: "rgba(11,110,79,0.08)" },
               { label: box.dataset.mains, stroke: "#9aa3a0", width: 1, dash: [4, 4], paths: window.uPlot.paths.stepped({ align: 1 }) }],
      legend: { live: true }
    };
    plot = new window.uPlot(opts, [data.t, data.battery_percent, mains], box);
  }
  function load() {
    fetch(box.dataset.src + "?range=" + range, { credentials: "same-origin" })
      .then(function (r) { if (r.status === 401) { window.location.reload(); throw new Error("logged out"); } return r.json(); })
      .then(draw).catch(function () {});
  }
  document.querySelectorAll("[data-range]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      range = btn.dataset.range;
      document.querySelectorAll("[data-range]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === btn)); });
      load();
    });
  });
  window.addEventListener("resize", function () { if (plot) plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 }); });
  load();

  var parts = ["station-title", "facts", "command-list", "timeline", "station-alerts"];
  var busy = false;
  function refresh() {
    if (busy) return;
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      parts.forEach(function (id) {
        var fresh = doc.getElementById(id), old = document.getElementById(id);
        if (fresh && old) { old.replaceWith(fresh); window.JemputOffice.drawBars(fresh); window.JemputOffice.refreshTimes(fresh); }
      });
      var strip = doc.getElementById("alert-strip"), oldStrip = document.getElementById("alert-strip");
      if (strip && oldStrip) oldStrip.replaceWith(strip);
    }).finally(function () { busy = false; });
  }
  function pending() { return document.querySelector("#command-list [data-state='sent'], #command-list [data-state='waiting'], #command-list [data-state='no_answer']"); }
  setInterval(function () { if (pending()) refresh(); }, 3000);
  var src = title.dataset.events;
  if (src && window.EventSource) {
    var es = new EventSource(src);
    es.addEventListener("station", function (ev) { if (JSON.parse(ev.data).id === station) refresh(); });
    es.addEventListener("alerts", function () { refresh(); });
    es.addEventListener("logout", function () { es.close(); window.location.reload(); });
  }
})();
