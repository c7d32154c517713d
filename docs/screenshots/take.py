"""Screenshots of the web page for the README, taken in the real browser on the real server.

    .venv/bin/python docs/screenshots/take.py

Starts `distributie web` with the embedded Redis in a temporary folder, creates the first
account through the printed first-use link, adds colleagues with `distributie users add` (the
same Redis while `web` holds it), and writes one PNG per page to docs/screenshots/.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import start_chromium  # noqa: E402
from tests.support.web import BIN, start_web, web_env  # noqa: E402

OUT = Path(__file__).resolve().parent
PASSWORD = "voorbeeld wachtwoord voor de schermafdrukken"
COLLEAGUES = [
    ("j.devries", "medewerker", "j.devries@veiligheidscollege-mn.example"),
    ("p.bakker", "lezer", ""),
    ("m.jansen", "beheerder", "m.jansen@veiligheidscollege-mn.example"),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = web_env(None, data_dir=str(work / "data"))
        web = start_web(env, work)
        driver = start_chromium(work / "profile")
        if driver is None:
            web.stop()
            sys.exit("no headless browser: apt-get install chromium chromium-driver")
        try:
            take(driver, web.url, web.first_use_link() or "", env, work)
        finally:
            driver.quit()
            web.stop()


def shot(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    """The whole page, however long, 1280 pixels wide."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": 1280, "height": max(720, height), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.save_screenshot(str(OUT / f"{name}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print(f"wrote docs/screenshots/{name}.png")


def fill(driver, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for field, value in values.items():
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)


def submit(driver, css: str) -> None:  # type: ignore[no-untyped-def]
    driver.find_element(By.CSS_SELECTOR, css).click()


def take(driver, url: str, link: str, env: dict[str, str], work: Path) -> None:  # type: ignore[no-untyped-def]
    driver.get(url + "/inloggen")
    shot(driver, "01-inloggen-nog-geen-account")
    driver.get(link)
    shot(driver, "02-eerste-account")
    fill(driver, {"username": "secretariaat", "password": "te kort", "password_repeat": "te kort"})
    submit(driver, "button[data-action=create-first-account]")
    shot(driver, "03-eerste-account-fout")
    fill(driver, {"password": PASSWORD, "password_repeat": PASSWORD})
    fill(driver, {"email": "secretariaat@veiligheidscollege-mn.example"})
    submit(driver, "button[data-action=create-first-account]")
    shot(driver, "04-verzendingen-welkom")
    for name, role, email in COLLEAGUES:
        command = [str(BIN / "distributie"), "users", "add", name, "--role", role]
        command += ["--password-stdin"] + (["--email", email] if email else [])
        subprocess.run(command, input=PASSWORD, text=True, env=env, cwd=work, check=True)
    driver.get(url + "/gebruikers")
    shot(driver, "05-gebruikers")
    driver.find_element(By.CSS_SELECTOR, "tr[data-account='p.bakker'] a").click()
    shot(driver, "06-gebruiker-verwijderen")
    submit(driver, "form[data-action=logout] button")
    shot(driver, "07-uitgelogd")
    fill(driver, {"username": "p.bakker", "password": "niet het goede wachtwoord"})
    submit(driver, "button[data-action=login]")
    shot(driver, "08-inloggen-fout")
    fill(driver, {"username": "p.bakker", "password": PASSWORD})
    submit(driver, "button[data-action=login]")
    driver.get(url + "/gebruikers")
    shot(driver, "09-geen-toegang")
    driver.get(url + "/")
    for _ in range(4):  # skip link, name, menu, then the logout button: the keyboard focus
        ActionChains(driver).send_keys(Keys.TAB).perform()
    shot(driver, "10-toetsenbord-focus")


if __name__ == "__main__":
    main()
