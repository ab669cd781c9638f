// The one script of the admin (the CSP forbids inline scripts): confirmation before destructive
// buttons, and the progress of a trial.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Settings: each part is a form of its own and its buttons save only that part. What was typed
// in another part would be lost with the page, so the owner is asked first.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !form.matches("form.settings")) {
    return;
  }
  const others = [...document.querySelectorAll("form.settings")].filter((other) => other !== form);
  const changed = others.filter((other) => [...other.elements].some(isChanged));
  const names = changed.map((other) => other.querySelector("h2").textContent).join(" and ");
  const question = `What you changed in ${names} is not saved by this button and will be lost. Go on?`;
  if (changed.length && !window.confirm(question)) {
    event.preventDefault();
  }
});

function isChanged(field) {
  if (field.disabled || ["hidden", "submit", "button"].includes(field.type)) {
    return false;
  }
  if (field.type === "checkbox" || field.type === "radio") {
    return field.checked !== field.defaultChecked;
  }
  if (field.tagName === "SELECT") {
    const chosen = [...field.options].findIndex((option) => option.defaultSelected);
    return field.selectedIndex !== Math.max(chosen, 0);
  }
  return field.value !== field.defaultValue;
}

// A trial in progress: ask how far the worker is each second, and show the page again when
// more answers are in (the server renders the grid; the script only knows when to ask).
const progress = document.querySelector("[data-poll]");
if (progress && progress.dataset.done === "no") {
  const timer = window.setInterval(async () => {
    try {
      const response = await fetch(progress.dataset.poll, { headers: { Accept: "application/json" } });
      if (!response.ok) {
        return;
      }
      const now = await response.json();
      if (now.done || String(now.ended) !== progress.dataset.ended) {
        window.clearInterval(timer);
        window.location.reload();
      }
    } catch (error) {
      // The server is restarting: ask again at the next tick.
    }
  }, 1000);
}
