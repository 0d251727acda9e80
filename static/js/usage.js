// Usage dashboard charts (uPlot). Each chart's data is JSON in its data-values attribute, so no
// inline script runs; charts are drawn again whenever htmx swaps in a new report.
"use strict";

(() => {
  const styles = getComputedStyle(document.documentElement);
  const color = (name) => styles.getPropertyValue(name).trim();


  function requestsChart(element, data) {
    return {
      width: element.clientWidth,
      height: 260,
      scales: { x: { time: true } },
      series: [
        {},
        { label: "Admitted", stroke: color("--brand"), fill: "rgba(59, 91, 219, 0.12)", width: 2 },
        { label: "Denied", stroke: color("--bad"), width: 2 },
      ],
      axes: [{}, { size: 60 }],
      data: [data.t, data.ok, data.denied],
    };
  }

  function burnDownChart(element, data) {
    const quota = Number(element.dataset.quota);
    const periodEnd = Number(element.dataset.periodEnd);
    // Projection: the straight line from today's quota left to the end of the period.
    const last = data.t.length ? data.t.length - 1 : 0;
    const slope = last > 0 ? (data.left[last] - quota) / (data.t[last] - data.t[0]) : 0;
    const projection = data.t.map((t, i) => (i < last ? null : data.left[last]));
    const times = [...data.t, periodEnd];
    return {
      width: element.clientWidth,
      height: 220,
      scales: { x: { time: true } },
      series: [
        {},
        { label: "Quota left", stroke: color("--brand"), width: 2 },
        { label: "Projection", stroke: color("--warn"), dash: [6, 6], width: 2 },
      ],
      axes: [{}, { size: 70 }],
      data: [times, [...data.left, null], [...projection, data.left[last] + slope * (periodEnd - data.t[last])]],
    };
  }

  const builders = { requests: requestsChart, "burn-down": burnDownChart };

  function draw(root) {
    if (!window.uPlot) return;
    for (const element of root.querySelectorAll("[data-chart]:not([data-drawn])")) {
      const data = JSON.parse(element.dataset.values || "null");
      const build = builders[element.dataset.chart];
      if (!data || !build) continue;
      element.replaceChildren();
      element.uplot = new window.uPlot(build(element, data), null, element);
      element.dataset.drawn = "true";
    }
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  // After any swap (a new range, or the counters refreshing), draw the charts not drawn yet.
  document.addEventListener("htmx:afterSettle", () => draw(document));
  window.addEventListener("resize", () => {
    for (const element of document.querySelectorAll("[data-chart]")) {
      element.uplot?.setSize({ width: element.clientWidth, height: element.uplot.height });
    }
  });
})();
