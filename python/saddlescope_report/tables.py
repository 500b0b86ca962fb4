"""Figure 6 and the page's tables: run facts, the optimizer comparison, the census.

Each function returns (caption, header, rows) with rows of already formatted
strings, or None when the run holds no such data; html.py renders them.
"""

import os

import numpy as np

from .rundir import CLASSES, number, quantile_fields
from .style import fmt_num


def _params(table, skip):
    out = []
    for k, v in table.items():
        if k in skip or isinstance(v, dict):
            continue
        if isinstance(v, list):
            v = "[" + ", ".join(fmt_num(x) if isinstance(x, (int, float)) else str(x)
                                for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
        elif isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (int, float)):
            v = f"{v:.6g}"
        out.append(f"{k} = {v}")
    return ", ".join(out)


def _seconds(v):
    v = number(v)
    if not np.isfinite(v):
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    if v < 120:
        return f"{v:.2f} s"
    return f"{v / 60:.1f} min"


def _bytes(v):
    v = number(v)
    if not np.isfinite(v):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024


def run_facts(run):
    s, c = run.summary, run.config
    rows = []
    rows.append(("experiment", f"{run.name} (seed {s.get('seed', c.get('seed', '-'))})"))
    rows.append(("run directory", os.path.basename(os.path.abspath(run.path))))
    rows.append(("saddlescope", f"version {s.get('version', '-')}, summary schema "
                 f"{s.get('schema_version', '-')}"))
    obj = run.objective_config
    extra = _params(obj, {"kind", "dim"})
    rows.append(("objective", f"{run.kind}" + (f" ({extra})" if extra else "")))
    rows.append(("N (parameters)", f"{run.dim:,}" + (f" (spectra: N − 1 = {run.dim - 1:,} "
                                                      "tangent directions)" if run.is_pspin
                                                      else "")))
    init = c.get("init", {})
    if isinstance(init, dict) and init:
        rows.append(("starts", f"{init.get('kind', '-')}"
                     + (f" ({_params(init, {'kind'})})" if len(init) > 1 else "")))
    r = c.get("run", {}) if isinstance(c.get("run"), dict) else {}
    rows.append(("trajectories", f"{run.trajectories:,} per optimizer, the same starts for "
                 f"every optimizer; curves of the first {run.record_trajectories:,} "
                 f"every {run.record_every:,} steps"))
    rows.append(("stopping", f"max_steps = {run.max_steps:,}, grad_tol = "
                 f"{fmt_num(r.get('grad_tol'))}, diverge_above = "
                 f"{fmt_num(r.get('diverge_above'))}"))
    rows.append(("precision", f"{s.get('precision', r.get('precision', '-'))}"))
    for i, label in enumerate(run.labels):
        oc = run.optimizer_config[i] if i < len(run.optimizer_config) else {}
        rows.append((f"optimizer {i + 1}", f"{label}: " + _params(oc, {"label"})))
    rows.append(("backend", f"{s.get('backend', '-')} on {s.get('device', '-')}"))
    t = s.get("timings", {}) if isinstance(s.get("timings"), dict) else {}
    per = t.get("optimizers", {}) if isinstance(t.get("optimizers"), dict) else {}
    parts = [f"total {_seconds(t.get('total_s'))}", f"objective {_seconds(t.get('objective_s'))}"]
    parts += [f"{k} {_seconds(v)}" for k, v in per.items()]
    if isinstance(run.census, dict) and "seconds" in run.census:
        parts.append(f"census {_seconds(run.census.get('seconds'))}")
    rows.append(("timings", ", ".join(parts)))
    speeds = [f"{o['label']} {fmt_num(o.get('trajectory_steps_per_second'), 3)}"
              for o in s.get("optimizers", []) if isinstance(o, dict)]
    rows.append(("trajectory-steps / s", ", ".join(speeds)))
    mp = s.get("memory_plan")
    if isinstance(mp, dict):
        rows.append(("memory plan", f"{fmt_num(mp.get('chunk'))} trajectories at once, "
                     f"{fmt_num(mp.get('chunks'))} chunk(s) per optimizer, peak "
                     f"{_bytes(mp.get('peak_bytes'))} of {_bytes(mp.get('budget_bytes'))}"))
    pr = run.plateau_rule if isinstance(run.plateau_rule, dict) else {}
    if pr:
        rows.append(("plateau rule", f"‖∇f‖ ≤ {fmt_num(pr.get('grad_threshold'))} for ≥ "
                     f"{fmt_num(pr.get('min_steps'))} steps, then a drop ≥ "
                     f"{fmt_num(pr.get('min_drop'))}·(|f| + 1)"))
    if np.isfinite(run.target_loss):
        rows.append(("target loss", fmt_num(run.target_loss)))
    cen = run.census
    if isinstance(cen, dict):
        cls = cen.get("classes", {}) if isinstance(cen.get("classes"), dict) else {}
        counts = ", ".join(f"{cls.get(k, 0):,} {k}" for k in CLASSES if cls.get(k))
        sf = number(cen.get("saddle_fraction_among_critical"))
        rows.append(("census", f"{fmt_num(cen.get('points'))} points by {cen.get('method', '-')}"
                     f" ({cen.get('precision', '-')}): {counts or 'none'}"))
        rows.append(("saddle fraction", (f"{sf:.4g}" if np.isfinite(sf) else "- (no critical "
                                         "points)")
                     + f" among {fmt_num(cen.get('critical_points'))} critical points "
                     f"(‖∇f‖ ≤ {fmt_num(cen.get('crit_tol'))})"))
    else:
        rows.append(("census", "none (no [analysis] section)"))
    return ("Run facts: what was run, where and how fast (summary.json, config.toml).",
            ["", ""], [[k, v] for k, v in rows])


def comparison(run):
    header = ["optimizer", "converged", "max_steps", "diverged", "median final loss",
              "final loss q25 – q75", "median steps", "plateau steps (median)",
              "first escape (median)"]
    tgt = np.isfinite(run.target_loss)
    if tgt:
        header += ["reached target", "steps to target (median)", "seconds to target (median)"]
    has_census = isinstance(run.census, dict)
    if has_census:
        header += ["ends at minimum", "ends at saddle", "other / unanalysed"]
    header += ["trajectory-steps/s"]
    rows = []
    for o, label in enumerate(run.labels):
        so = run.summary["optimizers"][o]
        out = so.get("outcomes", {})
        fl = quantile_fields(so.get("final_loss"))
        st = quantile_fields(so.get("steps"))
        pl = so.get("plateaus", {}) if isinstance(so.get("plateaus"), dict) else {}
        ps = quantile_fields(pl.get("plateau_steps"))
        fe = quantile_fields(pl.get("first_escape_step"))
        B = run.trajectories
        row = [label]
        for k in ("converged", "max_steps", "diverged"):
            n = out.get(k, 0) if isinstance(out.get(k, 0), (int, float)) else 0
            row.append(f"{int(n):,} ({100 * n / max(B, 1):.0f}%)")
        row += [fmt_num(fl["median"]), f"{fmt_num(fl['q25'])} – {fmt_num(fl['q75'])}",
                fmt_num(st["median"]), fmt_num(ps["median"]), fmt_num(fe["median"])]
        cmp_ = so.get("comparison", {}) if isinstance(so.get("comparison"), dict) else {}
        if tgt:
            fr = number(cmp_.get("fraction_reached"))
            row += [f"{fmt_num(cmp_.get('reached_target'))} ({100 * fr:.0f}%)"
                    if np.isfinite(fr) else "-",
                    fmt_num(quantile_fields(cmp_.get("steps_to_target"))["median"]),
                    fmt_num(quantile_fields(cmp_.get("seconds_to_target"))["median"])]
        if has_census:
            e = cmp_.get("ending", {}) if isinstance(cmp_.get("ending"), dict) else {}

            def pct(k):
                v = number(e.get(k))
                return f"{100 * v:.1f}%" if np.isfinite(v) else "-"
            row += [pct("minimum"), pct("saddle"), f"{pct('other')} / {pct('unanalysed')}"]
        row.append(fmt_num(so.get("trajectory_steps_per_second"), 3))
        rows.append(row)
    cap = ("Optimizer comparison on the same starts (summary.json; comparison.csv holds the "
           "same numbers). Final-loss quantiles leave out diverged trajectories; plateau "
           "steps count all trajectories, the first escape only those with a plateau.")
    if has_census:
        cap += (" Ends: share of all trajectories whose stopping point the census found at a "
                "minimum or a saddle; unanalysed = not sampled by analysis.max_points, "
                "diverged, or not in the census.")
    return cap, header, rows


def census(run):
    cen = run.census
    if not isinstance(cen, dict):
        return None
    header = ["points", *CLASSES, "critical", "saddle fraction among critical",
              "index fraction α: median (q25 – q75)"]
    rows = []

    def row(name, st):
        if not isinstance(st, dict) or not st.get("points"):
            return
        cls = st.get("classes", {}) if isinstance(st.get("classes"), dict) else {}
        sf = number(st.get("saddle_fraction_among_critical"))
        q = quantile_fields(st.get("index_fraction"))
        rows.append([name, fmt_num(st.get("points"))] + [fmt_num(cls.get(k, 0)) for k in CLASSES]
                    + [fmt_num(st.get("critical_points")), f"{sf:.4g}" if np.isfinite(sf) else "-",
                       f"{fmt_num(q['median'])} ({fmt_num(q['q25'])} – {fmt_num(q['q75'])})"])

    row("all", cen)
    ps = cen.get("per_source", {}) if isinstance(cen.get("per_source"), dict) else {}
    for k in ("stop", "plateau", "critical"):
        row(f"source: {k}", ps.get(k))
    po = cen.get("per_optimizer", {}) if isinstance(cen.get("per_optimizer"), dict) else {}
    for k, v in po.items():
        row(f"optimizer: {k}", v)
    cap = ("Census of the analysed points (summary.json census): class counts per source and "
           "per optimizer or finder; critical = points with ‖∇f‖ ≤ crit_tol; the saddle "
           "fraction counts critical points only.")
    fi = cen.get("finder")
    if isinstance(fi, dict):
        cap += (f" Finder {fi.get('kind', '-')}: {fmt_num(fi.get('starts'))} starts, "
                f"{fmt_num(fi.get('reached'))} reached ‖∇f‖ ≤ crit_tol, "
                f"{fmt_num(fi.get('distinct_points'))} distinct points, "
                f"{fmt_num(fi.get('analysed_points'))} analysed.")
    return cap, ["group"] + header, rows


def premature_stops(run):
    cen = run.census
    if not isinstance(cen, dict):
        return None
    sas = cen.get("stopped_at_saddle")
    if not isinstance(sas, dict) or not sas.get("count"):
        return None
    pts = sas.get("points", []) if isinstance(sas.get("points"), list) else []
    rows = [[fmt_num(p.get("point")), str(p.get("optimizer", "-")), fmt_num(p.get("trajectory")),
             fmt_num(p.get("index")), str(p.get("class", "-")), fmt_num(p.get("grad_norm"))]
            for p in pts[:50] if isinstance(p, dict)]
    per = sas.get("per_optimizer", {}) if isinstance(sas.get("per_optimizer"), dict) else {}
    cap = (f"Premature stops: {fmt_num(sas.get('count'))} trajectories converged by the gradient "
           "test at a point of index ≥ 1 (a saddle the test mistook for a minimum): "
           + ", ".join(f"{k} {fmt_num(v)}" for k, v in per.items()) + "."
           + (f" The first 50 of {len(pts)} are listed." if len(pts) > 50 else ""))
    return cap, ["point", "optimizer", "trajectory", "index", "class", "‖∇f‖"], rows
