"""A real browser (Debian's chromium, headless, driven by Playwright) uses the Space like a visitor."""
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "samples" / "gan-pixelshuffle--coffee.png"
SCREENSHOTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium missing: scripts/test.sh installs it with apt-get")


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app_url)
        page.locator("input[type=file]").first.set_input_files(str(SAMPLE))
        page.locator("img").first.wait_for()
        yield page
        browser.close()


def test_attribute_fingerprint_and_anonymize_in_a_browser(page, tmp_path):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page.get_by_role("button", name="Attribute", exact=True).click()
    # one headline per verdict (runtime.verdict.headline)
    verdicts = re.compile("Looks like a camera photo|Made by |A generator's trace|Inconclusive: ")
    heading = page.locator("h3").filter(has_text=verdicts)
    expect(heading.first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "attribute.png"), full_page=True)

    page.get_by_role("tab", name="Fingerprint").click()
    page.get_by_role("button", name="Fingerprint", exact=True).click()
    # the fingerprint, residual and spectrum pictures, each with its download link
    expect(page.get_by_role("tabpanel").get_by_role("link", name="Download")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "fingerprint.png"), full_page=True)

    page.get_by_role("tab", name="Anonymize").click()
    page.get_by_role("button", name="Anonymize", exact=True).click()
    expect(page.get_by_text("SSIM")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "anonymize.png"), full_page=True)
    with page.expect_download() as download_info:  # the gr.File link reads "<size> KB"
        page.get_by_role("tabpanel").get_by_role("row", name=re.compile("anonymized.png")).get_by_role("link").click()
    target = tmp_path / "download.png"
    download_info.value.save_as(target)
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == Image.open(SAMPLE).size
        assert not image.info and not image.getexif()
