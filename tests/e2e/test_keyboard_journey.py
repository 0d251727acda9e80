"""In Chromium, with the keyboard alone (Tab, Enter, Space and typing): sign up → verify →
create a key → copy it → read the docs. At every Tab the focused element shows a visible focus
indicator, and on every page of the journey Tab goes through every control and out again: no
element holds the focus (no keyboard trap) and none is skipped."""

from __future__ import annotations

import re
import uuid

import pytest

from catalog.models import Plan, PlanProduct
from tests.gateway.support import make_product
from tests.onboarding.test_continuity import confirmation_link, mail_folder

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
__all__ = ["mail_folder"]  # a fixture used here
PASSWORD = "Correct-Horse-Battery-9"
MAX_TABS = 150
SEGMENTS = 8  # the most Tab stops one control may have (a date-time field has 5 or 6)

# What the focused element looks like: its name, and whether a focus indicator shows (an
# outline or a box shadow drawn for the focus, on an element with a size).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  if (!el.dataset.kbd) el.dataset.kbd = String(window.kbdSeen = (window.kbdSeen || 0) + 1);
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "none";
  const box = el.getBoundingClientRect();
  return {
    id: el.dataset.kbd,
    name: (el.getAttribute("aria-label") || el.innerText || el.value || el.name || el.tagName)
      .trim().replace(/\\s+/g, " ").slice(0, 60),
    indicated: (outline || shadow) && box.width > 0 && box.height > 0,
  };
}"""

# Every control a keyboard user should reach on this page.
TABBABLE = """() => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]")]
  .filter(el => !el.disabled && el.tabIndex >= 0 && el.checkVisibility({visibilityProperty: true}))
  .length"""


@pytest.fixture
def catalog(db):
    free = Plan.objects.create(slug="free", name="Free", is_default=True, requests_per_period=1000)
    PlanProduct.objects.create(plan=free, product=make_product())


class Keyboard:
    def __init__(self, page) -> None:
        self.page = page
        self.unindicated: list[str] = []

    def focused(self) -> dict | None:
        now = self.page.evaluate(FOCUSED)
        if now is not None and not now["indicated"]:
            self.unindicated.append(f"{self.page.url}: {now['name']}")
        return now

    def tab(self) -> dict | None:
        self.page.keyboard.press("Tab")
        return self.focused()

    def tab_to(self, name: str) -> None:
        """Tab until the focused element's name starts with `name` (never clicking)."""
        for _ in range(MAX_TABS):
            now = self.tab()
            if now is not None and now["name"].startswith(name):
                return
        raise AssertionError(f"Tab never reached {name!r} on {self.page.url}")

    def walk_the_page(self) -> None:
        """Tab from the top of the page through every control and out of the page again."""
        self.to_the_top()
        expected = self.page.evaluate(TABBABLE)
        seen: list[str] = []
        stay = 0
        for _ in range(MAX_TABS):
            now = self.tab()
            if now is None or (seen and now["id"] == seen[0]):
                break  # out of the page, or round to the first control again
            if seen and now["id"] == seen[-1]:
                # A date-time field takes a Tab per part (day, month, year, hours, minutes).
                stay += 1
                assert stay < SEGMENTS, f"focus stays on {now['name']!r} ({self.page.url})"
                continue
            stay = 0
            assert now["id"] not in seen, f"focus trapped on {self.page.url} at {now['name']!r}"
            seen.append(now["id"])
        else:
            raise AssertionError(f"Tab never left {self.page.url}")
        assert len(seen) == expected, f"{self.page.url}: {len(seen)} of {expected} reached"
        self.to_the_top()

    def to_the_top(self) -> None:
        """Where a page starts: the next Tab goes to its first control (the skip link)."""
        self.page.evaluate(
            """() => {
              document.body.tabIndex = -1;
              document.body.focus();
              document.body.removeAttribute("tabindex");
            }"""
        )

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)


def test_sign_up_to_docs_with_the_keyboard_alone(
    live_server, mail_folder, browser, catalog, settings, redis_db
):
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    keys = Keyboard(page)
    email = f"kay-{uuid.uuid4().hex[:8]}@example.com"

    page.goto("/")
    keys.walk_the_page()
    keys.tab_to("Sign up")
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/signup/")
    keys.walk_the_page()
    keys.tab_to("email")  # the first field of the form (named by its input's name)
    keys.type(email)
    keys.tab_to("password1")
    keys.type(PASSWORD)
    keys.tab_to("password2")
    keys.type(PASSWORD)
    keys.tab_to("Sign Up")  # the form's submit button (the header's link says "Sign up")
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/confirm-email/")

    page.goto(confirmation_link(mail_folder))  # opened from the mail client
    keys.walk_the_page()
    keys.tab_to("Confirm")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/a/[^/]+/$"))  # the account's dashboard
    keys.walk_the_page()
    keys.tab_to("Keys")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/a/[^/]+/keys/$"))
    keys.walk_the_page()
    keys.tab_to("name")
    keys.type("Laptop")
    keys.tab_to("Create key")
    page.keyboard.press("Enter")
    raw = page.get_by_test_id("raw-key").inner_text()  # waits for the panel htmx swaps in
    assert raw.startswith("tg_live_")
    keys.tab_to("Copy key")
    page.keyboard.press("Space")
    page.wait_for_function("() => document.activeElement.innerText === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    keys.walk_the_page()
    keys.tab_to("Docs")
    page.keyboard.press("Enter")
    page.wait_for_url("**/docs/")
    assert page.locator("h1").first.is_visible()
    keys.walk_the_page()

    assert keys.unindicated == []
    assert problems == []
    context.close()
