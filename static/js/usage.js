// Usage dashboard charts (uPlot). Each chart's data is JSON in its data-values attribute, so no
// inline script runs; charts are drawn again whenever htmx swaps in a new report.
"use strict";

(() => {
  const styles = getComputedStyle(document.documentElement);
  const color = (name) => styles.getPropertyValue(name).trim();


  function requestsChart(element, data) {
    // The axis is the range asked for: with one bucket uPlot would pick years around it.
    const start = Number(element.dataset.start);
    const end = Number(element.dataset.end);
    return {
      width: element.clientWidth,
      height: 260,
      scales: { x: start && end ? { time: true, range: [start, end] } : { time: true } },
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
    const start = Number(element.dataset.periodStart);
    const end = Number(element.dataset.periodEnd);
    // The server sends the period's start, each midnight since and now (never nothing here).
    const last = data.t.length - 1;
    const elapsed = data.t[last] - start;
    // Projection: the straight line from the pace so far to the end of the period.
    const slope = elapsed > 0 ? (data.left[last] - quota) / elapsed : 0;
    const projection = data.t.map((t, i) => (i < last ? null : data.left[last]));
    return {
      width: element.clientWidth,
      height: 220,
      // The axis is the period, whatever the points: a lone point would get uPlot's wide default.
      scales: { x: { time: true, range: [start, end] } },
      series: [
        {},
        { label: "Quota left", stroke: color("--brand"), width: 2 },
        { label: "Projection", stroke: color("--warn"), dash: [6, 6], width: 2 },
      ],
      axes: [{}, { size: 70 }],
      data: [
        [...data.t, end],
        [...data.left, null],
        [...projection, data.left[last] + slope * (end - data.t[last])],
      ],
    };
  }

  function balanceChart(element, data) {
    // The ledger's balance at the end of each day with movements (credits page).
    return {
      width: element.clientWidth,
      height: 200,
      scales: { x: { time: true } },
      series: [{}, { label: "Credits", stroke: color("--brand"), width: 2, paths: window.uPlot.paths.stepped({ align: 1 }) }],
      axes: [{}, { size: 70 }],
      data: [data.t, data.balance],
    };
  }

  const builders = { requests: requestsChart, "burn-down": burnDownChart, balance: balanceChart };

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
