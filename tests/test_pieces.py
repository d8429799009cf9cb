"""A study run in pieces (`make long-piece`): its pieces.log becomes reports/pieces.csv and one line of
the report, pauses left out, and a killed piece is never given a time it did not log; a report written
between pieces is a snapshot and says so, search by search."""
import math

import pandas as pd
import pytest

from rnnbench.cli import main
from rnnbench.config import ConfigError
from rnnbench.report.markdown import findings, reading
from rnnbench.report.pieces import pieces_line, pieces_table
from rnnbench.report.tables import CONTRAST_COLUMNS, UNFINISHED, critical_lengths

LOG = """piece start 2026-12-06T09:00:00Z commit aaaaaaa
paused 2026-12-06T09:30:00Z
resumed 2026-12-06T09:45:00Z
paused 2026-12-06T10:00:00Z
piece start 2026-12-06T11:00:00Z commit bbbbbbb
piece end 2026-12-06T12:30:00Z rc 0
piece start 2026-12-06T13:00:00Z commit ccccccc
piece start 2026-12-06T14:00:00Z commit ccccccc
"""


def test_each_piece_runs_from_its_start_to_its_end_with_its_pauses_left_out(tmp_path):
    (tmp_path / "pieces.log").write_text(LOG)
    pieces = pieces_table(tmp_path)
    assert list(pieces["piece"]) == [1, 2, 3, 4] and list(pieces["commit"]) == ["aaaaaaa", "bbbbbbb", "ccccccc",
                                                                                "ccccccc"]
    killed_paused, whole = pieces.iloc[0], pieces.iloc[1]
    # killed while paused: it ran 30 + 15 min, until its last pause, and its end was not logged
    assert killed_paused["running_s"] == 45 * 60 and killed_paused["paused_s"] == 15 * 60
    assert killed_paused["ended"] == pd.Timestamp("2026-12-06T10:00:00Z") and not killed_paused["end_logged"]
    assert whole["running_s"] == 90 * 60 and whole["rc"] == 0 and whole["end_logged"] and whole["pauses"] == 0
    # killed while running (piece 3) and still running (piece 4): no time is claimed for either
    assert math.isnan(pieces.iloc[2]["running_s"]) and math.isnan(pieces.iloc[3]["running_s"])
    assert pieces_line(pieces).startswith("This study ran in 4 piece(s) from 2026-12-06 09:00 UTC, at least "
                                          "2.2 h of running time (2 piece(s) ended unlogged and uncounted)")


def test_a_study_run_whole_has_no_pieces_and_no_line(tmp_path):
    assert pieces_table(tmp_path).empty and pieces_line(pieces_table(tmp_path)) == ""


@pytest.mark.parametrize("bad, named", [("piece begin 2026-12-06T09:00:00Z", "line 2"),
                                        ("paused 2026-12-06T08:00:00Z", "line 2 goes back in time")])
def test_a_corrupt_log_is_refused_naming_its_line_and_the_forms_it_allows(tmp_path, bad, named):
    (tmp_path / "pieces.log").write_text(f"piece start 2026-12-06T09:00:00Z commit aaaaaaa\n{bad}\n")
    with pytest.raises(ConfigError, match=named):
        pieces_table(tmp_path)


def test_the_report_command_refuses_a_corrupt_log_with_exit_2_before_it_writes(tmp_path, capsys):
    (tmp_path / "pieces.log").write_text("resumed 2026-12-06T09:00:00Z\n")
    assert main(["report", "--params", "studies/tiny.yaml", "--root", str(tmp_path)]) == 2
    assert "pieces.log" in capsys.readouterr().err and not (tmp_path / "reports").exists()


def searched(rows, finished):
    return pd.DataFrame([{"task": "adding", "model": "lstm", "length": n, "seeds": 5, "completed": 5,
                          "solved": s, "solved_fraction": s / 5, "budget_limited": False, "lr": 0.01, "lr_at_bound": False,
                          "finished": finished} for n, s in rows])


def test_a_search_still_running_reads_as_so_far_never_as_having_reached_its_cap():
    empty = pd.DataFrame(columns=["task", "model", "length"])
    running = critical_lengths(empty, searched([(50, 5), (100, 5)], finished=False)).iloc[0]
    assert running["source"] == UNFINISHED
    assert reading(running) == "≥ 100 (solves the longest length tested: the search is still running)"
    done = critical_lengths(empty, searched([(50, 5), (100, 5)], finished=True)).iloc[0]
    assert reading(done) == "≥ 100 (solves the longest length tested: the search reached its cap first)"
    bracket = critical_lengths(empty, searched([(50, 5), (100, 1)], finished=False)).iloc[0]
    assert reading(bracket).startswith("50") and reading(bracket).endswith("(so far: the search is still running)")


def test_findings_open_with_how_many_searches_are_still_running_and_none_when_all_are_done():
    from rnnbench.study import load_study

    study = load_study("studies/tiny.yaml")
    empty = pd.DataFrame(columns=["task", "model", "length", "lr_source"])
    pairs = pd.DataFrame(columns=CONTRAST_COLUMNS)
    both = pd.concat([critical_lengths(empty, searched([(2, 5), (4, 5)], finished=False)),
                      critical_lengths(empty, searched([(2, 5), (4, 1)], finished=True).assign(model="rnn"))])
    assert findings(both, empty, pairs, study).startswith(
        "- **A snapshot**: 1 of the study's 2 searches are still running")
    assert "snapshot" not in findings(both.assign(source="search"), empty, pairs, study)
