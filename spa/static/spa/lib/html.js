/**
 * The one way markup is built in this app: the `html` tagged template escapes every
 * interpolated value unless it is itself the result of `html` (or a list of such results).
 * A product named `<img src=x onerror=alert(1)>` therefore renders as text, everywhere.
 */

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** Markup that is already safe: produced by `html`, never by string concatenation. */
export class SafeHTML {
  constructor(value) {
    this.value = value;
  }

  toString() {
    return this.value;
  }
}

export function escapeHTML(value) {
  return String(value).replace(/[&<>"'`]/g, (char) => ESCAPES[char]);
}

function interpolate(value) {
  // null/undefined/false render nothing, so `${cond && html`…`}` reads naturally.
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHTML) return value.value;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  return escapeHTML(value);
}

export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, index) => {
    out += interpolate(value) + strings[index + 1];
  });
  return new SafeHTML(out);
}

/** Replace `target`'s content with a template (plain strings are escaped, never parsed). */
export function render(target, template) {
  target.innerHTML = template instanceof SafeHTML ? template.value : escapeHTML(template ?? "");
}
