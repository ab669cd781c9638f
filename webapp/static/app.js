// The one script of the admin (the CSP forbids inline scripts): confirmation before destructive
// buttons, the progress of a trial, the menu on a narrow screen, and the hints on wide tables.
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

// The menu on a narrow screen: the button opens and closes the links (the stylesheet hides them
// while the button says it is closed). Without this script the button stays hidden and the
// links are always shown.
const menuButton = document.querySelector(".menu-button");
if (menuButton) {
  const setOpen = (open) => menuButton.setAttribute("aria-expanded", String(open));
  menuButton.hidden = false;
  menuButton.addEventListener("click", () => {
    setOpen(menuButton.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menuButton.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      menuButton.focus();
    }
  });
}

// A table wider than its box scrolls in it; the hint above says so only while it does not fit.
const scrollBoxes = document.querySelectorAll(".scroll-box");
const hintWhereTablesScroll = () => {
  for (const box of scrollBoxes) {
    const scroller = box.querySelector(".table-scroll");
    box.querySelector(".scroll-hint").hidden = scroller.scrollWidth <= scroller.clientWidth + 1;
  }
};
if (scrollBoxes.length) {
  hintWhereTablesScroll();
  window.addEventListener("resize", hintWhereTablesScroll);
  window.addEventListener("load", hintWhereTablesScroll); // photos in a table widen it
}
