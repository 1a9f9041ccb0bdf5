// Bar charts made by hand: each bar is a small SVG whose rectangle is as long as the rate
// (0-100). The labels are HTML beside it, so they stay readable at any width. A chart is
// only a picture (aria-hidden): each one on the page has a table with the same figures.

import { el, svg } from "./dom.js";
import { percent } from "./format.js";

/** One bar: a 100-unit-wide SVG stretched to its box by CSS, filled to `rate`. */
function bar(rate, series) {
  const width = rate === null || rate === undefined ? 0 : Math.max(0, Math.min(100, rate));
  return svg(
    "svg",
    { class: `bar bar-${series}`, viewBox: "0 0 100 1", preserveAspectRatio: "none", focusable: "false" },
    svg("rect", { class: "bar-track", x: 0, y: 0, width: 100, height: 1 }),
    svg("rect", { class: "bar-fill", x: 0, y: 0, width, height: 1 }),
  );
}

/**
 * A horizontal bar chart of groups, each with a bar per series:
 *   groups: [{label: "1 行政組織の質を高める", values: {published: 97.4, computed: 100}}]
 *   series: [{key: "published", label: "公表値"}, {key: "computed", label: "計算値"}]
 */
export function barChart(groups, series) {
  if (groups.length === 0) return el("p", { class: "empty" }, "この年度の数値はありません。");
  return el(
    "div",
    { class: "bars" },
    groups.map((group) =>
      el(
        "div",
        { class: "bar-group" },
        el("p", { class: "bar-label" }, group.label),
        series.map((one) =>
          el(
            "div",
            { class: "bar-row" },
            el("span", { class: "bar-series" }, one.label),
            bar(group.values[one.key], one.key),
            el("span", { class: "bar-value" }, percent(group.values[one.key])),
          ),
        ),
      ),
    ),
  );
}
