"""Reading and checking a run directory (docs/run-directory.md).

Everything the figures use is loaded and checked here, before matplotlib is
imported, so that a missing or corrupt file is reported as one line naming
the file and the problem (RunDirError; exit code 2), never as a traceback
from deep inside a figure. Large arrays are memory-mapped.
"""

import csv
import json
import math
import os
import warnings

import numpy as np

try:
    import tomllib
except ImportError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

SCHEMA_VERSION = 1
OUTCOMES = ("converged", "diverged", "max_steps")
CLASSES = ("minimum", "saddle", "maximum", "degenerate", "failed")
SOURCES = ("stop", "plateau", "critical")

TRAJECTORY_COLUMNS = ("optimizer", "trajectory", "outcome", "steps", "f_init", "f_final",
                      "grad_norm_final", "plateau_count", "plateau_steps", "longest_plateau",
                      "first_escape_step")
POINT_COLUMNS = ("point", "source", "optimizer", "trajectory", "step", "f", "grad_norm", "index",
                 "n_zero", "n_pos", "lambda_min", "lambda_max", "class")
DENSITY_COLUMNS = ("group", "bin_lo", "bin_hi", "density")
COMPARISON_COLUMNS = ("optimizer", "trajectories", "converged", "diverged", "max_steps",
                      "reached_target", "fraction_reached", "steps_to_target_median",
                      "steps_to_target_q25", "steps_to_target_q75", "seconds_to_target_median",
                      "plateau_steps_median", "first_escape_step_median", "final_loss_median",
                      "final_loss_q25", "final_loss_q75", "ending_minimum", "ending_saddle",
                      "ending_other", "ending_unanalysed", "trajectory_steps_per_second")


class RunDirError(Exception):
    """A missing or corrupt file of the run directory: names the file and the problem."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


# ---------------------------------------------------------------------------
# File readers


def _read_toml(path):
    if tomllib is None:
        raise RunDirError(path, "cannot read TOML: Python 3.11 (tomllib) or the tomli "
                          "package is needed")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise RunDirError(path, f"not valid TOML: {e}") from None


def _read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RunDirError(path, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RunDirError(path, f"not valid JSON (line {e.lineno}, column {e.colno}: "
                          f"{e.msg})") from None


def _read_csv_fast(path, numeric, text):
    """numpy's C parser for a plain table (no quotes); None when it is not one."""
    import io
    with open(path, "r", encoding="utf-8", newline="") as f:
        data = f.read()
    if '"' in data or "\r" in data:
        return None
    head, sep, body = data.partition("\n")
    if not sep or not body.strip():
        return None
    header = head.split(",")
    if len(set(header)) != len(header):
        return None
    if body.endswith(","):
        body += "nan"
    body = body.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n")
    body = body.replace("\n,", "\nnan,")
    if body.startswith(","):
        body = "nan" + body
    out = {}
    num = [j for j, h in enumerate(header) if h in numeric]
    txt = [j for j, h in enumerate(header) if h in text]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = np.loadtxt(io.StringIO(body), delimiter=",", usecols=num or [0], ndmin=2,
                       comments=None, dtype=np.float64 if num else str)
        rows = a.shape[0]
        for k, j in enumerate(num):
            out[header[j]] = np.ascontiguousarray(a[:, k])
        if txt:
            t = np.loadtxt(io.StringIO(body), delimiter=",", usecols=txt, ndmin=2,
                           comments=None, dtype=str)
            for k, j in enumerate(txt):
                out[header[j]] = np.where(t[:, k] == "nan", "", t[:, k]).astype(str)
    # Same number of cells on every line: numpy's parser checks only the used columns.
    ncells = len(header)
    if body.count("\n") + (0 if body.endswith("\n") else 1) != rows or \
            body.count(",") != rows * (ncells - 1):
        return None
    out["_header"] = header
    out["_rows"] = rows
    return out


def read_csv(path, required, numeric, text=()):
    """Reads a CSV table with a header into {column: array}.

    `numeric` columns become float64 arrays (an empty cell is NaN), `text`
    columns arrays of str; other columns are ignored. Every row must have as
    many cells as the header. Large plain tables go through numpy's C parser;
    anything it refuses is read again cell by cell for an exact message.
    """
    try:
        fast = _read_csv_fast(path, set(numeric), set(text))
    except (ValueError, UnicodeDecodeError, IndexError):
        fast = None
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror}") from None
    if fast is not None:
        missing = [c for c in required if c not in fast["_header"]]
        if not missing:
            del fast["_header"]
            return fast
    try:
        with open(path, "r", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise RunDirError(path, "not UTF-8 text") from None
    except csv.Error as e:
        raise RunDirError(path, f"not valid CSV: {e}") from None
    if not rows:
        raise RunDirError(path, "empty file (no header)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise RunDirError(path, f"header lacks column(s) {', '.join(missing)} "
                          f"(header: {','.join(header)})")
    body = rows[1:]
    if any(len(row) != len(header) for row in body):
        i = next(i for i, row in enumerate(body) if len(row) != len(header))
        raise RunDirError(path, f"line {i + 2}: {len(body[i])} cells, the header has "
                          f"{len(header)} (truncated or corrupt file?)")
    columns = list(zip(*body)) if body else [()] * len(header)
    out = {}
    for j, name in enumerate(header):
        if name not in numeric and name not in text:
            continue
        col = np.array(columns[j], dtype=str) if body else np.array([], dtype=str)
        if name in text:
            out[name] = col
            continue
        col = np.char.strip(col)
        col = np.where(col == "", "nan", col)
        try:
            out[name] = col.astype(np.float64)
        except ValueError:
            for i, c in enumerate(col):
                try:
                    float(c)
                except ValueError:
                    raise RunDirError(path, f"line {i + 2}, column {name}: "
                                      f"not a number: {str(c)!r}") from None
            raise
    out["_rows"] = len(body)
    return out


def _load_npy(path, ndim, what):
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror or e}") from None
    except ValueError as e:
        raise RunDirError(path, f"not a valid .npy array (truncated or corrupt?): {e}") from None
    except Exception as e:  # numpy raises various errors for garbage headers
        raise RunDirError(path, f"not a valid .npy array: {e}") from None
    if not isinstance(a, np.ndarray):
        raise RunDirError(path, "not a .npy array")
    if a.dtype.kind != "f":
        raise RunDirError(path, f"dtype {a.dtype}, expected floating point ({what})")
    if a.ndim != ndim:
        raise RunDirError(path, f"shape {list(a.shape)} has {a.ndim} dimensions, expected "
                          f"{ndim}: {what}")
    return a


def _expect_shape(path, a, shape, what):
    if tuple(a.shape) != tuple(shape):
        raise RunDirError(path, f"shape {list(a.shape)}, expected {list(shape)} ({what})")


# ---------------------------------------------------------------------------


def _get(d, path, key, kind, where):
    """d[key] checked against a type; `where` names the place in the file."""
    if not isinstance(d, dict) or key not in d:
        raise RunDirError(path, f"missing {where}{key}")
    v = d[key]
    if kind == "int" and (isinstance(v, bool) or not isinstance(v, int)):
        raise RunDirError(path, f"{where}{key} = {v!r} is not an integer")
    if kind == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise RunDirError(path, f"{where}{key} = {v!r} is not a number")
    if kind == "str" and not isinstance(v, str):
        raise RunDirError(path, f"{where}{key} = {v!r} is not a string")
    if kind == "list" and not isinstance(v, list):
        raise RunDirError(path, f"{where}{key} is not a list")
    if kind == "dict" and not isinstance(v, dict):
        raise RunDirError(path, f"{where}{key} is not a table")
    return v


def _num(v):
    """A summary.json number (null = NaN) as float."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


class Run:
    """A loaded and checked run directory.

    Attributes (arrays may be memory-mapped; None when the run lacks the file):
      path, config, summary, name, kind, dim, spectrum_dim (N - 1 for p-spin),
      labels (optimizer labels in file order), kinds, lrs, trajectories (B),
      record_every, record_trajectories, records, max_steps,
      traj (trajectories.csv columns; rows optimizer-major), comparison,
      curves [opt, rt, records, 2], paths [opt, rt, records, dim],
      finals [opt, B, dim], points (points.csv columns), spectra [P, N],
      density (density.csv columns), census (summary.json census or None).
    """

    def file(self, name):
        return os.path.join(self.path, name)

    def optimizer_rows(self, o):
        """Row slice of trajectories.csv for optimizer index o."""
        return slice(o * self.trajectories, (o + 1) * self.trajectories)

    @property
    def is_pspin(self):
        return self.kind == "p-spin"

    @property
    def value_name(self):
        return "E = H/N" if self.is_pspin else "f"


def load_run(path):
    """Loads and checks RUN_DIR; raises RunDirError naming the file and the problem."""
    path = os.path.normpath(path)
    if not os.path.exists(path):
        raise RunDirError(path, "no such directory")
    if not os.path.isdir(path):
        raise RunDirError(path, "not a directory (expected a run directory written by "
                          "saddlescope run)")
    run = Run()
    run.path = path
    f = run.file

    if not os.path.exists(f("config.toml")):
        raise RunDirError(f("config.toml"), "missing: this is not a saddlescope run directory")
    if not os.path.exists(f("summary.json")):
        raise RunDirError(f("summary.json"), "missing: the run did not finish (it failed or "
                          "was killed; summary.json is written last); a report needs a "
                          "finished run")
    config = _read_toml(f("config.toml"))
    summary = _read_json(f("summary.json"))
    if not isinstance(summary, dict):
        raise RunDirError(f("summary.json"), "not a JSON object")
    run.config, run.summary = config, summary

    sv = summary.get("schema_version")
    if sv != SCHEMA_VERSION:
        raise RunDirError(f("summary.json"), f"schema_version {sv!r}; this report reads "
                          f"schema_version {SCHEMA_VERSION} (saddlescope 0.1)")
    sp = f("summary.json")
    obj = _get(summary, sp, "objective", "dict", "")
    run.kind = _get(obj, sp, "kind", "str", "objective.")
    run.dim = _get(obj, sp, "dim", "int", "objective.")
    if run.dim < 1:
        raise RunDirError(sp, f"objective.dim = {run.dim} is not positive")
    run.spectrum_dim = run.dim - 1 if run.is_pspin else run.dim
    run.name = str(summary.get("name", os.path.basename(path)))
    run.trajectories = _get(summary, sp, "trajectories", "int", "")
    run.max_steps = _get(summary, sp, "max_steps", "int", "")
    opts = _get(summary, sp, "optimizers", "list", "")
    if not opts:
        raise RunDirError(sp, "optimizers is empty")
    run.labels, run.kinds, run.lrs = [], [], []
    for i, o in enumerate(opts):
        run.labels.append(_get(o, sp, "label", "str", f"optimizers[{i}]."))
        run.kinds.append(_get(o, sp, "kind", "str", f"optimizers[{i}]."))
        run.lrs.append(_num(o.get("lr")))
        for key in ("outcomes", "final_loss", "steps"):
            _get(o, sp, key, "dict", f"optimizers[{i}].")
    run.census = summary.get("census")
    if run.census is not None and not isinstance(run.census, dict):
        raise RunDirError(sp, "census is not a table")
    files = summary.get("files", [])
    if not isinstance(files, list):
        raise RunDirError(sp, "files is not a list")
    run.files_listed = [str(x) for x in files]
    for name in run.files_listed:
        if "/" in name or name.startswith("."):
            continue
        if not os.path.exists(f(name)):
            raise RunDirError(f(name), "missing, but summary.json lists it in files "
                              "(deleted or moved?)")

    cp = f("config.toml")
    rcfg = _get(config, cp, "run", "dict", "")
    run.record_every = _get(rcfg, cp, "record_every", "int", "run.")
    if run.record_every < 1:
        raise RunDirError(cp, f"run.record_every = {run.record_every} is not positive")
    run.record_trajectories = int(rcfg.get("record_trajectories", min(64, run.trajectories)))
    run.records = run.max_steps // run.record_every + 1
    run.target_loss = _num(summary.get("target_loss"))
    ocfg = config.get("optimizer", [])
    if isinstance(ocfg, list) and len(ocfg) != len(run.labels):
        raise RunDirError(cp, f"{len(ocfg)} [[optimizer]] sections, summary.json has "
                          f"{len(run.labels)} optimizers")
    run.optimizer_config = ocfg if isinstance(ocfg, list) else []
    run.objective_config = config.get("objective", {}) if isinstance(
        config.get("objective"), dict) else {}
    run.plateau_rule = summary.get("plateau_rule") or config.get("plateau") or {}

    nopt, B = len(run.labels), run.trajectories

    # trajectories.csv (always written)
    tp = f("trajectories.csv")
    if not os.path.exists(tp):
        raise RunDirError(tp, "missing (every finished run writes it)")
    numeric = set(TRAJECTORY_COLUMNS) - {"optimizer", "outcome"} | {"steps_to_target"}
    traj = read_csv(tp, TRAJECTORY_COLUMNS, numeric, text=("optimizer", "outcome"))
    if traj["_rows"] != nopt * B:
        raise RunDirError(tp, f"{traj['_rows']} rows, expected {nopt * B} ({nopt} optimizers "
                          f"x {B} trajectories; truncated?)")
    for o, label in enumerate(run.labels):
        got = traj["optimizer"][run.optimizer_rows(o)]
        if got.size and not np.all(got == label):
            bad = int(np.argmax(got != label)) + o * B
            raise RunDirError(tp, f"line {bad + 2}: optimizer {got[bad - o * B]!r}, expected "
                              f"{label!r} (rows are optimizer-major, in summary.json's order)")
    bad = ~np.isin(traj["outcome"], OUTCOMES)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise RunDirError(tp, f"line {i + 2}: outcome {traj['outcome'][i]!r} is not one of "
                          f"{', '.join(OUTCOMES)}")
    run.traj = traj

    # comparison.csv
    run.comparison = None
    if os.path.exists(f("comparison.csv")):
        cmp_ = read_csv(f("comparison.csv"), COMPARISON_COLUMNS,
                        set(COMPARISON_COLUMNS) - {"optimizer"}, text=("optimizer",))
        if cmp_["_rows"] != nopt or list(cmp_["optimizer"]) != run.labels:
            raise RunDirError(f("comparison.csv"), f"optimizers {list(cmp_['optimizer'])}, "
                              f"expected {run.labels}")
        run.comparison = cmp_

    # curves.npy [opt, rt, records, 2]
    run.curves = None
    if os.path.exists(f("curves.npy")):
        c = _load_npy(f("curves.npy"), 4, "[optimizers, record_trajectories, records, 2]")
        rt = c.shape[1]
        _expect_shape(f("curves.npy"), c, (nopt, rt, run.records, 2),
                      "[optimizers, record_trajectories, records = max_steps // record_every "
                      "+ 1, 2]")
        if rt > B:
            raise RunDirError(f("curves.npy"), f"{rt} recorded trajectories, more than the "
                              f"{B} trajectories")
        run.record_trajectories = rt
        run.curves = c

    # paths.npy [opt, rt, records, dim]
    run.paths = None
    if os.path.exists(f("paths.npy")):
        p = _load_npy(f("paths.npy"), 4, "[optimizers, record_trajectories, records, dim]")
        _expect_shape(f("paths.npy"), p, (nopt, p.shape[1], run.records, run.dim),
                      "[optimizers, record_trajectories, records, dim]")
        if run.curves is not None and p.shape[1] != run.curves.shape[1]:
            raise RunDirError(f("paths.npy"), f"{p.shape[1]} trajectories, curves.npy has "
                              f"{run.curves.shape[1]}")
        run.paths = p

    # finals.npy [opt, B, dim]
    run.finals = None
    if os.path.exists(f("finals.npy")):
        fin = _load_npy(f("finals.npy"), 3, "[optimizers, trajectories, dim]")
        _expect_shape(f("finals.npy"), fin, (nopt, B, run.dim), "[optimizers, trajectories, dim]")
        run.finals = fin

    # points.csv, spectra.npy, density.csv (a census)
    run.points = run.spectra = run.density = None
    if os.path.exists(f("points.csv")):
        pts = read_csv(f("points.csv"), POINT_COLUMNS,
                       set(POINT_COLUMNS) - {"source", "optimizer", "class"},
                       text=("source", "optimizer", "class"))
        bad = ~np.isin(pts["source"], SOURCES)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise RunDirError(f("points.csv"), f"line {i + 2}: source {pts['source'][i]!r} is "
                              f"not one of {', '.join(SOURCES)}")
        bad = ~np.isin(pts["class"], CLASSES)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise RunDirError(f("points.csv"), f"line {i + 2}: class {pts['class'][i]!r} is "
                              f"not one of {', '.join(CLASSES)}")
        run.points = pts
    if os.path.exists(f("spectra.npy")):
        s = _load_npy(f("spectra.npy"), 2, "[points, N]")
        if run.points is None:
            raise RunDirError(f("spectra.npy"), "present without points.csv (its rows are "
                              "points.csv's rows)")
        what = ("[points, N - 1] (p-spin: tangent directions)" if run.is_pspin
                else "[points, N]")
        _expect_shape(f("spectra.npy"), s, (run.points["_rows"], run.spectrum_dim),
                      f"{what}, one row per points.csv row")
        run.spectra = s
    if os.path.exists(f("density.csv")):
        d = read_csv(f("density.csv"), DENSITY_COLUMNS, {"bin_lo", "bin_hi", "density"},
                     text=("group",))
        finite = np.isfinite(d["bin_lo"]) & np.isfinite(d["bin_hi"]) & np.isfinite(d["density"])
        if not np.all(finite):
            i = int(np.argmax(~finite))
            raise RunDirError(f("density.csv"), f"line {i + 2}: non-finite bin or density")
        if np.any(d["density"] < 0) or np.any(d["bin_hi"] < d["bin_lo"]):
            i = int(np.argmax((d["density"] < 0) | (d["bin_hi"] < d["bin_lo"])))
            raise RunDirError(f("density.csv"), f"line {i + 2}: negative density or a bin "
                              "with bin_hi < bin_lo")
        run.density = d
    return run


def quantile_fields(q):
    """A summary.json quantiles object as floats (NaN for null)."""
    if not isinstance(q, dict):
        return {k: math.nan for k in ("count", "min", "q25", "median", "q75", "max")}
    return {k: _num(q.get(k)) for k in ("count", "min", "q25", "median", "q75", "max")}


def number(v):
    """summary.json number (null -> NaN)."""
    return _num(v)
