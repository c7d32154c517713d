"""Screenshots of the web page for the README, taken in the real browser on the real server.

    .venv/bin/python docs/screenshots/take.py

Starts `distributie web` with the embedded Redis and worker in a temporary folder (with a rate
limit, so a run can be seen while it sends), creates the first account through the printed
first-use link, adds colleagues with `distributie users add` (the same Redis while `web` holds
it), walks through a whole run as a secretary would, and writes one PNG per page to
docs/screenshots/. Then, on a second `distributie web` that asks a second person to approve
every run, the run control of issue 11: a proefzending, a start at a set time, approval (and
the creator refused), pause.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import start_chromium  # noqa: E402
from tests.support.web import BIN, start_web, web_env  # noqa: E402

OUT = Path(__file__).resolve().parent
BUNDLED_LIST = ROOT / "recipients" / "midden-nederland.csv"
PASSWORD = "voorbeeld wachtwoord voor de schermafdrukken"
COLLEAGUES = [
    ("j.devries", "medewerker", "j.devries@veiligheidscollege-mn.example"),
    ("p.bakker", "lezer", ""),
    ("m.jansen", "beheerder", "m.jansen@veiligheidscollege-mn.example"),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        # Four a second: the 39 messages take about ten seconds, long enough to be seen.
        env = web_env(None, data_dir=str(work / "data"), rate_limit="4/s")
        web = start_web(env, work)
        driver = start_chromium(work / "profile", language="nl")
        if driver is None:
            web.stop()
            sys.exit("no headless browser: apt-get install chromium chromium-driver")
        try:
            take(driver, web.url, web.first_use_link() or "", env, work)
        finally:
            web.stop()
        # Run control (issue 11) on a page where a second person approves every run.
        control_work = work / "control"
        control_work.mkdir()
        env = web_env(
            None, data_dir=str(control_work / "data"), rate_limit="2/s", require_approval="true"
        )
        web = start_web(env, control_work)
        try:
            run_control(driver, web.url, env, control_work)
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
    accounts(driver, url, link, env, work)
    new_run(driver, url, work)
    following(driver)


def accounts(driver, url: str, link: str, env: dict[str, str], work: Path) -> None:  # type: ignore[no-untyped-def]
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
    submit(driver, "form[data-action=logout] button")
    fill(driver, {"username": "j.devries", "password": PASSWORD})
    submit(driver, "button[data-action=login]")


def broken_list(work: Path) -> Path:
    """The bundled list with the mistakes people make: a wrong address, an unknown aanhef, a
    gemeente twice, and a cell with HTML in it."""
    rows = list(csv.reader(BUNDLED_LIST.open(encoding="utf-8")))
    rows[2][6] = "burgemeester(at)baarn.example"
    rows[4][1] = "burgemeesteres"
    rows[7][0] = "Amersfoort"
    rows[9][5] = "<b>Proef</b>"
    path = work / "ontvangers mei.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows(rows)
    return path


def upload(driver, url: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    driver.get(url + "/nieuw")
    driver.find_element(By.ID, "lijst-upload").click()
    driver.find_element(By.ID, "recipients").send_keys(str(path))
    submit(driver, "form[data-action=upload] button")


def new_run(driver, url: str, work: Path) -> None:  # type: ignore[no-untyped-def]
    driver.get(url + "/")
    submit(driver, "a[data-action=new-run]")
    shot(driver, "11-nieuwe-verzending")
    upload(driver, url, broken_list(work))
    shot(driver, "12-lijst-afgekeurd")
    upload(driver, url, BUNDLED_LIST)
    shot(driver, "13-klaar-om-te-verzenden")
    select = driver.find_element(By.ID, "gemeente")
    select.find_element(By.CSS_SELECTOR, "option[value=soest]").click()
    submit(driver, "form.pick button")
    time.sleep(0.5)  # the HTML part in its frame
    shot(driver, "14-voorbeeld-soest")
    submit(driver, "a[data-action=start]")
    shot(driver, "15-starten-bevestigen")
    submit(driver, "form[data-action=start] button")


def following(driver) -> None:  # type: ignore[no-untyped-def]
    time.sleep(7)  # htmx has updated the page twice: the rate is known, most is sent
    shot(driver, "16-verzending-bezig")
    deadline = time.monotonic() + 60
    while not driver.find_elements(By.CSS_SELECTOR, ".status-line[data-finished=ja]"):
        if time.monotonic() > deadline:
            raise SystemExit("the run did not finish within a minute")
        time.sleep(0.5)
    shot(driver, "17-verzending-klaar")
    submit(driver, "tr[data-gemeente=soest] a")
    fill(driver, {"to": "burgemeester.nieuw@soest.example"})
    shot(driver, "18-ontvanger")
    submit(driver, "form[data-action=resend] button")
    shot(driver, "19-opnieuw-versturen-bevestigen")
    submit(driver, "form[data-action=resend] button")
    time.sleep(2)
    driver.refresh()
    shot(driver, "20-ontvanger-opnieuw-verstuurd")


def log_in(driver, url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    driver.delete_all_cookies()
    driver.get(url + "/inloggen")
    fill(driver, {"username": name, "password": PASSWORD})
    submit(driver, "button[data-action=login]")


def go(driver, css: str) -> None:  # type: ignore[no-untyped-def]
    """Click what leads to a new page, and wait for it. A button in the live part of a run
    page may be swapped for a fresh copy just then: find it again."""
    old = driver.find_element(By.TAG_NAME, "html")
    for _ in range(5):
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()
            break
        except StaleElementReferenceException:
            time.sleep(0.2)
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))


def wait_for(driver, css: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not driver.find_elements(By.CSS_SELECTOR, css):
        if time.monotonic() > deadline:
            raise SystemExit(f"never {css} within {seconds} s")
        time.sleep(0.3)


def run_control(driver, url: str, env: dict[str, str], work: Path) -> None:  # type: ignore[no-untyped-def]
    """A proefzending, a start at a set time, approval by a colleague, pause."""
    for name, role, email in COLLEAGUES:
        command = [str(BIN / "distributie"), "users", "add", name, "--role", role]
        command += ["--password-stdin"] + (["--email", email] if email else [])
        subprocess.run(command, input=PASSWORD, text=True, env=env, cwd=work, check=True)
    checked = url + "/nieuw/veiligheidsstrategie-2019/standaard"
    log_in(driver, url, "j.devries")
    driver.get(checked + "#proef")
    shot(driver, "21-proef-versturen")
    select = driver.find_element(By.ID, "proef-gemeente")
    select.find_element(By.CSS_SELECTOR, "option[value=soest]").click()
    go(driver, "form[data-action=test-send] button")
    wait_for(driver, ".status-line[data-finished=ja]")
    shot(driver, "22-proefzending")
    driver.get(checked)
    go(driver, "a[data-action=start]")
    tomorrow = datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(days=1)
    start_at = driver.find_element(By.ID, "verzenden_op")
    value = tomorrow.strftime("%Y-%m-%dT09:00")
    driver.execute_script("arguments[0].value = arguments[1]", start_at, value)
    shot(driver, "23-starten-op-een-tijd")
    go(driver, "form[data-action=start] button")
    shot(driver, "24-wacht-op-goedkeuring")
    scheduled = driver.current_url
    driver.get(scheduled + "/goedkeuren")
    shot(driver, "25-eigen-verzending-goedkeuren")
    log_in(driver, url, "m.jansen")
    driver.get(scheduled)
    go(driver, "a[data-action=approve]")
    shot(driver, "26-goedkeuren-bevestigen")
    go(driver, "form[data-action=approve] button")
    shot(driver, "27-gepland-goedgekeurd")
    driver.get(checked)
    go(driver, "a[data-action=start]")
    go(driver, "form[data-action=start] button")
    now = driver.current_url
    log_in(driver, url, "j.devries")
    driver.get(now)
    go(driver, "a[data-action=approve]")
    go(driver, "form[data-action=approve] button")
    time.sleep(6)  # a dozen sent, the rest to come
    go(driver, "a[data-action=pause]")
    shot(driver, "28-pauzeren-bevestigen")
    go(driver, "form[data-action=pause] button")
    time.sleep(2)  # what was being sent is finished
    driver.refresh()
    shot(driver, "29-gepauzeerd")
    driver.get(url + "/")
    shot(driver, "30-verzendingen-standen")


if __name__ == "__main__":
    main()
