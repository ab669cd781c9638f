// The one script of the admin (the CSP forbids inline scripts): confirmation before destructive
// buttons, the progress of a trial, the menu on a narrow screen, the hints on wide tables
// and the Try it chat.
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

// Try it: the message goes without leaving the page, and while the assistant is typing the page
// asks the server for the conversation each second (the server renders it; the script only puts
// it in place). Without the script the form posts as usual and a reload shows the answer.
const tryForm = document.getElementById("try-form");
if (tryForm) {
  const status = document.getElementById("try-status");
  const box = tryForm.elements.message;
  const fromScript = { "X-Requested-With": "fetch" };
  let timer = null;

  const conversationIn = async (response) => {
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    return page.getElementById("try-conversation");
  };

  const show = (fresh) => {
    const shown = document.getElementById("try-conversation");
    if (!fresh || !shown) {
      return;
    }
    fresh.querySelectorAll(".try-reload").forEach((link) => {
      link.hidden = true;
    });
    const changed = fresh.innerHTML !== shown.innerHTML;
    shown.replaceWith(fresh);
    if (changed && fresh.dataset.status && status.textContent !== fresh.dataset.status) {
      status.textContent = fresh.dataset.status;
    }
    if (changed) {
      tryForm.scrollIntoView({ block: "end" });
    }
  };

  const follow = () => {
    window.clearTimeout(timer);
    const shown = document.getElementById("try-conversation");
    if (!shown || shown.dataset.waiting !== "yes") {
      return;
    }
    timer = window.setTimeout(async () => {
      try {
        const response = await fetch(shown.dataset.poll, { headers: fromScript });
        if (response.ok) {
          show(await conversationIn(response));
        }
      } catch (error) {
        // The server is restarting: ask again at the next tick.
      }
      follow();
    }, 1000);
  };

  tryForm.addEventListener("submit", async (event) => {
    if (!box.value.trim()) {
      return; // the server says what is missing, next to the field
    }
    event.preventDefault();
    const button = tryForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(tryForm.action, {
        method: "POST",
        body: new FormData(tryForm),
        headers: fromScript,
      });
      if (!response.ok) {
        tryForm.submit(); // the page itself shows what went wrong
        return;
      }
      show(await conversationIn(response));
      box.value = "";
      follow();
    } catch (error) {
      tryForm.submit();
    } finally {
      button.disabled = false;
      box.focus();
    }
  });

  // With a keyboard, Enter sends and Shift+Enter starts a new line, as in WhatsApp's own apps.
  if (window.matchMedia("(pointer: fine)").matches) {
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        tryForm.requestSubmit();
      }
    });
  }

  document.querySelectorAll("#try-conversation .try-reload").forEach((link) => {
    link.hidden = true;
  });
  follow();
}
