/**
 * Which words of a row a search matched, marked in the browser from the search box's text.
 *
 * It reads the text the way the server does (catalog/search.py and migration 0007): accents
 * folded and letter case ignored, words split at anything that is not a letter or digit, words
 * after a `-` excluded, and the last word a prefix while it is being typed (not quoted, not
 * excluded, ending in a letter or digit). A word of the row is marked when its folded form is one
 * of the searched words, or starts with the last one. Marks are built with `html`, so the row's
 * own text stays escaped.
 */

import { html } from "./html.js";

// The Latin letters that NFKD does not decompose, spelled out as the server folds them (catalog_search_fold,
// or unaccent where PostgreSQL has it: migration 0009; both agree on these letters).
const SPELLED = { "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "TH", "þ": "th",
  "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ł": "L", "ł": "l", "Ħ": "H", "ħ": "h", "ı": "i", "Ð": "D", "ð": "d" };
const SPELLED_PATTERN = new RegExp(`[${Object.keys(SPELLED).join("")}]`, "g");
const WORD = /[\p{L}\p{N}\p{M}]+/gu;

/** `text` folded as the server folds it: no accents, lower case. */
export function fold(text) {
  return String(text)
    .replace(SPELLED_PATTERN, (letter) => SPELLED[letter])
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase();
}

function wordsOf(text) {
  return fold(text).match(WORD) || [];
}

/**
 * The words a search's text looks for: `{words: Set, prefix: string | null}` (`prefix`: the last
 * word, still being typed). Excluded words are left out: a row never shows them.
 */
export function searchedWords(text) {
  const value = String(text || "").trim();
  const words = new Set();
  let prefix = null;
  // Quoted phrases and bare words; a leading "-" outside quotes excludes the word.
  const tokens = value.match(/-?"[^"]*"?|[^\s"]+/g) || [];
  tokens.forEach((token) => {
    if (token.startsWith("-")) return;
    wordsOf(token).forEach((word) => words.add(word));
  });
  const last = tokens[tokens.length - 1] || "";
  const quotes = (value.match(/"/g) || []).length;
  if (last && !last.startsWith("-") && quotes % 2 === 0 && /[\p{L}\p{N}]$/u.test(value)) {
    const parts = wordsOf(last);
    prefix = parts[parts.length - 1] || null;
  }
  return { words, prefix };
}

/** `text` as markup with every word the search matched in a `<mark>`. */
export function highlight(text, { words, prefix } = { words: new Set(), prefix: null }) {
  const value = String(text ?? "");
  if (!words.size && !prefix) return html`${value}`;
  const pieces = [];
  let at = 0;
  for (const match of value.matchAll(WORD)) {
    const folded = fold(match[0]);
    if (words.has(folded) || (prefix && folded.startsWith(prefix))) {
      pieces.push(html`${value.slice(at, match.index)}<mark>${match[0]}</mark>`);
      at = match.index + match[0].length;
    }
  }
  pieces.push(html`${value.slice(at)}`);
  return html`${pieces}`;
}
