// A small DOM helper shared by the staff app, the kiosk and the manager view's scripts.

/** An element with attributes, listeners (`on...`) and children; false and null are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'svg') el.innerHTML = value; // only ever our own drawing
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...present(...children.flat(Infinity)));
  return el;
}

/** The nodes that are there: drops null, undefined and false. */
export const present = (...nodes) => nodes.filter((node) => node !== null && node !== undefined && node !== false);

/** Replace an element's children, keeping the focused element's id focused if it comes back. */
export function replace(container, nodes) {
  const focused = document.activeElement && document.activeElement.id;
  container.replaceChildren(...present(...nodes));
  if (focused && container.contains(document.getElementById(focused))) {
    document.getElementById(focused).focus();
  }
}
