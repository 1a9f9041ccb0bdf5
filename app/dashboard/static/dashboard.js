// The dashboard: the plan, its achievement rates, their trend, the plan's tree, search and
// downloads, all read from the public API (/api/v1). Copy freely: it is meant as the
// reference client. Plain ES modules, no framework, no build step.

import { apiUrl, getAll, getJson } from "./api.js";
import { barChart } from "./charts.js";
import { el, fill } from "./dom.js";
import { items, percent, statusOf } from "./format.js";

const $ = (id) => document.getElementById(id);

// The two series every chart compares: what the city published, and what the service
// computes from the evaluations it holds.
const SERIES = [
  { key: "published", label: "公表値" },
  { key: "computed", label: "計算値" },
];

// What the page shows now; the URL (?plan=&year=) keeps the same, so a view can be linked.
const state = { plan: null, year: null };

/** Say something in the status line (read out by screen readers). */
function say(text) {
  $("status").textContent = text;
}

// --- The plan -----------------------------------------------------------------------------

function showPlan(plan) {
  document.title = `${plan.title}の進捗 | Plan progress`;
  $("municipality").textContent = `${plan.municipality_name}（${plan.municipality_code}）`;
  $("plan-title").textContent = plan.title;
  $("plan-period").textContent = `推進期間：${plan.period_label}`;
  $("plan-philosophy").textContent = plan.philosophy ? `基本理念：${plan.philosophy}` : "";
  $("attribution").textContent = plan.attribution || plan.source || "";
  fill(
    $("license"),
    "ライセンス：",
    plan.license_url ? el("a", { href: plan.license_url }, plan.license || plan.license_url) : plan.license || "—",
  );
}

function showPlanPicker(plans) {
  if (plans.length < 2) return;
  const select = $("plan");
  fill(select, plans.map((plan) => el("option", { value: plan.id }, `${plan.municipality_name} ${plan.title}`)));
  select.value = String(state.plan.id);
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("plan", select.value);
    url.searchParams.delete("year");
    location.assign(url); // a new plan: start again from its own data
  });
  $("plan-picker").hidden = false;
}

// --- Achievement by policy, for one fiscal year ------------------------------------------

/** The published line of a policy (null when the report has none, or there is no report). */
function publishedLine(stats, policyId) {
  if (!stats.published) return null;
  return stats.published.policies.find((line) => line.policy_id === policyId) || null;
}

/** "8 項目（うち数値未確定 2）": a count with its unconfirmed and inferred parts, if any. */
function countCell(counts, name) {
  if (!counts) return "—";
  let text = items(counts[name]);
  if (name === "items" && counts.unconfirmed) text += `（うち数値未確定 ${counts.unconfirmed}）`;
  // `inferred`: evaluations whose status was inferred, not stated (newer API versions).
  if (name === "achieved" && counts.inferred) text += `（うち推定 ${counts.inferred}）`;
  return text;
}

/** What the computed rate rests on: its count, the inferred statuses, and the rate with the
 *  registered initiatives that have no status counted in (`rate_all_items`). */
function computedNote(total) {
  let text = `評価 ${total.items} 項目中 ${total.achieved} 項目が達成`;
  if (total.inferred) text += `（うち推定 ${total.inferred}）`;
  const missing = (total.no_status ?? 0) + (total.not_evaluated ?? 0);
  if (missing && total.rate_all_items !== undefined) {
    text += `。評価のない ${missing} 項目を含めると ${percent(total.rate_all_items)}`;
  }
  return text;
}

function achievementRow(label, published, computed, header = "th") {
  return el(
    "tr",
    {},
    el(header, { scope: "row" }, label),
    el("td", {}, countCell(published, "items")),
    el("td", {}, countCell(published, "achieved")),
    el("td", { class: "rate" }, published ? percent(published.rate) : "—"),
    el("td", {}, countCell(computed, "items")),
    el("td", {}, countCell(computed, "achieved")),
    el("td", { class: "rate" }, percent(computed.rate)),
  );
}

function showAchievement(stats) {
  const label = stats.fiscal_year_label;
  $("achievement-caption").textContent = `${label}：基本方針別の達成率（公表値と計算値）`;

  // The headline: the published rate first (the city's figure), the computed one beside it.
  const published = stats.published;
  fill(
    $("headline"),
    el(
      "div",
      { class: "figure figure-published" },
      el("p", { class: "figure-label" }, `${label}の達成率（公表値）`),
      el("p", { class: "figure-value", id: "published-rate" }, published ? percent(published.total.rate) : "—"),
      el(
        "p",
        { class: "figure-note" },
        published
          ? `実施計画 ${published.total.items} 項目中 ${published.total.achieved} 項目が達成済`
          : "この年度の公表値はありません",
      ),
    ),
    el(
      "div",
      { class: "figure figure-computed" },
      el("p", { class: "figure-label" }, "登録データからの計算値（参考）"),
      el("p", { class: "figure-value", id: "computed-rate" }, percent(stats.total.rate)),
      el("p", { class: "figure-note" }, computedNote(stats.total)),
    ),
  );

  // The chart, and the table behind it (the same figures, and more).
  const groups = stats.policies.map((policy) => ({
    label: `${policy.number} ${policy.title}`,
    values: { published: publishedLine(stats, policy.policy_id)?.rate ?? null, computed: policy.rate },
  }));
  const anyFigure = groups.some((group) => group.values.published !== null || group.values.computed !== null);
  fill($("achievement-chart"), barChart(anyFigure ? groups : [], SERIES));

  const table = $("achievement-table");
  fill(
    table,
    el("caption", { id: "achievement-table-caption" }, `${label}：基本方針別の達成率（公表値と計算値）`),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col", rowspan: 2 }, "基本方針"),
        el("th", { scope: "colgroup", colspan: 3 }, "公表値"),
        el("th", { scope: "colgroup", colspan: 3 }, "計算値（登録データ）"),
      ),
      el(
        "tr",
        {},
        ["項目数(A)", "達成(B)", "達成率(B/A)", "項目数", "達成", "達成率"].map((name) => el("th", { scope: "col" }, name)),
      ),
    ),
    el(
      "tbody",
      {},
      stats.policies.map((policy) =>
        achievementRow(`${policy.number} ${policy.title}`, publishedLine(stats, policy.policy_id), policy),
      ),
    ),
    el("tfoot", {}, achievementRow("合計", published ? published.total : null, stats.total)),
  );
  showNotes(stats);
}

/** Below the table: whether the figures agree, the method, and the API's caveats. */
function showNotes(stats) {
  const notes = [];
  if (stats.published) {
    notes.push(
      el(
        "p",
        { class: stats.matches_published ? "match" : "mismatch" },
        stats.matches_published
          ? "公表値と計算値は一致しています。"
          : "公表値と計算値は一致していません。計算値は、このサービスに登録されている評価だけから計算しています。",
      ),
    );
  }
  const outside = [];
  if (stats.total.no_status) outside.push(`評価なし ${stats.total.no_status} 項目`);
  if (stats.total.not_evaluated) outside.push(`未評価 ${stats.total.not_evaluated} 項目`);
  if (outside.length) notes.push(el("p", {}, `計算値の対象外：${outside.join("、")}。`));
  notes.push(
    el("p", { class: "method" }, "達成率 = 達成 ÷ 評価した項目 × 100（小数第2位を四捨五入）。数値未確定の項目は分母に含みます。"),
  );
  // `caveats`: sentences the API adds about its statistics (newer versions). Shown when
  // present, nothing when absent.
  if (Array.isArray(stats.caveats) && stats.caveats.length > 0) {
    notes.push(
      el(
        "div",
        { class: "caveats", id: "caveats" },
        el("h3", {}, "計算値についての注意"),
        el("ul", {}, stats.caveats.map((caveat) => el("li", {}, caveat))),
      ),
    );
  }
  if (stats.published?.source) notes.push(el("p", { class: "source" }, `公表値の出典：${stats.published.source}`));
  fill($("achievement-notes"), notes);
}

async function loadYear(year) {
  state.year = year;
  $("year").value = String(year);
  const stats = await getJson("/stats/achievement", { plan_id: state.plan.id, fiscal_year: year });
  showAchievement(stats);
  showDownloads(stats);
  const url = new URL(location.href);
  url.searchParams.set("year", String(year));
  history.replaceState(null, "", url);
}

// --- The trend over the plan's years -----------------------------------------------------

function showTrend(trend) {
  const groups = trend.years.map((year) => ({
    label: year.fiscal_year_label,
    values: { published: year.published?.rate ?? null, computed: year.computed.rate },
  }));
  fill($("trend-chart"), barChart(groups, SERIES));
  fill(
    $("trend-table"),
    el("caption", { id: "trend-table-caption" }, "年度ごとの達成率：公表値と計算値"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ["年度", "公表 項目数", "公表 達成", "公表 達成率", "計算 項目数", "計算 達成", "計算 達成率", "一致"].map((name) =>
          el("th", { scope: "col" }, name),
        ),
      ),
    ),
    el(
      "tbody",
      {},
      trend.years.map((year) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, year.fiscal_year_label),
          el("td", {}, year.published ? items(year.published.items) : "—"),
          el("td", {}, year.published ? items(year.published.achieved) : "—"),
          el("td", { class: "rate" }, year.published ? percent(year.published.rate) : "—"),
          el("td", {}, items(year.computed.items)),
          el("td", {}, items(year.computed.achieved)),
          el("td", { class: "rate" }, percent(year.computed.rate)),
          el("td", {}, year.published ? (year.matches_published ? "一致" : "不一致") : "—"),
        ),
      ),
    ),
  );
}

// --- The plan's tree: policies → measures → initiatives ----------------------------------

function initiativeItem(initiative) {
  const status = statusOf(initiative);
  const latest = initiative.latest_evaluation;
  const facts = [initiative.fiscal_year_label];
  if (initiative.plan_page) facts.push(`P${initiative.plan_page}`);
  if (initiative.numeric_target) facts.push("数値目標");
  const text = latest?.result || initiative.description;
  return el(
    "li",
    { class: "initiative", id: `initiative-${initiative.id}` },
    el("span", { class: `badge ${status.css}` }, status.label),
    " ",
    el("span", { class: "code" }, initiative.code),
    " ",
    el("span", { class: "initiative-title" }, initiative.title),
    el("span", { class: "meta" }, `（${facts.join("・")}）`),
    text
      ? el(
          "details",
          { class: "more" },
          el("summary", {}, latest?.result ? `${latest.fiscal_year_label}の実績` : "内容"),
          el("p", {}, text),
          latest?.source ? el("p", { class: "source" }, `出典：${latest.source}`) : null,
        )
      : null,
  );
}

function showTree(policies, measures, initiatives) {
  if (policies.length === 0) {
    fill($("plan-tree"), el("p", { class: "empty" }, "基本方針が登録されていません。"));
    return;
  }
  fill(
    $("plan-tree"),
    el(
      "ol",
      { class: "tree" },
      policies.map((policy) => {
        const own = measures.filter((measure) => measure.policy_id === policy.id);
        const count = initiatives.filter((one) => one.policy_id === policy.id).length;
        return el(
          "li",
          { class: "policy" },
          el(
            "details",
            { open: true },
            el(
              "summary",
              {},
              el("span", { class: "policy-number" }, `方針${policy.number}`),
              ` ${policy.title}`,
              policy.focus ? `（${policy.focus}）` : "",
              el("span", { class: "count" }, ` ${count}件`),
            ),
            el(
              "ol",
              { class: "measures" },
              own.map((measure) =>
                el(
                  "li",
                  { class: "measure" },
                  el("h3", {}, `（${measure.number}）${measure.title}`),
                  el(
                    "ul",
                    { class: "initiatives" },
                    initiatives.filter((one) => one.measure_id === measure.id).map(initiativeItem),
                  ),
                ),
              ),
            ),
          ),
        );
      }),
    ),
  );
}

// --- Search ------------------------------------------------------------------------------

const KINDS = { initiative: "取組事項", evaluation: "実績", policy: "基本方針", measure: "施策" };

async function search(event) {
  event.preventDefault();
  const q = $("q").value.trim();
  if (!q) {
    $("search-status").textContent = "検索する言葉を入力してください。";
    fill($("search-results"));
    return;
  }
  $("search-status").textContent = "検索中…";
  try {
    const found = await getJson("/search", { q, plan_id: state.plan.id, limit: 50 });
    $("search-status").textContent = `「${q}」の検索結果：${found.total} 件`;
    fill(
      $("search-results"),
      found.items.map((hit) =>
        el(
          "li",
          {},
          el("span", { class: "kind" }, KINDS[hit.kind] || hit.kind),
          " ",
          hit.initiative_id
            ? el("a", { href: `#initiative-${hit.initiative_id}` }, [hit.code, hit.title].filter(Boolean).join(" "))
            : el("span", {}, [hit.code, hit.title].filter(Boolean).join(" ")),
          hit.fiscal_year_label ? el("span", { class: "meta" }, `（${hit.fiscal_year_label}）`) : null,
          hit.snippet && hit.snippet !== hit.title ? el("p", { class: "snippet" }, hit.snippet) : null,
        ),
      ),
    );
  } catch (error) {
    $("search-status").textContent = `検索できませんでした：${error.message}`;
  }
}

// --- Downloads ---------------------------------------------------------------------------

function showDownloads(stats) {
  const plan = state.plan.id;
  const link = (href, text, note) =>
    el("li", {}, el("a", { href }, text), note ? el("span", { class: "meta" }, ` ${note}`) : null);
  const links = [
    link(apiUrl("/export/initiatives.csv", { plan_id: plan }), "取組事項（CSV）", "UTF-8（BOM付き）"),
    link(apiUrl("/export/evaluations.csv", { plan_id: plan }), "評価（CSV）", "UTF-8（BOM付き）"),
    link(apiUrl("/export/initiatives.xlsx", { plan_id: plan }), "取組事項（Excel）"),
    link(apiUrl("/export/evaluations.xlsx", { plan_id: plan }), "評価（Excel）"),
    link(
      apiUrl("/stats/achievement.csv", { plan_id: plan, fiscal_year: stats.fiscal_year }),
      `${stats.fiscal_year_label}の達成率（CSV）`,
      "公表値と計算値",
    ),
    link(apiUrl(`/export/plans/${plan}.zip`), "計画のデータ一式（ZIP）", "CSV・データ辞書・ライセンス"),
  ];
  if (stats.published) {
    const report = `/plans/${plan}/report/${stats.fiscal_year}`;
    links.push(link(report, `${stats.fiscal_year_label}の取組状況（報告書・印刷用）`));
    links.push(link(`${report}.pdf`, `${stats.fiscal_year_label}の取組状況（PDF）`));
  }
  fill($("download-links"), links);
}

// --- Start -------------------------------------------------------------------------------

async function start() {
  const plans = await getAll("/plans");
  if (plans.length === 0) {
    say("計画が登録されていません。");
    return;
  }
  const params = new URLSearchParams(location.search);
  state.plan = plans.find((plan) => String(plan.id) === params.get("plan")) || plans[0];
  showPlan(state.plan);
  showPlanPicker(plans);
  const plan_id = state.plan.id;

  // The years of the plan come from the trend; the year shown first is the one asked for
  // in the URL, else the API's default (the latest evaluated).
  const [trend, policies, measures, initiatives] = await Promise.all([
    getJson("/stats/trend", { plan_id }),
    getAll("/policies", { plan_id }),
    getAll("/measures", { plan_id }),
    getAll("/initiatives", { plan_id }),
  ]);
  showTrend(trend);
  showTree(policies, measures, initiatives);

  const select = $("year");
  fill(select, trend.years.map((year) => el("option", { value: year.fiscal_year }, year.fiscal_year_label)));
  const asked = Number(params.get("year"));
  const known = trend.years.some((year) => year.fiscal_year === asked);
  const year = known ? asked : (await getJson("/stats/achievement", { plan_id })).fiscal_year;
  await loadYear(year);
  select.addEventListener("change", () => {
    say("読み込み中…");
    loadYear(Number(select.value)).then(
      () => say(`${select.selectedOptions[0].textContent}を表示しています。`),
      (error) => say(`読み込めませんでした：${error.message}`),
    );
  });
  $("search-form").addEventListener("submit", search);
  say("");
  document.body.dataset.ready = "true"; // for tests and scripts: everything is drawn
}

start().catch((error) => say(`読み込めませんでした：${error.message}`));
