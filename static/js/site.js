// Site-wide behaviour, loaded as a file because the Content-Security-Policy forbids inline script.
"use strict";

// Copy buttons: <button data-copy-target="#id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copyTarget);
  if (!source) return;
  const text = (source.value ?? source.textContent).trim();
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Confirmations: <form data-confirm="Revoke this key?"> asks before submitting.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// A region that scrolls sideways (a wide table on a phone, a long code line) takes keyboard
// focus, so it can be scrolled without a mouse (WCAG 2.1.1); regions that fit are left alone.
function focusableScrollers(root) {
  for (const region of root.querySelectorAll(".table-wrap, pre, .card")) {
    if (region.scrollWidth > region.clientWidth && !region.hasAttribute("tabindex")) {
      region.setAttribute("tabindex", "0");
    }
  }
}
document.addEventListener("DOMContentLoaded", () => focusableScrollers(document));
document.addEventListener("htmx:afterSettle", (event) => focusableScrollers(event.target));
window.addEventListener("resize", () => focusableScrollers(document));
