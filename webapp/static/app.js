// The one script of the admin (the CSP forbids inline scripts): confirmation before destructive
// buttons, and the progress of a trial.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

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
