"""The browser tests' shared steps: signing in, and what every page must pass at any width."""

from tests.conftest import ADMIN_PASSWORD

# Whatever sticks out past the right edge of the viewport and is not inside a box that scrolls
# sideways on its own; and each such box that does scroll, with whether its hint is shown.
_MEASURE = """() => {
  const edge = window.innerWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  // Text for screen readers only: clipped to a pixel, however wide it would be.
  const unseen = (el) => getComputedStyle(el).overflow === 'hidden'
    && el.getBoundingClientRect().width <= 1;
  const describe = (el) => {
    const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50);
    const classes = el.classList.length ? '.' + [...el.classList].join('.') : '';
    return `<${el.tagName.toLowerCase()}${classes}> "${text}"`;
  };
  const sticking = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= edge + 0.5) continue;
    let holder = el.parentElement;
    while (holder && !scrolls(holder) && !unseen(holder)) holder = holder.parentElement;
    if (!holder) sticking.push(`${describe(el)} ends at ${Math.round(box.right)} px`);
  }
  const boxes = [...document.body.querySelectorAll('*')]
    .filter((el) => scrolls(el) && el.scrollWidth > el.clientWidth + 1)
    .map((el) => {
      const hint = el.closest('.scroll-box')?.querySelector('.scroll-hint');
      return {box: describe(el), hinted: !!hint && hint.checkVisibility()};
    });
  return {pageWidth: document.documentElement.scrollWidth, edge, sticking, boxes};
}"""


def sign_in(page, live_server):
    page.goto(f"{live_server}/admin/settings")
    page.fill("#username", "owner")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")


def misfits(page) -> list[str]:
    """Why the page does not fit its window, one line each; none when the page never scrolls
    sideways, nothing sticks out past the right edge, and every box that scrolls on its own
    shows its hint."""
    measured = page.evaluate(_MEASURE)
    found = []
    if measured["pageWidth"] > measured["edge"]:
        found.append(
            f"the page is {measured['pageWidth']} px wide in a {measured['edge']} px window"
        )
    found += [f"past the right edge: {where}" for where in measured["sticking"]]
    found += [
        f"scrolls sideways without a hint: {b['box']}" for b in measured["boxes"] if not b["hinted"]
    ]
    return found


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
