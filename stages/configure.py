"""DVC stage: params.yaml, parsed once -> every cell's resolved run configs,
configs/<task>-<length>/<model>.json, every search's plan, configs/search/<task>/<model>.json,
the speed benchmark's configs/speed.json, and configs/execution.json.

A train stage depends on its cell's file rather than on the params sections that make it up: DVC
reruns the cell exactly when its configs change, and its dvc.lock entry is one file hash instead of
every params value (DVC rewrites the whole lock after each stage, so entry length is time).
"""
import time

from rnnbench.process_exit import stage_main
from rnnbench.progress import stage_done
from rnnbench.search.plans import SEARCH_PLANS, SEARCHES, write_search_plans
from rnnbench.speed import write_speed_configs
from rnnbench.study import load_study


def main() -> None:
    start = time.perf_counter()
    study = load_study("params.yaml")
    cells = study.write_configs()
    print(f"configured {cells} cells x {len(study.seeds)} seeds -> configs/")
    SEARCHES.mkdir(exist_ok=True)  # the report stage depends on the folder: it exists when nothing is searched
    write_speed_configs(study)
    searches = write_search_plans(study)
    if searches:
        print(f"planned {searches} critical-length searches -> {SEARCH_PLANS}/")
    stage_done("configure", configure=time.perf_counter() - start)


if __name__ == "__main__":
    stage_main(main)
