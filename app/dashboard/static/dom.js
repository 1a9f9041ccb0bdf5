// A tiny helper to build elements. Text always goes in as text (textContent), never as
// HTML, so nothing the API returns can become markup or script.

const SVG = "http://www.w3.org/2000/svg";

/**
 * el("a", {href: "/docs", class: "x"}, "text", child, ...): a new element.
 * Attributes with the value null, undefined or false are left out; true sets them empty.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

/** The same for SVG elements (charts). */
export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  setAttributes(node, attributes);
  node.append(...children);
  return node;
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
}

/** Replace everything inside a node. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}
