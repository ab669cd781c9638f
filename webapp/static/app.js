// The one script of the admin (the CSP forbids inline scripts): confirmation before destructive buttons.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
