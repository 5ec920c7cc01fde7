/** Formatting of numbers, sizes and times for people (en-US, the app's one language). */

const integer = new Intl.NumberFormat("en-US");
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "short" });

export function formatNumber(value) {
  return value === null || value === undefined ? "–" : integer.format(value);
}

/**
 * A count with its noun in the right number: `plural(1, "row", "rows")` is "1 row",
 * `plural(1200, "row was", "rows were")` is "1,200 rows were". English has two forms, so two
 * strings; the number is formatted like every other count (`formatNumber`).
 */
export function plural(count, singular, pluralForm) {
  return `${formatNumber(count)} ${count === 1 ? singular : pluralForm}`;
}

/**
 * `value` to two significant digits (22,341 → 22,000; 950 stays 950), for a number that is only
 * an estimate: shown to the last digit it would look exact.
 */
export function roughly(value) {
  if (!Number.isFinite(value) || Math.abs(value) < 100) return value;
  const step = 10 ** (Math.floor(Math.log10(Math.abs(value))) - 1);
  return Math.round(value / step) * step;
}

/**
 * An estimated total, rounded as people should read it, or null when it tells no more than the
 * `seen` rows already do (the server never reports fewer than it has shown, plus one).
 */
export function roughTotal(estimate, seen) {
  const rounded = roughly(estimate);
  return estimate > seen + 1 && rounded > seen ? rounded : null;
}

export function formatRate(value) {
  return value === null || value === undefined ? "–" : `${integer.format(Math.round(value))} rows/s`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : decimal.format(value)} ${units[unit]}`;
}

export function formatDateTime(value) {
  if (!value) return "–";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "–" : dateTime.format(date);
}

/** "3 min ago" style, for lists where the exact time is in a title attribute. */
export function formatRelative(value) {
  if (!value) return "–";
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return formatDateTime(value);
}

export function debounce(fn, wait) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
