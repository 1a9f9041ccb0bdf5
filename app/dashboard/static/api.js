// Reading the public API. Every request goes to this page's own origin (/api/v1/...), so
// the page works behind any host name and sends nothing anywhere else.

const API = "/api/v1";

/** An error the API answered (application/problem+json): its status and its detail. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

/** The URL of an API path with its query parameters (null and undefined ones left out). */
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const text = query.toString();
  return `${API}${path}${text ? "?" + text : ""}`;
}

/** GET one JSON answer; a 4xx/5xx becomes an ApiError carrying the problem's detail. */
export async function getJson(path, params = {}) {
  const answer = await fetch(apiUrl(path, params), { headers: { Accept: "application/json" } });
  if (!answer.ok) {
    let detail = "";
    try {
      detail = (await answer.json()).detail; // problem+json (RFC 9457)
    } catch {
      // not JSON: keep the status alone
    }
    throw new ApiError(answer.status, detail);
  }
  return answer.json();
}

/** Every item of a list, page after page ({"items", "total", "limit", "offset"}). */
export async function getAll(path, params = {}) {
  const limit = 500; // the largest page the API gives
  const items = [];
  for (let offset = 0; ; offset += limit) {
    const page = await getJson(path, { ...params, limit, offset });
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return items;
  }
}
