// Card preview: accept (a suggestion) and override buttons send CDS Hooks 2.0 feedback to the service.
"use strict";

function feedbackItem(card, button) {
  const item = {card: card.dataset.card, outcome: button.dataset.outcome, outcomeTimestamp: new Date().toISOString()};
  if (item.outcome === "accepted") {
    item.acceptedSuggestions = [{id: button.dataset.suggestion}];
    return item;
  }
  const reason = card.querySelector(".override-reason");
  const comment = card.querySelector(".override-comment").value.trim();
  const overrideReason = {};
  if (reason) {
    const option = reason.selectedOptions[0];
    overrideReason.reason = {system: option.dataset.system, code: option.value, display: option.textContent};
  }
  if (comment) overrideReason.userComment = comment;
  if (Object.keys(overrideReason).length) item.overrideReason = overrideReason;
  return item;
}

async function sendFeedback(card, button) {
  const url = document.querySelector("main").dataset.feedbackUrl;
  const body = {feedback: [feedbackItem(card, button)]};
  const status = card.querySelector(".feedback-status");
  status.textContent = "Sending feedback…";
  try {
    const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
    const answer = await response.json();
    log(body, response.status, answer);
    status.textContent = response.ok
      ? `${body.feedback[0].outcome} — stored ${answer.stored}, duplicates ${answer.duplicates}`
      : `Feedback refused (HTTP ${response.status})`;
    status.dataset.state = response.ok ? "stored" : "error";
  } catch (error) {
    status.textContent = `Feedback not sent: ${error}`;
    status.dataset.state = "error";
  }
}

function log(body, httpStatus, answer) {
  const pre = document.querySelector("#feedback-log pre");
  pre.textContent += `${JSON.stringify(body)}\n→ HTTP ${httpStatus} ${JSON.stringify(answer)}\n`;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-outcome]");
  if (button) sendFeedback(button.closest("[data-card]"), button);
});
