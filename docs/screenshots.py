"""Make the README's screenshots from real pages, in headless Chromium (Playwright driving a system
Chromium; neither is a dependency of rnnbench):

    python docs/screenshots.py --chromium /usr/bin/chromium

1. `mlflow ui` on the repository's store (the committed default study's runs): experiment
   rnnbench/adding, runs filtered to T=100, grouped by the `model` tag, chart view.
2. The offline `dvc plots show` page (run `dvc plots show` first).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 5055


def wait_for(url: str, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout_s} s")


def experiment_id(base: str, name: str) -> str:
    import json

    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}") as reply:
        return json.load(reply)["experiment"]["experiment_id"]


def mlflow_group_by(page, base: str, out: Path, length: str) -> None:
    """The README's view: one length, runs grouped by model, the val/mse chart (mean over seeds)."""
    eid = experiment_id(base, "rnnbench/adding")
    page.goto(f"{base}/#/experiments/{eid}/runs")
    page.wait_for_timeout(5000)  # the UI polls: it never goes network-idle
    page.get_by_role("button", name="Model training").first.click()
    page.wait_for_timeout(1000)
    close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():
        close.first.click()
    search = page.get_by_placeholder('metrics.rmse < 1 and params.model = "tree"')
    search.fill(f"tags.length = '{length}'")
    search.press("Enter")
    page.wait_for_timeout(2500)
    page.get_by_role("button", name="Group by").first.click()
    page.wait_for_timeout(1000)
    page.get_by_role("menuitemcheckbox", name="model", exact=True).first.click()
    page.wait_for_timeout(1000)
    page.keyboard.press("Escape")
    page.wait_for_timeout(1000)
    page.goto(page.url + ("&" if "?" in page.url else "?") + "compareRunsMode=CHART")  # the Chart view
    page.wait_for_timeout(5000)
    page.get_by_placeholder("Search metric charts").fill("val/mse")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(out), full_page=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="a Chromium or Chrome binary")
    parser.add_argument("--length", default="100", help="the length the MLflow view filters")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    mlflow = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "mlflow") if not mlflow.exists() else str(mlflow), "ui",
                               "--backend-store-uri", f"sqlite:///{ROOT / 'mlflow.db'}", "--host", "127.0.0.1",
                               "--port", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{PORT}"
        wait_for(f"{base}/health")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            mlflow_group_by(page, base, ROOT / "docs" / "img" / "mlflow_group_by_model.png", args.length)
            page.goto((ROOT / "dvc_plots" / "index.html").as_uri())
            page.wait_for_timeout(3000)
            page.screenshot(path=str(ROOT / "docs" / "img" / "dvc_plots_offline.png"), full_page=False)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
