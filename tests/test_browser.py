"""A real browser (Debian's chromium, headless, driven by Playwright) uses the Space like a visitor,
at a desktop width and a phone's."""
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT

SAMPLE = ROOT / "tests" / "data" / "samples" / "gan-pixelshuffle--coffee.png"
SCREENSHOTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DESKTOP, PHONE = {"width": 1400, "height": 1000}, {"width": 390, "height": 844}
# one headline per verdict (runtime.verdict.headline)
HEADLINES = re.compile("Looks like a camera photo|Made by |A generator's trace|Inconclusive: ")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium missing: scripts/test.sh installs it with apt-get")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        yield browser
        browser.close()


def open_page(browser, app_url, viewport):
    page = browser.new_context(accept_downloads=True, viewport=viewport).new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    return page


def test_attribute_fingerprint_and_anonymize_in_a_browser(browser, app_url, tmp_path):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page = open_page(browser, app_url, DESKTOP)
    expect(page.locator("#scope")).to_be_in_viewport()  # what it knows, and what it has never seen
    expect(page.locator("#scope")).to_contain_text("never seen")
    page.locator("input[type=file]").first.set_input_files(str(SAMPLE))
    page.locator("img").first.wait_for()
    page.get_by_role("button", name="Attribute", exact=True).click()
    expect(page.locator("h3").filter(has_text=HEADLINES).first).to_be_visible()
    bars = page.locator(".prob-name")
    expect(bars).to_have_count(10)
    assert "GAN decoder, transposed conv (seed 0)" in bars.all_inner_texts()  # full names, never cut
    page.screenshot(path=str(SCREENSHOTS / "attribute.png"), full_page=True)

    # each button shows its own result: no tab to click first
    page.get_by_role("button", name="Fingerprint", exact=True).click()
    expect(page.get_by_role("tab", name="Fingerprint")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel").get_by_role("link", name="Download")).to_have_count(3)
    page.screenshot(path=str(SCREENSHOTS / "fingerprint.png"), full_page=True)

    page.get_by_role("button", name="Anonymize", exact=True).click()
    expect(page.get_by_role("tab", name="Anonymize")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("SSIM")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "anonymize.png"), full_page=True)
    with page.expect_download() as download_info:  # the gr.File link reads "<size> KB"
        page.get_by_role("tabpanel").get_by_role("row", name=re.compile("anonymized.png")).get_by_role("link").click()
    target = tmp_path / "download.png"
    download_info.value.save_as(target)
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == Image.open(SAMPLE).size
        assert not image.info and not image.getexif()


def test_a_captioned_example_on_a_phone_answers_right_below_the_button(browser, app_url):
    from playwright.sync_api import expect

    examples = json.loads((ROOT / "examples" / "examples.json").read_text())
    pick = next(k for k, e in enumerate(examples) if e["caption"] == "A camera photo")
    page = open_page(browser, app_url, PHONE)
    gallery = page.locator("#examples")
    expect(gallery).to_contain_text("Made by GAN decoder, transposed conv (seed 0)")  # what made each one
    gallery.get_by_role("button").nth(pick).click()
    page.locator("img").first.wait_for()
    button = page.get_by_role("button", name="Attribute", exact=True)
    button.click()
    headline = page.locator("h3").filter(has_text=HEADLINES).first
    expect(headline).to_be_visible()
    # the answer is the first thing below the buttons, not past a gallery of thumbnails
    assert 0 < headline.bounding_box()["y"] - button.bounding_box()["y"] < 400
    page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)
