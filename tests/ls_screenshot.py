"""A screenshot of one task in Label Studio's labelling page (plots/label_studio/review_task.png came from it).

Not a test and not in any venv the project pins: it needs Playwright's Python package and a
Chromium, for example Debian's (`apt-get install chromium`; Playwright's own browser download
is not needed):

    python3.11 -m venv /tmp/pw && /tmp/pw/bin/pip install playwright
    /tmp/pw/bin/python tests/ls_screenshot.py http://127.0.0.1:8080 ana@example.com PASSWORD 1 1 out.png
"""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="Label Studio, e.g. http://127.0.0.1:8080")
    p.add_argument("email")
    p.add_argument("password")
    p.add_argument("project", type=int)
    p.add_argument("task", type=int)
    p.add_argument("out", help="PNG to write")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (default: Debian's chromium)")
    args = p.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{args.url}/user/login/")
        page.fill("input[name=email]", args.email)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{args.url}/projects/{args.project}/data?task={args.task}")
        page.wait_for_selector("text=Submit", timeout=60_000)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)  # the image fades in after the page settles
        page.screenshot(path=args.out)
        browser.close()


if __name__ == "__main__":
    main()
