"""Run directories written directly in the documented formats (docs/run-directory.md,
schema_version 2), no binary needed: census runs with distinct points, a finder,
multiplicities and the summary statistics derived from them as documented, finder-only
runs, and sweeps.

The scenario functions build a list of analysed points (dicts) and hand them to
write_census_run, which derives distinct.csv, finder.csv, spectra.npy and summary.json's
census from them.
"""

import json
import math
import os

import numpy as np

CLASSES = ("minimum", "saddle", "maximum", "degenerate", "failed")
SOURCES = ("stop", "plateau", "critical")
ZERO_TOL = 1e-6


# ---------------------------------------------------------------------------
# Documented statistics


def quantiles(v):
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"count": 0, "min": None, "q25": None, "median": None, "q75": None, "max": None}
    q = np.percentile(v, [0, 25, 50, 75, 100])
    return {"count": int(v.size), "min": float(q[0]), "q25": float(q[1]),
            "median": float(q[2]), "q75": float(q[3]), "max": float(q[4])}


def classify(spectrum, tol):
    s = np.asarray(spectrum, float)
    if not np.all(np.isfinite(s)):
        return None, None, None, "failed"
    k = int(np.sum(s < -tol))
    z = int(np.sum(np.abs(s) <= tol))
    pos = s.size - k - z
    if z:
        cls = "degenerate"
    elif k == 0:
        cls = "minimum"
    elif pos == 0:
        cls = "maximum"
    else:
        cls = "saddle"
    return k, z, pos, cls


def _stats(rows, weight, n_dim, analysed):
    """census statistics over distinct rows (weight: multiplicity used for the weighted)."""
    def block(w):
        classes = {c: 0 for c in CLASSES}
        hist = {}
        crit = sad = 0
        for r, wr in zip(rows, w):
            if wr <= 0:
                continue
            classes[r["class"]] += wr
            if r["index"] is not None:
                hist[str(r["index"])] = hist.get(str(r["index"]), 0) + wr
            if r["critical"] and r["class"] != "failed":
                crit += wr
                sad += wr if r["class"] == "saddle" else 0
        return classes, dict(sorted(hist.items(), key=lambda kv: int(kv[0]))), crit, (
            sad / crit if crit else None)

    ones = [1 if weight(r) > 0 else 0 for r in rows]
    classes, hist, crit, sf = block(ones)
    wc, wh, wcrit, wsf = block([weight(r) for r in rows])
    alpha = [r["index"] / n_dim for r, o in zip(rows, ones) if o and r["index"] is not None]
    return {"points": analysed, "distinct_points": int(sum(ones)), "classes": classes,
            "index_histogram": hist, "index_fraction": quantiles(alpha),
            "critical_points": crit, "saddle_fraction_among_critical": sf,
            "multiplicity_weighted": {"points": int(sum(weight(r) for r in rows)),
                                      "classes": wc, "index_histogram": wh,
                                      "critical_points": wcrit,
                                      "saddle_fraction_among_critical": wsf}}


def pspin_alpha(E, p):
    R = 2 * math.sqrt(p * (p - 1))
    u = min(1.0, max(-1.0, p * E / R))
    return 0.5 + (u * math.sqrt(1 - u * u) + math.asin(u)) / math.pi


def index_energy_bins(values, alphas, p=None):
    order = np.argsort(values, kind="stable")
    f, a = np.asarray(values, float)[order], np.asarray(alphas, float)[order]
    n = f.size
    if n == 0:
        return []
    nb = max(1, min(20, math.ceil(math.sqrt(n)), n // 5))
    out = []
    for part in np.array_split(np.arange(n), nb):
        fb, ab = f[part], a[part]
        b = {"f_lo": float(fb.min()), "f_hi": float(fb.max()), "f_mean": float(fb.mean()),
             "count": int(fb.size), "alpha_mean": float(ab.mean()),
             "alpha_stderr": float(ab.std(ddof=1) / math.sqrt(fb.size)) if fb.size > 1
             else None}
        if p is not None:
            b["alpha_theory"] = pspin_alpha(b["f_mean"], p)
        out.append(b)
    return out


# ---------------------------------------------------------------------------
# Writer


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else repr(float(v))
    return str(v)


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(_fmt(r.get(h)) for h in header) + "\n")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v)


def _ritz_model(s, m):
    """m model Ritz values of a spectrum s (ascending): the eigenvalues at m evenly spread
    ranks, so that the i-th lowest is >= the i-th lowest eigenvalue and the i-th highest
    <= the i-th highest (Cauchy interlacing, docs/experiment.md "Counts and
    certification"); all of s when m >= its order."""
    n = s.size
    if m >= n:
        return s.copy()
    return s[np.unique(np.linspace(0, n - 1, m).round().astype(int))]


def _counts_class(theta, tol, exact, s):
    """points.csv's index, n_zero, n_pos and class from Ritz values theta: exact (the
    eigenvalues' own) when certified, else lower bounds with n_zero empty."""
    if exact:
        return classify(s, tol)
    k = int(np.sum(theta < -tol))
    pos = int(np.sum(theta > tol))
    cls = ("saddle" if k and pos else "minimum" if pos else "maximum" if k else
           "degenerate")
    return k, None, pos, cls


def krylov_point(s, tol, method, kset, pt, state):
    """The Krylov columns of one point with spectrum s (NaN: failed) and its ritz.npy row
    [2k, 2] or quadrature.npy row [probes, lanczos_steps, 2], appended to state."""
    n = s.size
    steps = int(kset.get("lanczos_steps", n))
    rng = state["rng"]
    failed = not np.all(np.isfinite(s))
    if method == "lanczos":
        k = int(kset.get("k", 3))
        ran = min(int(pt.get("lanczos_steps", steps)), steps, n)
        row = np.full((2 * k, 2), np.nan)
        if failed:
            state["ritz"].append(row)
            return {"index_certified": None, "lanczos_steps": None, "converged": None}
        cert = ran >= n
        # The extreme Ritz pairs converged (the k lowest and highest eigenvalues), the
        # rest spread over the spectrum.
        theta = s.copy() if cert else np.unique(np.concatenate([_ritz_model(s, ran),
                                                                  s[:k], s[-k:]]))
        res = 0.0 if cert else 1e-10
        lo, hi = theta[:k], theta[-k:]
        row[:lo.size, 0], row[:lo.size, 1] = lo, res
        row[k:k + hi.size, 0], row[k:k + hi.size, 1] = hi, res
        state["ritz"].append(row)
        idx, z, pos, cls = _counts_class(theta, tol, cert, s)
        return {"index": idx, "n_zero": z, "n_pos": pos, "class": cls,
                "lambda_min": float(theta[0]), "lambda_max": float(theta[-1]),
                "index_certified": cert, "lanczos_steps": ran, "converged": True}
    probes = int(kset.get("probes", 4))
    row = np.full((probes, steps, 2), np.nan)
    if failed:
        state["quadrature"].append(row)
        return {"index_certified": None, "lanczos_steps": None, "converged": None}
    m = min(steps, n)
    cert = m >= n
    ests, traces, lbs, poss = [], [], [], []
    for j in range(probes):
        theta = _ritz_model(s, m)
        # Weights: the share of the eigenvalues nearest each node, jittered per probe.
        cut = np.concatenate([[-np.inf], (theta[1:] + theta[:-1]) / 2, [np.inf]])
        share = np.diff(np.searchsorted(s, cut, side="left")).astype(float)
        w = np.maximum(share, 0.05) * rng.uniform(0.6, 1.4, theta.size)
        w /= w.sum()
        row[j, :theta.size, 0], row[j, :theta.size, 1] = theta, w
        ests.append(n * float(np.sum(w[theta < -tol])))
        traces.append(n * float(np.sum(w * theta)))
        lbs.append(int(np.sum(theta < -tol)))
        poss.append(int(np.sum(theta > tol)))
    state["quadrature"].append(row)
    nodes = row[:, :, 0][np.isfinite(row[:, :, 0])]
    if cert:
        idx, z, pos, cls = classify(s, tol)
    else:
        idx, z, pos = max(lbs), None, max(poss)
        cls = ("saddle" if idx and pos else "minimum" if pos else "maximum" if idx else
               "degenerate")
    se = (lambda v: float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0)
    return {"index": idx, "n_zero": z, "n_pos": pos, "class": cls,
            "lambda_min": float(nodes.min()), "lambda_max": float(nodes.max()),
            "index_certified": cert, "lanczos_steps": m, "converged": True,
            "index_estimate": float(np.mean(ests)), "index_stderr": se(ests),
            "trace_estimate": float(np.mean(traces)), "trace_stderr": se(traces)}


def slq_density(quadrature, keys, bins=160):
    """density.csv rows under slq (docs/run-directory.md "spectra.npy and density.csv"):
    every node a Gaussian of standard deviation one bin width with its weight, integrated
    over `bins` common bins spanning all nodes +- 4 widths with 0 an edge; per group
    (keys[i] of point i) the mean over its points' probes."""
    nodes = quadrature[..., 0]
    lo, hi = float(np.nanmin(nodes)), float(np.nanmax(nodes))
    w = (hi - lo) / (bins - 8) if hi > lo else 1.0
    k0 = math.floor((lo - 4 * w) / w)
    edges = w * np.arange(k0, k0 + bins + 1)
    erf = np.vectorize(math.erf)
    rows = []
    for g in dict.fromkeys(keys):
        sel = [i for i, kk in enumerate(keys) if kk == g]
        q = quadrature[sel].reshape(-1, quadrature.shape[2], 2)
        th, wt = q[..., 0].ravel(), q[..., 1].ravel()
        ok = np.isfinite(th)
        th, wt = th[ok], wt[ok] / q.shape[0]
        cdf = 0.5 * (1 + erf((edges[:, None] - th[None, :]) / (w * math.sqrt(2))))
        mass = (np.diff(cdf, axis=0) * wt[None, :]).sum(axis=1)
        for a, b, d in zip(edges[:-1], edges[1:], mass / w):
            rows.append({"group": g, "bin_lo": float(a), "bin_hi": float(b),
                         "density": float(d)})
    return rows


def write_census_run(path, *, kind, dim, points, optimizers=("gd",), trajectories=None,
                     finder=None, objective=None, name="synthetic", spectra=None,
                     max_steps=200, record_every=10, record_trajectories=4, schema=2,
                     finder_outcomes=None, method="eigh", krylov=None, census=True,
                     optimizer_config=None, sharpness_every=0, sharpness=None):
    """A census run directory from analysed points.

    points: dicts with source ('stop'/'plateau'/'critical'), optimizer (label or the finder
    kind), trajectory, step, f, grad_norm, spectrum (array, NaN = failed), critical (bool),
    key (points with equal non-None keys are one distinct point; None: its own), and
    optionally f_field, mult (finder starts that reached it: critical points only),
    outcome (stops: converged / max_steps). Stops must cover every trajectory of every
    optimizer (trajectory 0..B-1 each).
    finder: None or (kind, starts); finder_outcomes: {stalled, max_steps, diverged} counts.
    method: "eigh", or "lanczos" / "slq" with krylov = {"k", "lanczos_steps"} /
    {"probes", "lanczos_steps"}: the counts come from model Ritz values (krylov_point), with
    points.csv's seven Krylov columns, ritz.npy or quadrature.npy, and for slq density.csv
    with <optimizer>/<source>/<class> groups; spectra.npy only for eigh (spectra=None).
    A point's lanczos_steps (lanczos) says how far its column ran (default: the setting).
    census=False: no census files (points only give the stops).
    optimizer_config: per label a dict of [[optimizer]] keys (default kind gd, lr 0.01).
    sharpness: an array [optimizers, record_trajectories, max_steps // sharpness_every + 1,
    2] written as sharpness.npy (with run.sharpness_every).
    """
    os.makedirs(path)
    n_dim = dim - 1 if kind == "p-spin" else dim
    labels = list(optimizers)
    B = trajectories if trajectories is not None else (
        max(1, sum(1 for p in points if p["source"] == "stop") // max(1, len(labels)))
        if labels else 0)
    fkind, fstarts = finder if finder else (None, 0)
    objective = dict(objective or {})
    p_spin = int(objective.get("p", 3)) if kind == "p-spin" else None

    # Points and their classes.
    P = len(points)
    spec = np.full((P, n_dim), np.nan)
    prow = []
    if spectra is None:
        spectra = method == "eigh"
    kset = dict(krylov or {})
    kstate = {"ritz": [], "quadrature": [], "rng": np.random.default_rng(17)}
    for i, pt in enumerate(points):
        s = np.sort(np.asarray(pt["spectrum"], float)) if np.all(
            np.isfinite(pt["spectrum"])) else np.full(n_dim, np.nan)
        spec[i] = s
        hn = float(np.max(np.abs(s))) if np.all(np.isfinite(s)) else 1.0
        tol = ZERO_TOL * max(1.0, hn)
        k, z, pos, cls = classify(s, tol)
        prow.append({"point": i, "source": pt["source"], "optimizer": pt["optimizer"],
                     "trajectory": pt["trajectory"], "step": pt.get("step", 0), "f": pt["f"],
                     "grad_norm": pt["grad_norm"], "index": k, "n_zero": z, "n_pos": pos,
                     "lambda_min": float(s[0]) if cls != "failed" else None,
                     "lambda_max": float(s[-1]) if cls != "failed" else None, "class": cls,
                     "critical": bool(pt["critical"]), "crit_threshold": 1e-8,
                     "lambda_tol": tol, "tol_rule": "zero_tol",
                     "rho": 1.0 if pt["critical"] and cls != "failed" else None,
                     "f_field": pt.get("f_field")})
        if method in ("lanczos", "slq"):
            prow[-1].update(krylov_point(s, tol, method, kset, pt, kstate))

    # Distinct points, numbered by their first member.
    ids, drows = {}, []
    for i, pt in enumerate(points):
        key = pt.get("key") if pt["critical"] and prow[i]["class"] != "failed" else None
        if key is not None and key in ids:
            d = ids[key]
        else:
            d = len(drows)
            if key is not None:
                ids[key] = d
            drows.append({"members": []})
        drows[d]["members"].append(i)
        prow[i]["distinct_id"] = d
    groups = labels + ([fkind] if fkind else [])
    for d, dr in enumerate(drows):
        mem = dr["members"]
        crit_mem = [i for i in mem if points[i]["source"] == "critical"]
        rep = crit_mem[0] if crit_mem else min(mem, key=lambda i: points[i]["grad_norm"])
        r = prow[rep]
        dr.update({"distinct_id": d, "representative": rep, "source": r["source"],
                   "optimizer": r["optimizer"], "trajectory": r["trajectory"], "f": r["f"],
                   "f_field": r["f_field"], "grad_norm": r["grad_norm"],
                   "critical": r["critical"], "index": r["index"], "n_zero": r["n_zero"],
                   "n_pos": r["n_pos"], "lambda_min": r["lambda_min"],
                   "lambda_max": r["lambda_max"], "lambda_tol": r["lambda_tol"],
                   "class": r["class"],
                   "members_agree": all(prow[i]["class"] == r["class"] for i in mem)})
        ms = sum(1 for i in mem if points[i]["source"] == "stop")
        mp = sum(1 for i in mem if points[i]["source"] == "plateau")
        mc = sum(points[i].get("mult", 1) for i in crit_mem)
        dr.update({"mult_stop": ms, "mult_plateau": mp, "mult_critical": mc,
                   "multiplicity": ms + mp + mc})
        for g in groups:
            dr[f"mult:{g}"] = (mc if g == fkind else 0) + sum(
                1 for i in mem if points[i]["source"] != "critical"
                and points[i]["optimizer"] == g)

    # Files: config.toml
    cfg = [f"name = {json.dumps(name)}", "seed = 0", "", "[objective]",
           f"kind = {json.dumps(kind)}", f"dim = {dim}"]
    cfg += [f"{k} = {_toml_value(v)}" for k, v in objective.items()]
    cfg += ["", "[init]", 'kind = "uniform"', "scale = 2.5", "", "[run]",
            f"trajectories = {B}", f"max_steps = {max_steps}", f"record_every = {record_every}",
            f"record_trajectories = {min(record_trajectories, B)}", "grad_tol = 1e-06",
            'precision = "f64"']
    if sharpness is not None:
        cfg += [f"sharpness_every = {sharpness_every}"]
    cfg += [""]
    ocfg = list(optimizer_config or [{} for _ in labels])
    ocfg = [{"kind": "gd", "lr": 0.01, **o} for o in ocfg]
    for lab, oc in zip(labels, ocfg):
        cfg += ["[[optimizer]]", f"label = {json.dumps(lab)}"]
        cfg += [f"{k} = {_toml_value(v)}" for k, v in oc.items()] + [""]
    srcs = sorted({p["source"] for p in points}, key=SOURCES.index)
    if census:
        cfg += ["[analysis]", "points = " + _toml_value(
            [{"stop": "stops", "plateau": "plateaus", "critical": "critical"}[s]
             for s in srcs]), f"method = {json.dumps(method)}", "crit_tol = 1e-08"]
        cfg += [f"{k} = {_toml_value(v)}" for k, v in kset.items()] + [""]
    if fkind:
        cfg += ["[finder]", f"kind = {json.dumps(fkind)}", f"starts = {fstarts}",
                "max_steps = 60", ""]
    with open(os.path.join(path, "config.toml"), "w") as f:
        f.write("\n".join(cfg))

    # trajectories.csv, comparison.csv, curves.npy
    records = max_steps // record_every + 1
    tcols = ["optimizer", "trajectory", "outcome", "steps", "f_init", "f_final",
             "grad_norm_final", "plateau_count", "plateau_steps", "longest_plateau",
             "first_escape_step", "steps_to_target"]
    trows = []
    stops = {(p["optimizer"], p["trajectory"]): i for i, p in enumerate(points)
             if p["source"] == "stop"}
    opt_summ = []
    rt = min(record_trajectories, B)
    curves = np.full((len(labels), rt, records, 2), np.nan, np.float32)
    for o, lab in enumerate(labels):
        rows = []
        for b in range(B):
            st = points[stops[(lab, b)]]
            steps = st.get("step", max_steps)
            rows.append({"optimizer": lab, "trajectory": b,
                         "outcome": st.get("outcome", "converged"), "steps": steps,
                         "f_init": st["f"] + 5.0, "f_final": st["f"],
                         "grad_norm_final": st["grad_norm"], "plateau_count": 0,
                         "plateau_steps": 0, "longest_plateau": 0})
            if b < rt:
                r = np.arange(records)
                live = r * record_every <= steps
                curves[o, b, live, 0] = st["f"] + 5.0 * np.exp(-r[live] / 3.0)
                curves[o, b, live, 1] = 10.0 * np.exp(-r[live] / 2.0) + st["grad_norm"]
        trows += rows
        oc = {k: sum(r["outcome"] == k for r in rows) for k in ("converged", "diverged",
                                                               "max_steps")}
        ending = {"minimum": 0.0, "saddle": 0.0, "other": 0.0, "unanalysed": 0.0}
        for r in rows:
            cls = prow[stops[(lab, r["trajectory"])]]["class"]
            ending["minimum" if cls == "minimum" else "saddle" if cls in ("saddle",)
                   else "other"] += 1 / B
        opt_summ.append({"label": lab, "kind": ocfg[o]["kind"], "lr": ocfg[o]["lr"],
                         "outcomes": oc,
                         "final_loss": quantiles([r["f_final"] for r in rows]),
                         "steps": quantiles([r["steps"] for r in rows]),
                         "comparison": {"reached_target": 0, "fraction_reached": None,
                                        "steps_to_target": quantiles([]),
                                        "seconds_to_target": quantiles([]), "ending": ending},
                         "plateaus": {"trajectories_with_plateaus": 0, "episodes": 0,
                                      "plateau_steps": quantiles([0] * B),
                                      "longest_plateau": quantiles([]),
                                      "first_escape_step": quantiles([])},
                         "trajectory_steps": int(sum(r["steps"] for r in rows)),
                         "seconds": 0.5, "trajectory_steps_per_second": 1e6})
    write_csv(os.path.join(path, "trajectories.csv"), tcols, trows)
    ccols = ["optimizer", "trajectories", "converged", "diverged", "max_steps",
             "reached_target", "fraction_reached", "steps_to_target_median",
             "steps_to_target_q25", "steps_to_target_q75", "seconds_to_target_median",
             "plateau_steps_median", "first_escape_step_median", "final_loss_median",
             "final_loss_q25", "final_loss_q75", "ending_minimum", "ending_saddle",
             "ending_other", "ending_unanalysed", "trajectory_steps_per_second"]
    write_csv(os.path.join(path, "comparison.csv"), ccols,
              [{"optimizer": o["label"], "trajectories": B, **o["outcomes"],
                "reached_target": 0, "final_loss_median": o["final_loss"]["median"],
                "plateau_steps_median": 0, "trajectory_steps_per_second": 1e6}
               for o in opt_summ])
    if not labels:
        curves = np.zeros((0, 0, records, 2), np.float32)
    np.save(os.path.join(path, "curves.npy"), curves)

    files = ["config.toml", "trajectories.csv", "comparison.csv", "curves.npy"]
    census_summary = None
    if census:
        # points.csv, distinct.csv, finder.csv, spectra.npy
        pcols = ["point", "source", "optimizer", "trajectory", "step", "f", "grad_norm", "index",
                 "n_zero", "n_pos", "lambda_min", "lambda_max", "class", "distinct_id",
                 "critical", "crit_threshold", "lambda_tol", "tol_rule", "rho", "f_field"]
        if method in ("lanczos", "slq"):
            pcols += ["index_certified", "lanczos_steps", "converged", "index_estimate",
                      "index_stderr", "trace_estimate", "trace_stderr"]
        write_csv(os.path.join(path, "points.csv"), pcols, prow)
        dcols = ["distinct_id", "representative", "source", "optimizer", "trajectory", "f",
                 "f_field", "grad_norm", "critical", "index", "n_zero", "n_pos", "lambda_min",
                 "lambda_max", "lambda_tol", "class", "members_agree", "multiplicity",
                 "mult_stop", "mult_plateau", "mult_critical"] + [f"mult:{g}" for g in groups]
        write_csv(os.path.join(path, "distinct.csv"), dcols, drows)
        files += ["points.csv", "distinct.csv"]
        fin_summary = None
        if fkind:
            frows, start = [], 0
            for i, pt in enumerate(points):
                if pt["source"] != "critical":
                    continue
                for _ in range(pt.get("mult", 1)):
                    frows.append({"start": start, "outcome": "converged", "steps": 12,
                                  "f": pt["f"], "grad_norm": pt["grad_norm"], "point": i,
                                  "distinct_id": prow[i]["distinct_id"]})
                    start += 1
            fo = dict(finder_outcomes or {})
            for oc in ("stalled", "max_steps", "diverged"):
                for _ in range(fo.get(oc, 0)):
                    frows.append({"start": start, "outcome": oc, "steps": 60, "f": 1.0,
                                  "grad_norm": 0.5})
                    start += 1
            assert start <= fstarts, (start, fstarts)
            while start < fstarts:  # the rest stalled
                frows.append({"start": start, "outcome": "stalled", "steps": 60, "f": 1.0,
                              "grad_norm": 0.5})
                start += 1
            write_csv(os.path.join(path, "finder.csv"),
                      ["start", "outcome", "steps", "f", "grad_norm", "point", "distinct_id"], frows)
            files.append("finder.csv")
            outc = {k: sum(r["outcome"] == k for r in frows) for k in ("converged", "stalled",
                                                                      "max_steps", "diverged")}
            fin_summary = {"kind": fkind, "starts": fstarts, "outcomes": outc,
                           "distinct_points": sum(1 for p in points if p["source"] == "critical"),
                           "analysed_points": sum(1 for p in points if p["source"] == "critical"),
                           "polish_steps": quantiles([3] * outc["converged"]), "seconds": 0.25}
        if spectra:
            np.save(os.path.join(path, "spectra.npy"), spec)
            files.append("spectra.npy")
        if method == "lanczos":
            np.save(os.path.join(path, "ritz.npy"), np.array(kstate["ritz"]).reshape(
                P, 2 * int(kset.get("k", 3)), 2))
            files.append("ritz.npy")
        if method == "slq":
            quad = np.array(kstate["quadrature"]).reshape(
                P, int(kset.get("probes", 4)), int(kset.get("lanczos_steps", n_dim)), 2)
            np.save(os.path.join(path, "quadrature.npy"), quad)
            files.append("quadrature.npy")
            keys = [f"{r['optimizer']}/{r['source']}/{r['class']}" for r in prow]
            ok = [i for i, r in enumerate(prow) if r["class"] != "failed"]
            write_csv(os.path.join(path, "density.csv"), ["group", "bin_lo", "bin_hi",
                                                          "density"],
                      slq_density(quad[ok], [keys[i] for i in ok]))
            files.append("density.csv")

        # summary.json census
        def w_all(r):
            return r["multiplicity"]

        census = _stats(drows, w_all, n_dim, P)
        census["per_source"] = {}
        for s in srcs:
            key = {"stop": "mult_stop", "plateau": "mult_plateau", "critical": "mult_critical"}[s]
            census["per_source"][s] = _stats(
                drows, lambda r, key=key: r[key], n_dim,
                sum(1 for p in points if p["source"] == s))
        census["per_optimizer"] = {g: _stats(drows, lambda r, g=g: r[f"mult:{g}"], n_dim,
                                             sum(1 for p in points if p["optimizer"] == g))
                                   for g in groups}
        prem = [prow[i] for i, p in enumerate(points) if p["source"] == "stop"
                and p.get("outcome", "converged") == "converged" and prow[i]["index"]
                and prow[i]["class"] != "degenerate"]
        census["stopped_at_saddle"] = {
            "count": len(prem), "distinct_points": len({r["distinct_id"] for r in prem}),
            "per_optimizer": {lab: sum(r["optimizer"] == lab for r in prem) for lab in labels},
            "points": [{k: r[k] for k in ("point", "distinct_id", "optimizer", "trajectory",
                                          "index", "class", "grad_norm")} for r in prem]}

        def ie(field):
            per = {}
            for s in srcs + ["all"]:
                key = None if s == "all" else {"stop": "mult_stop", "plateau": "mult_plateau",
                                               "critical": "mult_critical"}[s]
                sel = [r for r in drows if r["critical"] and r["class"] != "failed"
                       and (key is None or r[key] > 0)]
                vals = [r["f_field" if field else "f"] for r in sel]
                per[s] = index_energy_bins(vals, [r["index"] / n_dim for r in sel],
                                           p_spin if not field else None)
            return {"value": "f_field" if field else ("E" if kind == "p-spin" else "f"),
                    "per_source": per,
                    "theory": "p-spin semicircle" if kind == "p-spin" and not field else None}

        census["index_energy"] = ie(False)
        if kind == "gaussian-field":
            census["index_energy_field"] = ie(True)
        lt = [r["lambda_tol"] for r in prow]
        census["tolerances"] = {"zero_tol_relative": ZERO_TOL, "backward_error_factor": 4,
                                "second_order": True, "merge_factor": 10, "dedup_tol": None,
                                "crit_tol": 1e-8, "rho": quantiles([r["rho"] for r in prow
                                                                   if r["rho"] is not None]),
                                "lambda_tol": quantiles(lt), "tol_rule": {"zero_tol": P}}
        census.update({"method": method, "precision": "f64", "seconds": 0.1,
                       "failed_solves": sum(r["class"] == "failed" for r in prow)})
        if method in ("lanczos", "slq"):
            cert = sum(bool(r.get("index_certified")) for r in prow)
            census.update({"certified_points": cert, "index_is_lower_bound": cert < P,
                           **kset})
        if fin_summary:
            census["finder"] = fin_summary
        census_summary = census
    if sharpness is not None:
        np.save(os.path.join(path, "sharpness.npy"), np.asarray(sharpness, np.float64))
        files.append("sharpness.npy")
    files.append("summary.json")
    summary = {"schema_version": schema, "version": "0.2.0", "name": name, "seed": 0,
               "backend": "cpu", "device": "synthetic CPU", "objective": {"kind": kind,
                                                                       "dim": dim},
               "trajectories": B, "max_steps": max_steps, "precision": "f64",
               "plateau_rule": {"grad_threshold": 1e-3, "min_steps": 50, "min_drop": 1e-3},
               "target_loss": None, "optimizers": opt_summ,
               "timings": {"total_s": 1.0, "objective_s": 0.01,
                           "optimizers": {o["label"]: 0.5 for o in opt_summ}},
               "files": files}
    if census_summary is not None:
        summary["census"] = census_summary
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return path


# ---------------------------------------------------------------------------
# Scenarios

DW_CRIT = np.sort(np.roots([4, 0, -8, 1]).real)        # -1.473, 0.126, 1.347
DW_F = DW_CRIT ** 4 - 4 * DW_CRIT ** 2 + DW_CRIT
DW_H = 12 * DW_CRIT ** 2 - 8


def double_well(path, dim=4, optimizers=("gd", "momentum"), B=60, finder=True,
                finder_only=False, premature=3, max_steps_stops=4, seed=0, **kw):
    """Every critical point of the N-D double well from the finder (3^N, with
    multiplicities), the optimizers' stops at minima (many times each), a few premature
    stops at index-1 saddles and a few max_steps stops (not critical)."""
    rng = np.random.default_rng(seed)
    labels = [] if finder_only else list(optimizers)
    pts = []
    import itertools
    for o, lab in enumerate(labels):
        for b in range(B):
            if b < max_steps_stops:
                x = rng.uniform(-2, 2, dim)
                spec = 12 * x ** 2 - 8 + rng.normal(0, 0.5, dim)
                f = float(np.sum(x ** 4 - 4 * x ** 2 + x))
                pts.append({"source": "stop", "optimizer": lab, "trajectory": b, "step": 200,
                            "f": f, "grad_norm": 0.3, "spectrum": spec, "critical": False,
                            "outcome": "max_steps"})
                continue
            if b < max_steps_stops + premature:
                t = [0] * dim
                t[b % dim] = 1
            else:
                t = list(rng.choice([0, 2], dim, p=[0.7, 0.3]))
            pts.append({"source": "stop", "optimizer": lab, "trajectory": b,
                        "step": int(rng.integers(50, 190)), "f": float(DW_F[t].sum()),
                        "grad_norm": 1e-9, "spectrum": DW_H[t], "critical": True,
                        "key": tuple(t)})
    if finder or finder_only:
        total = 0
        for t in itertools.product(range(3), repeat=dim):
            t = list(t)
            m = int(rng.integers(1, 6))
            total += m
            pts.append({"source": "critical", "optimizer": "newton", "trajectory": total - m,
                        "step": 12, "f": float(DW_F[t].sum()), "grad_norm": 1e-12,
                        "spectrum": DW_H[t], "critical": True, "key": tuple(t), "mult": m})
        kw.setdefault("finder", ("newton", total + 20))
        kw.setdefault("finder_outcomes", {"stalled": 12, "max_steps": 5, "diverged": 3})
    return write_census_run(path, kind="double-well", dim=dim, points=pts, optimizers=labels,
                            trajectories=B if labels else 0, name=kw.pop("name",
                                                                          "dw-census"), **kw)


def pspin(path, dim=60, p=3, n_points=150, seed=1):
    """Finder points of the p-spin at energies across the threshold: each spectrum is
    the semicircle of radius 2 sqrt(p(p-1)) centred at -pE (its quantiles), so the index
    follows the theory alpha(E)."""
    rng = np.random.default_rng(seed)
    R = 2 * math.sqrt(p * (p - 1))
    n = dim - 1
    u = (np.arange(n) + 0.5) / n
    # Quantiles of the semicircle on [-1, 1] by inverting its CDF numerically.
    grid = np.linspace(-1, 1, 20001)
    cdf = 0.5 + (grid * np.sqrt(1 - grid ** 2) + np.arcsin(grid)) / math.pi
    q = np.interp(u, cdf, grid)
    pts = []
    for i in range(n_points):
        E = float(rng.uniform(-1.75, -1.35))
        spec = -p * E + R * q + rng.normal(0, 0.02, n)
        pts.append({"source": "critical", "optimizer": "newton", "trajectory": i, "step": 20,
                    "f": E, "grad_norm": 1e-11, "spectrum": spec, "critical": True,
                    "key": i, "mult": 1})
    return write_census_run(path, kind="p-spin", dim=dim, points=pts, optimizers=(),
                            objective={"p": p}, finder=("newton", n_points), name="pspin")


def _semicircle_quantiles(n):
    """n quantiles of the semicircle law on [-1, 1] (its CDF inverted numerically)."""
    u = (np.arange(n) + 0.5) / n
    grid = np.linspace(-1, 1, 20001)
    cdf = 0.5 + (grid * np.sqrt(1 - grid ** 2) + np.arcsin(grid)) / math.pi
    return np.interp(u, cdf, grid)


def krylov_pspin(path, method="slq", dim=60, p=3, B=12, n_critical=24, seed=4,
                 optimizers=("gd", "adam"), **settings):
    """A p-spin census by a Krylov method (docs/experiment.md "Krylov methods"): the
    optimizers' stops (converged at energies -1.65 .. -1.45) and finder points (-1.7 ..
    -1.2, across the threshold energy), each spectrum the semicircle of radius
    2 sqrt(p(p-1)) centred at -pE. slq: 6 probes of 24 steps (fewer than the N - 1 = 59
    tangent directions: indices are lower bounds, the estimates follow alpha(E));
    lanczos: k = 4, lanczos_steps = N - 1, every third point converged after 20 steps
    (a lower bound), the others ran the whole space (certified)."""
    rng = np.random.default_rng(seed)
    R = 2 * math.sqrt(p * (p - 1))
    n = dim - 1
    q = _semicircle_quantiles(n)
    if method == "slq":
        kset = {"probes": 6, "lanczos_steps": 24}
    else:
        kset = {"k": 4, "lanczos_steps": n}
    kset.update(settings)
    pts = []
    for lab in optimizers:
        for b in range(B):
            E = float(rng.uniform(-1.65, -1.45))
            pts.append({"source": "stop", "optimizer": lab, "trajectory": b,
                        "step": int(rng.integers(100, 190)), "f": E, "grad_norm": 1e-9,
                        "spectrum": -p * E + R * q + rng.normal(0, 0.02, n),
                        "critical": True, "key": None,
                        "lanczos_steps": 20 if len(pts) % 3 == 0 else n})
    for i in range(n_critical):
        E = float(rng.uniform(-1.7, -1.2))
        pts.append({"source": "critical", "optimizer": "newton", "trajectory": i, "step": 20,
                    "f": E, "grad_norm": 1e-11,
                    "spectrum": -p * E + R * q + rng.normal(0, 0.02, n), "critical": True,
                    "key": ("c", i), "mult": 1,
                    "lanczos_steps": 20 if len(pts) % 3 == 0 else n})
    return write_census_run(path, kind="p-spin", dim=dim, points=pts, optimizers=optimizers,
                            trajectories=B, objective={"p": p}, finder=("newton", n_critical),
                            name=f"pspin-{method}", method=method, krylov=kset)


def edge_of_stability(path, max_steps=1000, every=50, rt=3, seed=5):
    """A run with sharpness.npy and no census: gd at lr 0.1 and 1.0 (its sharpness rises
    to 2/lr = 2 and hovers there; trajectory 2 diverges at step 420), heavy-ball momentum
    (lr 0.1, momentum 0.9: limit 38), adam (no line) and gd with weight decay 0.5
    (limit 2/lr - wd = 1.5)."""
    rng = np.random.default_rng(seed)
    labels = ["gd-0.1", "gd-1.0", "momentum", "adam", "gd-wd"]
    cfg = [{"kind": "gd", "lr": 0.1}, {"kind": "gd", "lr": 1.0},
           {"kind": "momentum", "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
            "nesterov": False},
           {"kind": "adam", "lr": 0.01}, {"kind": "gd", "lr": 1.0, "weight_decay": 0.5}]
    m = max_steps // every + 1
    t = np.arange(m) * every
    sharp = np.full((len(labels), rt, m, 2), np.nan)
    pts = []
    for o, lab in enumerate(labels):
        limit = {0: 20.0, 1: 2.0, 2: 38.0, 3: 6.0, 4: 1.5}[o]
        for b in range(rt + 1):
            diverged = o == 1 and b == 2
            steps = 420 if diverged else max_steps
            pts.append({"source": "stop", "optimizer": lab, "trajectory": b, "step": steps,
                        "f": 0.01, "grad_norm": 1e-3, "spectrum": np.ones(120),
                        "critical": False,
                        "outcome": "diverged" if diverged else "max_steps"})
            if b >= rt:
                continue
            top = 0.8 + (min(limit, 2.4) - 0.8) * (1 - np.exp(-t / 150.0))
            top = top * (1 + rng.normal(0, 0.01, m)) + 0.05 * b
            low = -0.9 * np.exp(-t / 100.0) - 0.01
            sharp[o, b, :, 0], sharp[o, b, :, 1] = top, low
            sharp[o, b, t > steps, :] = np.nan
    return write_census_run(path, kind="mlp", dim=120, points=pts, optimizers=labels,
                            trajectories=rt + 1, name="edge-of-stability", census=False,
                            max_steps=max_steps, record_every=10, record_trajectories=rt,
                            optimizer_config=cfg, sharpness_every=every, sharpness=sharp)


def gaussian_field(path, dim=8, n_points=80, mu=0.1, seed=2):
    """Finder points of a gaussian field with f_field = f - mu/2 |x|^2."""
    rng = np.random.default_rng(seed)
    pts = []
    for i in range(n_points):
        ff = float(rng.uniform(-2.5, 2.5))
        r2 = float(rng.uniform(0, 20))
        k = int(np.clip(round((ff + 2.5) / 5 * dim + rng.normal(0, 0.7)), 0, dim))
        spec = np.concatenate([-rng.uniform(0.2, 2, k), rng.uniform(0.2, 2, dim - k)])
        pts.append({"source": "critical", "optimizer": "newton", "trajectory": i, "step": 20,
                    "f": ff + mu / 2 * r2, "f_field": ff, "grad_norm": 1e-11,
                    "spectrum": spec, "critical": True, "key": i, "mult": 1})
    return write_census_run(path, kind="gaussian-field", dim=dim, points=pts, optimizers=(),
                            objective={"mu": mu}, finder=("newton", n_points),
                            name="gaussian-field")


def wide_spectrum(path, dim=200, n_points=6, seed=3):
    """Stops whose Hessians span 1e-6 .. 1e3 in |lambda| (a bulk near zero and outliers),
    with a few negative eigenvalues: the spectra axis is symmetric-logarithmic."""
    rng = np.random.default_rng(seed)
    pts = []
    for b in range(n_points):
        mag = 10.0 ** rng.uniform(-6, 0, dim)
        mag[:5] = 10.0 ** rng.uniform(1, 3, 5)
        sign = np.where(rng.random(dim) < 0.15, -1.0, 1.0)
        pts.append({"source": "stop", "optimizer": "sgd", "trajectory": b, "step": 100,
                    "f": float(0.1 + 0.01 * b), "grad_norm": 1e-3, "spectrum": sign * mag,
                    "critical": False, "outcome": "max_steps"})
    return write_census_run(path, kind="mlp", dim=dim, points=pts, optimizers=("sgd",),
                            trajectories=n_points, name="wide")


def sweep(path, keys, stat=None, reports=(0,), optimizers=("gd", "adam"), name="sweep"):
    """A sweep directory: sweep.csv over the Cartesian product of `keys` (dict key ->
    values, the last varying fastest), sweep/NNN/ folders (NNN/report/index.html for the
    points in `reports`) and summary.json kind "sweep". stat(values dict) -> row dict."""
    import itertools
    os.makedirs(os.path.join(path, "sweep"))
    names = list(keys)
    rows = []
    for i, combo in enumerate(itertools.product(*[keys[k] for k in names])):
        v = dict(zip(names, combo))
        d = f"sweep/{i:03d}"
        os.makedirs(os.path.join(path, d))
        if i in reports:
            os.makedirs(os.path.join(path, d, "report"))
            with open(os.path.join(path, d, "report", "index.html"), "w") as f:
                f.write("<html>point report</html>")
        row = {"point": i, "dir": d, **v}
        row.update(stat(v) if stat else default_sweep_stats(v, optimizers))
        rows.append(row)
    header = ["point", "dir", *names, "distinct_points", "critical_points", "saddle_fraction",
              "saddle_fraction_weighted", "distinct_minima", "distinct_saddles",
              "distinct_maxima", "distinct_degenerate", "index_mean", "index_median",
              "index_max", "premature_stops"]
    for o in range(len(optimizers)):
        header += [f"optimizer.{o}.{s}" for s in (
            "label", "converged_fraction", "final_loss_median", "trajectories_with_plateaus",
            "plateau_steps_median", "fraction_reached", "steps_to_target_median")]
    write_csv(os.path.join(path, "sweep.csv"), header, rows)
    with open(os.path.join(path, "sweep.toml"), "w") as f:
        f.write(f'name = "{name}"\n[sweep]\n' + "".join(
            f'"{k}" = {_toml_value(list(v))}\n' for k, v in keys.items()))
    summary = {"schema_version": 2, "version": "0.2.0", "kind": "sweep", "name": name,
               "keys": names, "points": len(rows),
               "files": ["sweep.toml", "sweep.csv", "summary.json"]}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return path


def default_sweep_stats(v, optimizers):
    """Double-well-like statistics: N = objective.dim, 3^N critical points."""
    N = int(v.get("objective.dim", 3))
    lr = float(v.get("optimizer.0.lr", 0.01))
    crit = 3 ** N
    row = {"distinct_points": crit + 2, "critical_points": crit,
           "saddle_fraction": (crit - 2 ** N - 1) / crit,
           "saddle_fraction_weighted": 0.1 / N, "distinct_minima": 2 ** N,
           "distinct_saddles": crit - 2 ** N - 1, "distinct_maxima": 1,
           "distinct_degenerate": 0, "index_mean": N / 3, "index_median": N // 3,
           "index_max": N, "premature_stops": N}
    for o, lab in enumerate(optimizers):
        row.update({f"optimizer.{o}.label": lab,
                    f"optimizer.{o}.converged_fraction": min(1.0, 0.5 + lr * (o + 1)),
                    f"optimizer.{o}.final_loss_median": -1.47 * N + 0.01 * o,
                    f"optimizer.{o}.trajectories_with_plateaus": 0,
                    f"optimizer.{o}.plateau_steps_median": 0,
                    f"optimizer.{o}.fraction_reached": None,
                    f"optimizer.{o}.steps_to_target_median": None})
    return row
