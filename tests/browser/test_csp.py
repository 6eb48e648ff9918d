"""The pages work under the Content-Security-Policy: no violation reported, no script error.

Violations are caught twice: the `securitypolicyviolation` event (listened for by an init
script, which CSP does not govern) and Chromium's console message.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers.catalog import sync_catalog
from studio.models import Membership, Role
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""
PAGES = ["/", "/gallery/", "/gallery/mine/", "/gallery/boards/", "/credits/", "/templates/", "/team/",
         "/team/members/", "/team/credits/", "/team/access/", "/team/ledger/", "/team/reports/", "/team/audit/",
         "/settings/api-keys/", "/v1/docs", "/accounts/password_change/"]


def test_pages_work_under_the_policy_without_violations(
    page: Any, live_server: Any, allow_live_host: None, make_member: Any, team: Any, shot: Any
) -> None:
    sync_catalog()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(LISTEN)
    owner = Membership.objects.select_related("user").get(team=team, role=Role.OWNER)
    owner.user.set_password("pw-123-secret")
    owner.user.save()
    sign_in(page, owner)
    seen: dict[str, list[str]] = {}
    for url in PAGES:
        response = page.goto(url)
        assert response is not None and response.status < 400, url
        assert response.headers["content-security-policy"].count("'unsafe-inline'") <= 1  # style only
        page.wait_for_load_state("networkidle")
        seen[url] = page.evaluate("window.__csp")
    shot(page, "last-page")
    # htmx under the policy: choosing another model swaps in that model's options.
    page.goto("/")
    choice = page.locator("#model-list input[type=radio][name=model]:not(:disabled):not(:checked)").last
    slug = choice.get_attribute("value")
    page.locator("#mp-button").click()  # the picker is a popover: open it, then pick
    with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true") as swapped:
        page.locator(f'.mp-opt[data-slug="{slug}"]').click()
    assert swapped.value.status == 200
    assert slug and f"model={slug}" in swapped.value.url
    page.wait_for_load_state("networkidle")
    assert page.locator("#composer-options").count() == 1
    assert page.locator(f"#model-list input[name=model][value='{slug}']").is_checked()
    seen["/ (htmx)"] = page.evaluate("window.__csp")
    shot(page, "composer-after-htmx")
    violations = {url: found for url, found in seen.items() if found}
    assert violations == {} and console == [], (violations, console)
