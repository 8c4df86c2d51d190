// Spend page: draws the plotly figures built on the server from their JSON blocks
// (<script type="application/json">, never executed), and keeps the range controls coherent.
"use strict";
(function () {
  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      window.Plotly.newPlot(el, fig.data, fig.layout, {
        displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"],
      }).then(function () { el.classList.add("drawn"); });
    });
  }

  function linkRangeControls() {
    var form = document.getElementById("spend-filters");
    if (!form) return;
    var range = form.querySelector("select[name=range]");
    var dates = form.querySelectorAll("input[type=date]");
    // Typing a date means a custom range; picking a preset clears the dates it would ignore.
    dates.forEach(function (input) {
      input.addEventListener("change", function () { if (input.value) range.value = "custom"; });
    });
    range.addEventListener("change", function () {
      if (range.value !== "custom") dates.forEach(function (input) { input.value = ""; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    linkRangeControls();
    drawCharts();
  });
})();
