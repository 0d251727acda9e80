// Keys page: keep each retiring key's "works for … more" current without a reload.
"use strict";

function describeTimeLeft(milliseconds) {
  if (milliseconds <= 0) return "stopped working";
  const minutes = Math.ceil(milliseconds / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  const parts = [];
  if (days) parts.push(`${days} day${days === 1 ? "" : "s"}`);
  if (hours) parts.push(`${hours} hour${hours === 1 ? "" : "s"}`);
  if (!days && rest) parts.push(`${rest} minute${rest === 1 ? "" : "s"}`);
  return `works for ${parts.join(", ")} more`;
}

function refreshTimesLeft() {
  for (const element of document.querySelectorAll("[data-ends-at]")) {
    const endsAt = Date.parse(element.dataset.endsAt);
    if (!Number.isNaN(endsAt)) element.textContent = describeTimeLeft(endsAt - Date.now());
  }
}

document.addEventListener("DOMContentLoaded", refreshTimesLeft);
document.addEventListener("htmx:afterSettle", refreshTimesLeft);
setInterval(refreshTimesLeft, 30000);
