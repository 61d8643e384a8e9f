// The Run panel: headline metrics, the data set and the full config of the selected run.

import { byId, el, fillPairs } from "./dom.js";
import { flatten, fmt } from "./format.js";

const SOURCES = { "metrics.json": "from metrics.json", history: "final epoch of the training history",
                  none: "no metrics recorded" };

export function initRunInfo() {
  return {
    render(run) {
      const m = run.metrics;
      fillPairs(byId("metrics"), Object.entries(m.values).map(([k, v]) => [k, fmt(v, 4)]));
      byId("metrics-source").textContent = SOURCES[m.source] || "";
      fillPairs(byId("data"), [["dataset", run.dataset], ["source", run.data_source || "–"],
        ["bundled sample", run.is_sample ? "yes" : "no"], ["test images", String(run.n_test)],
        ["classes", run.classes.join(", ") || "–"]]);
      byId("config").replaceChildren(...flatten(run.config).map(([k, v]) =>
        el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
    },
  };
}
