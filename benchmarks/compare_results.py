"""Compare two results.csv run for run: every column but timings, host and the run folder.

    python benchmarks/compare_results.py OLD.csv NEW.csv

Used to check that a refactoring changed no result (the same machine: fused kernels round
differently on another CPU).
"""
import sys
import pandas as pd
old, new = (pd.read_csv(p) for p in sys.argv[1:3])
SKIP = {"wall_s", "steps_per_s", "finished_at", "run_dir", "host"}
key = ["task", "model", "length", "seed"]
old, new = (f.sort_values(key).reset_index(drop=True) for f in (old, new))
assert len(old) == len(new), (len(old), len(new))
assert (old[key] == new[key]).all().all()
cols = [c for c in old.columns if c not in SKIP]
diff = [(c, i) for c in cols for i in range(len(old))
        if not (pd.isna(old[c][i]) and pd.isna(new[c][i])) and old[c][i] != new[c][i]]
print(f"{len(old)} runs, {len(cols)} columns compared (skipped: {sorted(SKIP)}), {len(diff)} differing values")
for c, i in diff[:20]:
    print(c, old.loc[i, key].tolist(), old[c][i], new[c][i])
print("run_dir old -> new:", old.run_dir[0], "->", new.run_dir[0])
print("host identical:", (old.host == new.host).all())
