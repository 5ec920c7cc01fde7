/** Copying to the clipboard, for tokens, secrets and commands the person pastes elsewhere. */

/** Copy text; falls back to a selected textarea where the Clipboard API is unavailable (plain http). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "visually-hidden";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("Copying is not allowed here; select the text and copy it yourself.");
}
