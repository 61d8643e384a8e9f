// Small DOM helpers shared by the panels.

export const byId = (id) => document.getElementById(id);

// A new element with its text and class; children appended in order.
export function el(tag, { text, className } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  node.append(...children);
  return node;
}

// Rows of [header, value] as <tr><th>…</th><td>…</td></tr>, replacing the table's contents.
export function fillPairs(table, rows) {
  table.replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
}

// fn on the next animation frame, once, however often it is asked for before then: pointer events come
// faster than frames, and each redraw only needs the latest state.
export function frameScheduler(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}
