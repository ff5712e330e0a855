/* CoCare dashboards: draw every <canvas data-chart="…"> with Chart.js from the JSON spec
 * embedded next to it (Django json_script), and keep "live" tiles fresh by polling their
 * JSON endpoint. No data is fetched from anywhere but our own server. */
(function () {
  "use strict";
  var PALETTE = ["#1b5e9b", "#2e7d32", "#c77700", "#8e24aa", "#c62828", "#00838f", "#5d4037"];
  window.cocareCharts = window.cocareCharts || {};

  function config(spec) {
    var hasY1 = spec.datasets.some(function (d) { return d.axis === "y1"; });
    var datasets = spec.datasets.map(function (d, i) {
      var colour = PALETTE[i % PALETTE.length];
      var type = d.type || spec.type;
      return {
        label: d.label, data: d.data, type: type, yAxisID: d.axis || "y",
        backgroundColor: type === "line" ? colour : colour + "cc",
        borderColor: colour, borderWidth: 2, pointRadius: spec.labels.length > 60 ? 0 : 2,
        spanGaps: true, tension: 0.2, order: type === "line" ? 0 : 1
      };
    });
    var scales = {
      x: { stacked: !!spec.stacked, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 16, maxTicksLimit: 8 } },
      y: { stacked: !!spec.stacked, beginAtZero: true, min: spec.y.min, max: spec.y.max,
           title: { display: !!spec.y.title, text: spec.y.title },
           // Counts (visits, people, alerts) step by whole numbers, never 0.2.
           ticks: spec.y.integer ? { precision: 0 } : {} }
    };
    if (hasY1) {
      scales.y1 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                    title: { display: true, text: spec.y.y1 || "" } };
    }
    return {
      type: spec.type, data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } }, scales: scales
      }
    };
  }

  function draw() {
    if (typeof window.Chart === "undefined") { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var script = document.getElementById(canvas.getAttribute("data-chart"));
      if (!script || window.cocareCharts[canvas.id]) { return; }
      window.cocareCharts[canvas.id] = new window.Chart(canvas, config(JSON.parse(script.textContent)));
    });
  }

  function poll(tile) {
    var url = tile.getAttribute("data-live-url");
    var every = 1000 * (parseInt(tile.getAttribute("data-live-interval"), 10) || 30);
    function tick() {
      if (document.hidden) { setTimeout(tick, every); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          tile.querySelectorAll("[data-live]").forEach(function (el) {
            var v = data[el.getAttribute("data-live")];
            if (v !== undefined) { el.textContent = v; }
          });
          tile.setAttribute("data-live-updated", data.at || "");
        })
        .catch(function () { /* offline: keep the last figures, try again later */ })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw();
    document.querySelectorAll("[data-live-url]").forEach(poll);
  });
})();
