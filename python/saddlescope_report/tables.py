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
    if run.labels:
        rows.append(("trajectories", f"{run.trajectories:,} per optimizer, the same starts "
                     f"for every optimizer; curves of the first {run.record_trajectories:,} "
                     f"every {run.record_every:,} steps"))
        rows.append(("stopping", f"max_steps = {run.max_steps:,}, grad_tol = "
                     f"{fmt_num(r.get('grad_tol'))}, diverge_above = "
                     f"{fmt_num(r.get('diverge_above'))}"))
    else:
        rows.append(("trajectories", "none: a finder-only run (no [[optimizer]])"))
        fc = c.get("finder") if isinstance(c.get("finder"), dict) else {}
        if fc:
            rows.append(("finder settings", _params(fc, set())))
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
    if speeds:
        rows.append(("trajectory-steps / s", ", ".join(speeds)))
    mp = s.get("memory_plan")
    if isinstance(mp, dict):
        rows.append(("memory plan", f"{fmt_num(mp.get('chunk'))} trajectories at once, "
                     f"{fmt_num(mp.get('chunks'))} chunk(s) per optimizer, peak "
                     f"{_bytes(mp.get('peak_bytes'))} of {_bytes(mp.get('budget_bytes'))}"))
    pr = run.plateau_rule if isinstance(run.plateau_rule, dict) else {}
    if pr and run.labels:
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
        if "distinct_points" in cen:
            what = (f"{fmt_num(cen.get('points'))} analysed points, "
                    f"{fmt_num(cen.get('distinct_points'))} distinct")
        else:
            what = f"{fmt_num(cen.get('points'))} points"
        rows.append(("census", f"{what} by {cen.get('method', '-')} "
                     f"({cen.get('precision', '-')}): {counts or 'none'}"))
        short = index_bound_note(run, short=True)
        if short:
            rows.append(("certification", short))
        crit = ("distinct critical points" if "distinct_points" in cen else "critical points")
        rows.append(("saddle fraction", (f"{sf:.4g}" if np.isfinite(sf) else "- (no critical "
                                         "points)")
                     + f" among {fmt_num(cen.get('critical_points'))} {crit} "
                     f"(‖∇f‖ ≤ {fmt_num(run.crit_tol)})"))
        fi = cen.get("finder")
        if isinstance(fi, dict):
            rows.append(("finder", finder_text(fi)))
    else:
        rows.append(("census", "none (no [analysis] section)"))
    return ("Run facts: what was run, where and how fast (summary.json, config.toml).",
            ["", ""], [[k, v] for k, v in rows])


def comparison(run):
    if not run.labels:
        return None
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


def _dict(d, key):
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


def _pair(d, w):
    """'distinct (weighted)' for a count cell; 'd' alone when there is no weighted figure."""
    if w is None:
        return fmt_num(d)
    return f"{fmt_num(d)} ({fmt_num(w)})"


def _frac(v):
    v = number(v)
    return f"{v:.4g}" if np.isfinite(v) else "-"


def census(run):
    """The census table: per group, counts over distinct points with the
    multiplicity-weighted counts in brackets (schema 1: analysed points)."""
    cen = run.census
    if not isinstance(cen, dict):
        return None
    distinct = "distinct_points" in cen
    if distinct:
        header = ["distinct points", "findings (Σ multiplicity)", *CLASSES, "critical",
                  "saddle fraction among critical", "index fraction α: median (q25 – q75)"]
    else:
        header = ["points", *CLASSES, "critical", "saddle fraction among critical",
                  "index fraction α: median (q25 – q75)"]
    rows = []

    def row(name, st):
        if not isinstance(st, dict) or not (st.get("points") or st.get("distinct_points")):
            return
        cls = _dict(st, "classes")
        q = quantile_fields(st.get("index_fraction"))
        alpha = f"{fmt_num(q['median'])} ({fmt_num(q['q25'])} – {fmt_num(q['q75'])})"
        if distinct:
            w = _dict(st, "multiplicity_weighted")
            wcls = _dict(w, "classes")
            has_w = bool(w)
            rows.append([name, fmt_num(st.get("distinct_points")),
                         fmt_num(w.get("points")) if has_w else "-"]
                        + [_pair(cls.get(k, 0), wcls.get(k, 0) if has_w else None)
                           for k in CLASSES]
                        + [_pair(st.get("critical_points"),
                                 w.get("critical_points") if has_w else None),
                           f"{_frac(st.get('saddle_fraction_among_critical'))}"
                           + (f" ({_frac(w.get('saddle_fraction_among_critical'))})"
                              if has_w else ""),
                           alpha])
        else:
            rows.append([name, fmt_num(st.get("points"))]
                        + [fmt_num(cls.get(k, 0)) for k in CLASSES]
                        + [fmt_num(st.get("critical_points")),
                           _frac(st.get("saddle_fraction_among_critical")), alpha])

    row("all", cen)
    ps = _dict(cen, "per_source")
    for k in ("stop", "plateau", "critical"):
        row(f"source: {k}", ps.get(k))
    po = _dict(cen, "per_optimizer")
    for k, v in po.items():
        row(f"{'finder' if k == run.finder_kind else 'optimizer'}: {k}", v)
    if distinct:
        cap = ("Census (summary.json census) over distinct points: points within the merge "
               "tolerance are one point (distinct.csv), counted once; in brackets the same "
               "counted once per finding (multiplicity-weighted: every analysed stop and "
               "plateau point, every converged finder start). Per source and per optimizer "
               "or finder: the distinct points found from it (a point found by several "
               "counts in each). Critical = ‖∇f‖ ≤ the point's threshold; the saddle "
               "fraction counts critical points only; α over distinct points.")
    else:
        cap = ("Census of the analysed points (summary.json census, schema_version "
               f"{run.schema}: duplicates not merged): class counts per source and per "
               "optimizer or finder; critical = points with ‖∇f‖ ≤ crit_tol; the saddle "
               "fraction counts critical points only.")
    note = index_bound_note(run)
    if note:
        cap += " " + note
    return cap, ["group"] + header, rows


def index_bound_note(run, short=False):
    """For a census by lanczos or slq: whether its indices are lower bounds
    (summary.json census.index_is_lower_bound, certified_points; docs/experiment.md
    "Counts and certification"); None for eigh and inertia, whose counts are exact."""
    b = run.index_bound()
    if b is None:
        return None
    lower, cert, n = b
    method = run.census_method or "lanczos"
    if short:
        if not lower:
            return (f"{method}: all {fmt_num(n)} points certified (the Krylov space was the "
                    "whole space): counts exact")
        return (f"{method}: {fmt_num(cert)} of {fmt_num(n)} points certified; the others' "
                "index and n_pos are lower bounds (Ritz values)")
    if not lower:
        return (f"The census used method = {method} and every point was certified (its "
                "Krylov space was the whole space), so the counts are exact.")
    return (f"Lower bounds: the census used method = {method}, and {fmt_num(n - cert)} of "
            f"the {fmt_num(n)} points are not certified (summary.json "
            "census.index_is_lower_bound; certified_points = " + fmt_num(cert) + "): their "
            "index counts the Ritz values below −λ_tol, a lower bound of the Hessian's index "
            "(Cauchy interlacing), so the index histogram, α and the saddle fraction count "
            "lower bounds, and a 'minimum' only means that no Ritz value fell below −λ_tol. "
            "A saddle is certain.")


def finder_text(fi):
    """One line on the finder (run facts)."""
    out = _dict(fi, "outcomes")
    if out:
        oc = ", ".join(f"{fmt_num(out.get(k, 0))} {k}" for k in
                       ("converged", "stalled", "max_steps", "diverged"))
    else:  # schema 1
        oc = f"{fmt_num(fi.get('reached'))} reached ‖∇f‖ ≤ crit_tol"
    return (f"{fi.get('kind', '-')}: {fmt_num(fi.get('starts'))} starts ({oc}); "
            f"{fmt_num(fi.get('distinct_points'))} distinct points, "
            f"{fmt_num(fi.get('analysed_points'))} analysed")


def finder(run):
    """The finder's outcomes (summary.json census.finder)."""
    cen = run.census
    fi = cen.get("finder") if isinstance(cen, dict) else None
    if not isinstance(fi, dict):
        return None
    out = _dict(fi, "outcomes")
    starts = number(fi.get("starts"))

    def share(k):
        v = number(out.get(k, 0))
        pct = f" ({100 * v / starts:.0f}%)" if np.isfinite(v) and starts > 0 else ""
        return fmt_num(v) + pct

    q = quantile_fields(fi.get("polish_steps"))
    if out:
        header = ["finder", "starts", "converged", "stalled", "max_steps", "diverged",
                  "distinct points", "analysed points", "polish steps: median (q25 – q75)",
                  "time"]
        row = [str(fi.get("kind", "-")), fmt_num(starts)] + [share(k) for k in (
            "converged", "stalled", "max_steps", "diverged")] + [
            fmt_num(fi.get("distinct_points")), fmt_num(fi.get("analysed_points")),
            f"{fmt_num(q['median'])} ({fmt_num(q['q25'])} – {fmt_num(q['q75'])})"
            if np.isfinite(q["count"]) and q["count"] > 0 else "-",
            _seconds(fi.get("seconds"))]
    else:  # schema 1
        header = ["finder", "starts", "reached ‖∇f‖ ≤ crit_tol", "distinct points",
                  "analysed points", "time"]
        row = [str(fi.get("kind", "-")), fmt_num(starts), fmt_num(fi.get("reached")),
               fmt_num(fi.get("distinct_points")), fmt_num(fi.get("analysed_points")),
               _seconds(fi.get("seconds"))]
    cap = ("Critical-point finder (summary.json census.finder): the outcome of every start "
           "(converged: ‖∇f‖ ≤ its critical threshold, then polished by Newton steps; "
           "stalled: no more progress; max_steps; diverged), the distinct points the "
           "converged starts reached, how many of them the census analysed "
           "(analysis.max_points), the Newton polishing steps per converged start, and the "
           "finder's wall time. finder.csv lists every start.")
    if run.finder is not None and out:
        fc = run.finder["outcome"]
        counts = {k: int(np.sum(fc == k)) for k in ("converged", "stalled", "max_steps",
                                                    "diverged")}
        if any(counts[k] != number(out.get(k, 0)) for k in counts):
            cap += (" Note: finder.csv's outcome counts ("
                    + ", ".join(f"{v} {k}" for k, v in counts.items())
                    + ") differ from summary.json's.")
    return cap, header, [row]


def _quantiles_text(q):
    q = quantile_fields(q)
    if not np.isfinite(q["count"]) or q["count"] == 0:
        return "- (not estimated at any point)"
    return (f"median {fmt_num(q['median'])} (q25 {fmt_num(q['q25'])} – q75 "
            f"{fmt_num(q['q75'])}), min {fmt_num(q['min'])}, max {fmt_num(q['max'])} over "
            f"{fmt_num(q['count'])} points")


def tolerances(run):
    """The census rules in force (summary.json census.tolerances)."""
    cen = run.census
    if not isinstance(cen, dict):
        return None
    tol = _dict(cen, "tolerances")
    rows = []
    if tol:
        rows.append(("critical point", f"‖∇f‖ ≤ crit_threshold = max(crit_tol = "
                     f"{fmt_num(tol.get('crit_tol'))}, the gradient's rounding floor at the "
                     "point)"))
        rows.append(("eigenvalue tolerance λ_tol", "the largest of: zero_tol · max(1, ‖H‖) "
                     f"with zero_tol = {fmt_num(tol.get('zero_tol_relative'))}; the backward "
                     f"error {fmt_num(tol.get('backward_error_factor'))} · n · u · ‖H‖; "
                     + ("at critical points √(ρ‖∇f‖) (second order)"
                        if tol.get("second_order") else "no second-order term")))
        rules = _dict(tol, "tol_rule")
        if rules:
            rows.append(("rule that set λ_tol", ", ".join(f"{k} at {fmt_num(v)} point"
                                                         f"{'s' if v != 1 else ''}"
                                                         for k, v in rules.items())))
        rows.append(("λ_tol", _quantiles_text(tol.get("lambda_tol"))))
        rows.append(("ρ (Hessian Lipschitz estimate)", _quantiles_text(tol.get("rho"))))
        dd = tol.get("dedup_tol")
        rows.append(("merge", (f"critical points within {fmt_num(tol.get('merge_factor'))} · "
                               "(r_i + r_j) are one distinct point (r = position accuracy)")
                     if dd is None or not number(dd) > 0 else
                     f"critical points within dedup_tol = {fmt_num(dd)} are one distinct "
                     "point"))
    else:  # schema 1
        rows.append(("critical point", f"‖∇f‖ ≤ crit_tol = {fmt_num(cen.get('crit_tol'))}"))
        rows.append(("eigenvalue tolerance", f"zero_tol · max(1, max |λ|) with zero_tol = "
                     f"{fmt_num(cen.get('zero_tol_relative'))}"))
    krylov = ", ".join(f"{k} = {fmt_num(cen.get(k))}" for k in ("k", "probes",
                                                                  "lanczos_steps")
                       if k in cen)
    rows.append(("eigensolver", f"{cen.get('method', '-')}" + (f" ({krylov})" if krylov
                                                               else "")
                 + f" in {cen.get('precision', '-')}, "
                 f"{fmt_num(cen.get('failed_solves', 0))} failed solve(s), "
                 f"{_seconds(cen.get('seconds'))}"))
    short = index_bound_note(run, short=True)
    if short:
        rows.append(("certification", short))
    cap = ("Census rules in force (summary.json census.tolerances; docs/experiment.md "
           "\"Census rules\"): when a point is critical, when an eigenvalue counts as zero, "
           "and when two points are the same distinct point.")
    return cap, ["", ""], [[k, v] for k, v in rows]


def premature_stops(run):
    cen = run.census
    if not isinstance(cen, dict):
        return None
    sas = cen.get("stopped_at_saddle")
    if not isinstance(sas, dict) or not sas.get("count"):
        return None
    pts = sas.get("points", []) if isinstance(sas.get("points"), list) else []
    has_d = any(isinstance(p, dict) and "distinct_id" in p for p in pts)
    rows = [[fmt_num(p.get("point"))] + ([fmt_num(p.get("distinct_id"))] if has_d else [])
            + [str(p.get("optimizer", "-")), fmt_num(p.get("trajectory")),
               fmt_num(p.get("index")), str(p.get("class", "-")), fmt_num(p.get("grad_norm"))]
            for p in pts[:50] if isinstance(p, dict)]
    per = sas.get("per_optimizer", {}) if isinstance(sas.get("per_optimizer"), dict) else {}
    at = (f" at {fmt_num(sas.get('distinct_points'))} distinct point"
          f"{'s' if sas.get('distinct_points') != 1 else ''}"
          if "distinct_points" in sas else "")
    cap = (f"Premature stops: {fmt_num(sas.get('count'))} trajectories converged by the "
           f"gradient test at a point of index ≥ 1{at} (a saddle the test mistook for a "
           "minimum; a negative eigenvalue beyond the point's tolerance): "
           + ", ".join(f"{k} {fmt_num(v)}" for k, v in per.items()) + "."
           + (f" The first 50 of {len(pts)} are listed." if len(pts) > 50 else ""))
    return cap, (["point"] + (["distinct point"] if has_d else [])
                 + ["optimizer", "trajectory", "index", "class", "‖∇f‖"]), rows
