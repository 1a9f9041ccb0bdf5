// How numbers and statuses are written on the page (Japanese first).

/** 87.1 → "87.1%"; null (no items) → "—". The API sends rates as numbers with one decimal. */
export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${rate.toFixed(1)}%`;
}

/** 124 → "124 項目". */
export function items(count) {
  return count === null || count === undefined ? "—" : `${count} 項目`;
}

/** The label and the CSS class of an evaluation's status (badge). */
export const STATUS = {
  achieved: { label: "達成", css: "badge-achieved" },
  not_achieved: { label: "未達成", css: "badge-not-achieved" },
  unconfirmed: { label: "数値未確定", css: "badge-unconfirmed" },
  none: { label: "評価なし", css: "badge-none" }, // evaluated, but no status stated
  not_evaluated: { label: "未評価", css: "badge-not-evaluated" }, // no evaluation at all
};

/** The status of an initiative, from its latest evaluation (or none). */
export function statusOf(initiative) {
  const latest = initiative.latest_evaluation;
  if (!latest) return STATUS.not_evaluated;
  return STATUS[latest.status] || STATUS.none;
}
