// The Run panel: headline metrics (sections of small tables, see metrics.js), the data set and the full
// config of the selected run.

import { byId, el, fillPairs } from "./dom.js";
import { flatten } from "./format.js";
import { metricSections, sourceNote } from "./metrics.js";

// A cell is text or {text, tone}; the first cell of a row names it, so it is a header cell.
function cell(value, tag) {
  return typeof value === "string" ? el(tag, { text: value }) : el(tag, { text: value.text, className: value.tone });
}

function sectionElement({ title, head, rows, note }) {
  // Measure/value tables share one column split, so values line up from section to section.
  const table = el("table", { className: head ? "" : "pairs" });
  if (head) table.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { text: h })))));
  table.append(el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((v, k) => cell(v, k ? "td" : "th"))))));
  return el("section", { className: "metric-section" },
    ...(title ? [el("h4", { text: title })] : []), table, ...(note ? [el("p", { className: "hint", text: note })] : []));
}

export function initRunInfo() {
  return {
    render(run) {
      const m = run.metrics;
      byId("metrics").replaceChildren(...metricSections(m.values).map(sectionElement));
      byId("metrics-source").textContent = sourceNote(m.source);
      fillPairs(byId("data"), [["dataset", run.dataset], ["source", run.data_source || "–"],
        ["bundled sample", run.is_sample ? "yes" : "no"], ["test images", String(run.n_test)],
        ["classes", run.classes.join(", ") || "–"]]);
      byId("config").replaceChildren(...flatten(run.config).map(([k, v]) =>
        el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
    },
  };
}
