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

SCHEMA_VERSION = 2            # what the report reads (docs/run-directory.md "Changes")
SCHEMA_VERSIONS = (1, 2)      # 1: before distinct points; read with fallbacks
OUTCOMES = ("converged", "diverged", "max_steps")
FINDER_OUTCOMES = ("converged", "stalled", "max_steps", "diverged")
CLASSES = ("minimum", "saddle", "maximum", "degenerate", "failed")
SOURCES = ("stop", "plateau", "critical")
TOL_RULES = ("zero_tol", "backward_error", "second_order")

TRAJECTORY_COLUMNS = ("optimizer", "trajectory", "outcome", "steps", "f_init", "f_final",
                      "grad_norm_final", "plateau_count", "plateau_steps", "longest_plateau",
                      "first_escape_step")
POINT_COLUMNS = ("point", "source", "optimizer", "trajectory", "step", "f", "grad_norm", "index",
                 "n_zero", "n_pos", "lambda_min", "lambda_max", "class")
# schema 2 additions to points.csv; distinct_id is required when distinct.csv exists
POINT_COLUMNS_2 = ("distinct_id", "critical", "crit_threshold", "lambda_tol", "rho", "f_field")
# The Krylov methods' columns (docs/run-directory.md "points.csv": present when summary.json
# census.method is lanczos or slq; empty cells allowed, e.g. the estimates under lanczos)
POINT_COLUMNS_KRYLOV = ("index_certified", "lanczos_steps", "converged", "index_estimate",
                        "index_stderr", "trace_estimate", "trace_stderr")
KRYLOV_METHODS = ("lanczos", "slq")
DISTINCT_COLUMNS = ("distinct_id", "representative", "source", "optimizer", "f", "critical",
                    "index", "class", "multiplicity", "mult_stop", "mult_plateau",
                    "mult_critical")
DISTINCT_OPTIONAL = ("trajectory", "f_field", "grad_norm", "n_zero", "n_pos", "lambda_min",
                     "lambda_max", "lambda_tol", "members_agree")
FINDER_COLUMNS = ("start", "outcome", "steps")
FINDER_OPTIONAL = ("f", "grad_norm", "point", "distinct_id")
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


def _csv_rows(path):
    """All rows of a CSV file (header first); RunDirError when unreadable or empty."""
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
    return rows


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
    rows = _csv_rows(path)
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
      path, config, summary, schema (1 or 2), name, kind, dim, spectrum_dim (N - 1 for
      p-spin), labels (optimizer labels in file order; empty for a finder-only run), kinds,
      lrs, trajectories (B), record_every, record_trajectories, records, max_steps,
      traj (trajectories.csv columns; rows optimizer-major), comparison,
      curves [opt, rt, records, 2], paths [opt, rt, records, dim],
      finals [opt, B, dim], points (points.csv columns), distinct (distinct.csv columns,
      with "_mult_groups": the mult:<group> columns), finder (finder.csv columns),
      spectra [P, N], density (density.csv columns), census (summary.json census or None),
      finder_kind, finder_starts (None without a finder),
      ritz [P, 2k, 2] (lanczos), quadrature [P, probes, lanczos_steps, 2] (slq),
      sharpness [opt, rt, max_steps // sharpness_every + 1, 2], sharpness_every (0: off).
    points has the Krylov columns (POINT_COLUMNS_KRYLOV) when the census method is lanczos
    or slq (docs/run-directory.md "points.csv").
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
    def is_network(self):
        """The network kinds, whose value is a training loss."""
        return self.kind in ("network", "mlp", "deep-linear")

    @property
    def value_name(self):
        return "E = H/N" if self.is_pspin else "f"

    @property
    def finder_only(self):
        return not self.labels

    @property
    def census_method(self):
        """summary.json census.method (eigh, inertia, lanczos, slq), or None."""
        cen = self.census if isinstance(self.census, dict) else {}
        m = cen.get("method")
        return m if isinstance(m, str) else None

    @property
    def krylov(self):
        """True when points.csv has the Krylov methods' columns (lanczos, slq)."""
        return self.points is not None and "index_certified" in self.points

    def index_bound(self):
        """(lower_bound, certified, points) for a Krylov census: whether any index is a
        lower bound (summary.json census.index_is_lower_bound, else points.csv's
        index_certified), how many points were certified and how many were analysed;
        None for eigh and inertia, whose counts are exact (docs/experiment.md "Counts and
        certification")."""
        if not self.krylov:
            return None
        pts = self.points
        n_cert = int(np.sum(pts["index_certified"] > 0.5))
        n = int(pts["_rows"])
        cen = self.census if isinstance(self.census, dict) else {}
        lb = cen.get("index_is_lower_bound")
        if not isinstance(lb, bool):
            lb = n_cert < n
        cp = cen.get("certified_points")
        if isinstance(cp, int) and not isinstance(cp, bool):
            n_cert = cp
        return lb, n_cert, n

    @property
    def crit_tol(self):
        """The census's crit_tol (summary.json census.tolerances, or census.crit_tol in
        schema 1); NaN when unknown."""
        cen = self.census if isinstance(self.census, dict) else {}
        tol = cen.get("tolerances")
        if isinstance(tol, dict) and "crit_tol" in tol:
            return _num(tol.get("crit_tol"))
        if "crit_tol" in cen:
            return _num(cen.get("crit_tol"))
        a = self.config.get("analysis", {}) if isinstance(self.config, dict) else {}
        return _num(a.get("crit_tol", 1e-4)) if isinstance(a, dict) and a else math.nan

    def distinct_table(self):
        """The distinct points: distinct.csv, or (schema 1, no distinct.csv) every analysed
        point as its own distinct point of multiplicity 1. None without a census.

        A dict of arrays: index, class, source, optimizer, f, f_field, critical (bool),
        multiplicity, mult_stop, mult_plateau, mult_critical, and "merged" (True when
        read from distinct.csv)."""
        if self.distinct is not None:
            d = self.distinct
            D = d["_rows"]
            out = {k: d[k] for k in ("index", "class", "source", "optimizer", "f",
                                     "multiplicity", "mult_stop", "mult_plateau",
                                     "mult_critical")}
            out["f_field"] = d["f_field"] if "f_field" in d else np.full(D, np.nan)
            out["critical"] = d["critical"] > 0.5
            out["merged"] = True
            out["rows"] = D
            return out
        pts = self.points
        if pts is None:
            return None
        P = pts["_rows"]
        src = pts["source"]
        if "critical" in pts:
            crit = pts["critical"] > 0.5
        else:
            tol = self.crit_tol
            crit = pts["grad_norm"] <= (tol if np.isfinite(tol) else 1e-4)
        one = np.ones(P)
        return {"index": pts["index"], "class": pts["class"], "source": src,
                "optimizer": pts["optimizer"], "f": pts["f"],
                "f_field": pts["f_field"] if "f_field" in pts else np.full(P, np.nan),
                "critical": crit, "multiplicity": one,
                "mult_stop": (src == "stop").astype(float),
                "mult_plateau": (src == "plateau").astype(float),
                "mult_critical": (src == "critical").astype(float),
                "merged": False, "rows": P}


def _header(path):
    """The header cells of a CSV file ([] when empty)."""
    try:
        with open(path, "r", encoding="utf-8", newline="") as f:
            row = next(csv.reader(f), [])
    except OSError as e:
        raise RunDirError(path, f"cannot read: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error):
        return []
    return [h.strip() for h in row]


def _check_member(path, col, values, allowed, what):
    bad = ~np.isin(values, allowed)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise RunDirError(path, f"line {i + 2}: {what} {values[i]!r} is not one of "
                          f"{', '.join(allowed)}")


def _check_ids(path, col, values, n, what, allow_empty=False):
    """Integer ids in 0 .. n - 1 (empty cells allowed when allow_empty)."""
    v = np.asarray(values, float)
    ok = np.isfinite(v)
    if not allow_empty and not np.all(ok):
        i = int(np.argmax(~ok))
        raise RunDirError(path, f"line {i + 2}, column {col}: empty ({what})")
    w = v[ok]
    bad = (w != np.round(w)) | (w < 0) | (w >= n)
    if np.any(bad):
        i = int(np.nonzero(ok)[0][np.argmax(bad)])
        raise RunDirError(path, f"line {i + 2}, column {col}: {v[i]:g} is not a row of "
                          f"{what} (0 .. {n - 1})")


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

    if os.path.exists(f("sweep.toml")) and not os.path.exists(f("summary.json")):
        raise RunDirError(f("summary.json"), "missing: the sweep did not finish (summary.json "
                          "is written last; continue it with saddlescope run --resume)")
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
    if sv not in SCHEMA_VERSIONS or isinstance(sv, bool):
        raise RunDirError(f("summary.json"), f"schema_version {sv!r}; this report reads "
                          f"schema_version {SCHEMA_VERSION} (saddlescope 0.2) and 1 "
                          "(saddlescope 0.1)")
    run.schema = sv
    sp = f("summary.json")
    if summary.get("kind") == "sweep":
        raise RunDirError(sp, "a sweep (kind = \"sweep\"), not a single run: report it as a "
                          "sweep (saddlescope report RUN_DIR does)")
    obj = _get(summary, sp, "objective", "dict", "")
    run.kind = _get(obj, sp, "kind", "str", "objective.")
    run.dim = _get(obj, sp, "dim", "int", "objective.")
    if run.dim < 1:
        raise RunDirError(sp, f"objective.dim = {run.dim} is not positive")
    run.spectrum_dim = run.dim - 1 if run.is_pspin else run.dim
    run.name = str(summary.get("name", os.path.basename(path)))
    opts = _get(summary, sp, "optimizers", "list", "")
    if not opts and sv < 2:
        raise RunDirError(sp, "optimizers is empty")
    if opts:
        run.trajectories = _get(summary, sp, "trajectories", "int", "")
        run.max_steps = _get(summary, sp, "max_steps", "int", "")
    else:  # a finder-only run: no trajectories
        t, m = summary.get("trajectories", 0), summary.get("max_steps", 0)
        run.trajectories = t if isinstance(t, int) and not isinstance(t, bool) else 0
        run.max_steps = m if isinstance(m, int) and not isinstance(m, bool) else 0
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
    fcfg = config.get("finder") if isinstance(config.get("finder"), dict) else {}
    cfin = run.census.get("finder") if isinstance(run.census, dict) else None
    cfin = cfin if isinstance(cfin, dict) else {}
    kind = cfin.get("kind", fcfg.get("kind"))
    run.finder_kind = kind if isinstance(kind, str) and kind != "none" else None
    starts = cfin.get("starts", fcfg.get("starts"))
    run.finder_starts = (starts if run.finder_kind and isinstance(starts, int)
                         and not isinstance(starts, bool) else None)
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
    rcfg = config.get("run", {}) if not opts else _get(config, cp, "run", "dict", "")
    rcfg = rcfg if isinstance(rcfg, dict) else {}
    if opts or "record_every" in rcfg:
        run.record_every = _get(rcfg, cp, "record_every", "int", "run.")
    else:
        run.record_every = 1
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

    # trajectories.csv (always written; only its header for a finder-only run)
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
    _check_member(tp, "outcome", traj["outcome"], OUTCOMES, "outcome")
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
        if nopt == 0:  # a finder-only run: [0, 0, records, 2]
            _expect_shape(f("curves.npy"), c, (0, 0, c.shape[2], 2),
                          "[0, 0, records, 2]: the run has no optimizer")
        else:
            _expect_shape(f("curves.npy"), c, (nopt, rt, run.records, 2),
                          "[optimizers, record_trajectories, records = max_steps // "
                          "record_every + 1, 2]")
        if rt > B:
            raise RunDirError(f("curves.npy"), f"{rt} recorded trajectories, more than the "
                              f"{B} trajectories")
        run.record_trajectories = rt
        run.curves = c

    # paths.npy [opt, rt, records, dim]
    run.paths = None
    if os.path.exists(f("paths.npy")):
        p = _load_npy(f("paths.npy"), 4, "[optimizers, record_trajectories, records, dim]")
        _expect_shape(f("paths.npy"), p, (nopt, p.shape[1], p.shape[2] if nopt == 0 else
                                          run.records, run.dim),
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

    # points.csv, distinct.csv, finder.csv, spectra.npy, density.csv (a census)
    run.points = run.distinct = run.finder = run.spectra = run.density = None
    has_distinct = os.path.exists(f("distinct.csv"))
    if os.path.exists(f("points.csv")):
        pp = f("points.csv")
        required = POINT_COLUMNS + (("distinct_id",) if has_distinct else ())
        method = run.census_method
        if method in KRYLOV_METHODS:  # docs/run-directory.md "points.csv": seven columns
            required += POINT_COLUMNS_KRYLOV
        try:
            pts = read_csv(pp, required,
                           set(POINT_COLUMNS + POINT_COLUMNS_2 + POINT_COLUMNS_KRYLOV)
                           - {"source", "optimizer", "class"},
                           text=("source", "optimizer", "class", "tol_rule"))
        except RunDirError as e:
            if method in KRYLOV_METHODS and "header lacks" in e.problem:
                raise RunDirError(pp, f"{e.problem}; summary.json census.method = "
                                  f"{method!r} writes {', '.join(POINT_COLUMNS_KRYLOV)}") \
                    from None
            raise
        _check_member(pp, "source", pts["source"], SOURCES, "source")
        _check_member(pp, "class", pts["class"], CLASSES, "class")
        if "tol_rule" in pts:
            rule = pts["tol_rule"]
            _check_member(pp, "tol_rule", rule[rule != ""], TOL_RULES, "tol_rule")
        _check_krylov_columns(pp, pts)
        run.points = pts
    if has_distinct:
        dp = f("distinct.csv")
        if run.points is None:
            raise RunDirError(dp, "present without points.csv (it describes points.csv's "
                              "rows)")
        groups = [h for h in _header(dp) if h.startswith("mult:")]
        d = read_csv(dp, DISTINCT_COLUMNS,
                     set(DISTINCT_COLUMNS + DISTINCT_OPTIONAL + tuple(groups))
                     - {"source", "optimizer", "class"},
                     text=("source", "optimizer", "class"))
        D = d["_rows"]
        if not np.array_equal(d["distinct_id"], np.arange(D)):
            i = int(np.argmax(d["distinct_id"] != np.arange(D)))
            raise RunDirError(dp, f"line {i + 2}: distinct_id {d['distinct_id'][i]:g}, "
                              f"expected {i} (rows are numbered 0 .. D - 1)")
        _check_ids(dp, "representative", d["representative"], run.points["_rows"],
                   "points.csv")
        _check_member(dp, "source", d["source"], SOURCES, "source")
        _check_member(dp, "class", d["class"], CLASSES, "class")
        for col in ("multiplicity", "mult_stop", "mult_plateau", "mult_critical"):
            v = d[col]
            bad = ~(v >= 0)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise RunDirError(dp, f"line {i + 2}, column {col}: {v[i]:g} is not a count")
        d["_mult_groups"] = [g[len("mult:"):] for g in groups]
        _check_ids(f("points.csv"), "distinct_id", run.points["distinct_id"], D, "distinct.csv")
        run.distinct = d
    if os.path.exists(f("finder.csv")):
        fp = f("finder.csv")
        fc = read_csv(fp, FINDER_COLUMNS, set(FINDER_COLUMNS + FINDER_OPTIONAL) - {"outcome"},
                      text=("outcome",))
        _check_member(fp, "outcome", fc["outcome"], FINDER_OUTCOMES, "outcome")
        if "point" in fc and run.points is not None:
            _check_ids(fp, "point", fc["point"], run.points["_rows"], "points.csv",
                       allow_empty=True)
        if "distinct_id" in fc and run.distinct is not None:
            _check_ids(fp, "distinct_id", fc["distinct_id"], run.distinct["_rows"],
                       "distinct.csv", allow_empty=True)
        run.finder = fc
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
    _load_krylov_arrays(run)
    _load_sharpness(run, rcfg)
    return run


def _check_krylov_columns(path, pts):
    """points.csv's Krylov columns, where present: flags 0 or 1, step counts, standard
    errors and index estimates not negative; empty cells allowed (docs/run-directory.md
    "points.csv")."""
    for col in ("index_certified", "converged"):
        if col in pts:
            v = pts[col]
            bad = np.isfinite(v) & (v != 0) & (v != 1) | np.isinf(v)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise RunDirError(path, f"line {i + 2}, column {col}: {v[i]:g} is not 0 or 1")
    if "lanczos_steps" in pts:
        v = pts["lanczos_steps"]
        bad = ~np.isnan(v) & ~((v >= 0) & (v == np.round(v)) & np.isfinite(v))
        if np.any(bad):
            i = int(np.argmax(bad))
            raise RunDirError(path, f"line {i + 2}, column lanczos_steps: {v[i]:g} is not a "
                              "step count")
    for col in ("index_estimate", "index_stderr", "trace_stderr"):
        if col in pts:
            v = pts[col]
            bad = ~np.isnan(v) & ~((v >= 0) & np.isfinite(v))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise RunDirError(path, f"line {i + 2}, column {col}: {v[i]:g} is negative "
                                  "or not finite")


def _census_setting(run, key):
    """A Krylov setting (k, probes, lanczos_steps): summary.json census, else config.toml
    [analysis]; None when neither holds an integer."""
    for d in (run.census, run.config.get("analysis") if isinstance(run.config, dict) else None):
        v = d.get(key) if isinstance(d, dict) else None
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _load_krylov_arrays(run):
    """ritz.npy [points, 2k, 2] and quadrature.npy [points, probes, lanczos_steps, 2]
    (docs/run-directory.md "ritz.npy and quadrature.npy")."""
    f = run.file
    run.ritz = run.quadrature = None
    P = run.points["_rows"] if run.points is not None else None
    if os.path.exists(f("ritz.npy")):
        rp = f("ritz.npy")
        r = _load_npy(rp, 3, "[points, 2k, 2]")
        if P is None:
            raise RunDirError(rp, "present without points.csv (its rows are points.csv's rows)")
        k = _census_setting(run, "k")
        if k is not None:
            _expect_shape(rp, r, (P, 2 * k, 2), f"[points, 2k, 2] with k = {k}: the k lowest "
                          "and k highest Ritz values and their residuals, one row per "
                          "points.csv row")
        else:
            _expect_shape(rp, r, (P, r.shape[1] - r.shape[1] % 2, 2),
                          "[points, 2k, 2], one row per points.csv row")
        run.ritz = r
    if os.path.exists(f("quadrature.npy")):
        qp = f("quadrature.npy")
        q = _load_npy(qp, 4, "[points, probes, lanczos_steps, 2]")
        if P is None:
            raise RunDirError(qp, "present without points.csv (its rows are points.csv's "
                              "rows)")
        probes = _census_setting(run, "probes")
        steps = _census_setting(run, "lanczos_steps")
        _expect_shape(qp, q, (P, probes if probes is not None else q.shape[1],
                              steps if steps is not None else q.shape[2], 2),
                      f"[points, probes{f' = {probes}' if probes is not None else ''}, "
                      f"lanczos_steps{f' = {steps}' if steps is not None else ''}, 2]: each "
                      "probe's quadrature nodes and weights, one row per points.csv row")
        run.quadrature = q


def _load_sharpness(run, rcfg):
    """sharpness.npy [optimizers, record_trajectories, max_steps // sharpness_every + 1, 2]
    (docs/run-directory.md "sharpness.npy"; run.sharpness_every from config.toml)."""
    f = run.file
    run.sharpness = None
    every = rcfg.get("sharpness_every", 0)
    run.sharpness_every = every if isinstance(every, int) and not isinstance(every, bool) \
        and every > 0 else 0
    sp = f("sharpness.npy")
    if not os.path.exists(sp):
        return
    a = _load_npy(sp, 4, "[optimizers, record_trajectories, max_steps / sharpness_every + 1, "
                  "2]")
    if not run.sharpness_every:
        raise RunDirError(sp, f"present, but config.toml has run.sharpness_every = {every!r} "
                          "(a positive step spacing is needed to read it)")
    nopt = len(run.labels)
    rt = run.curves.shape[1] if run.curves is not None else min(run.record_trajectories,
                                                                 run.trajectories)
    m = run.max_steps // run.sharpness_every + 1
    _expect_shape(sp, a, (nopt, rt, m, 2),
                  f"[optimizers, record_trajectories, max_steps / sharpness_every + 1 = "
                  f"{run.max_steps} / {run.sharpness_every} + 1, 2]: (largest, smallest) "
                  "eigenvalue of the recorded trajectories")
    run.sharpness = a


def quantile_fields(q):
    """A summary.json quantiles object as floats (NaN for null)."""
    if not isinstance(q, dict):
        return {k: math.nan for k in ("count", "min", "q25", "median", "q75", "max")}
    return {k: _num(q.get(k)) for k in ("count", "min", "q25", "median", "q75", "max")}


def number(v):
    """summary.json number (null -> NaN)."""
    return _num(v)


# ---------------------------------------------------------------------------
# Sweeps (docs/run-directory.md "Sweeps")

SWEEP_STATS = ("distinct_points", "critical_points", "saddle_fraction",
               "saddle_fraction_weighted", "distinct_minima", "distinct_saddles",
               "distinct_maxima", "distinct_degenerate", "index_mean", "index_median",
               "index_max", "premature_stops")
SWEEP_OPTIMIZER_STATS = ("label", "converged_fraction", "final_loss_median",
                         "trajectories_with_plateaus", "plateau_steps_median",
                         "fraction_reached", "steps_to_target_median")


def is_sweep(path):
    """True when PATH is a sweep's run directory (summary.json kind "sweep", or a
    sweep.toml without summary.json: an unfinished sweep)."""
    path = os.path.normpath(path)
    sp = os.path.join(path, "summary.json")
    if os.path.exists(sp):
        try:
            with open(sp, "r", encoding="utf-8") as f:
                s = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False  # load_run reports it
        return isinstance(s, dict) and s.get("kind") == "sweep"
    return os.path.exists(os.path.join(path, "sweep.toml"))


class Sweep:
    """A loaded sweep directory.

    path, summary, name, keys (swept keys in file order), points (count in summary.json),
    rows (sweep.csv rows), columns (header), cells {column: [str]}, values {column: array
    float64 with NaN for empty or non-numeric cells}, numeric {column: bool: every
    non-empty cell is a number}, optimizers (indices i with optimizer.<i>.* columns),
    optimizer_labels {i: label}.
    """

    def file(self, name):
        return os.path.join(self.path, name)


def load_sweep(path):
    """Loads and checks a sweep directory; raises RunDirError naming the file."""
    path = os.path.normpath(path)
    if not os.path.isdir(path):
        raise RunDirError(path, "no such directory")
    sw = Sweep()
    sw.path = path
    sp = sw.file("summary.json")
    if not os.path.exists(sp):
        raise RunDirError(sp, "missing: the sweep did not finish (summary.json is written "
                          "last; continue it with saddlescope run --resume)")
    s = _read_json(sp)
    if not isinstance(s, dict):
        raise RunDirError(sp, "not a JSON object")
    sv = s.get("schema_version")
    if sv != SCHEMA_VERSION or isinstance(sv, bool):
        raise RunDirError(sp, f"schema_version {sv!r}; this report reads sweeps of "
                          f"schema_version {SCHEMA_VERSION} (saddlescope 0.2)")
    if s.get("kind") != "sweep":
        raise RunDirError(sp, f"kind {s.get('kind')!r}, expected \"sweep\"")
    sw.summary = s
    sw.name = str(s.get("name", os.path.basename(path)))
    keys = _get(s, sp, "keys", "list", "")
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise RunDirError(sp, f"keys = {keys!r}: expected a non-empty list of swept keys")
    sw.keys = list(keys)
    npts = s.get("points")
    sw.points = npts if isinstance(npts, int) and not isinstance(npts, bool) else None
    cp = sw.file("sweep.csv")
    if not os.path.exists(cp):
        raise RunDirError(cp, "missing (a sweep writes it after every point)")
    rows = _csv_rows(cp)
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("point", "dir", *sw.keys) if c not in header]
    if missing:
        raise RunDirError(cp, f"header lacks column(s) {', '.join(missing)} (header: "
                          f"{','.join(header)})")
    body = [r for r in rows[1:] if r]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise RunDirError(cp, f"line {i + 2}: {len(r)} cells, the header has "
                              f"{len(header)} (truncated or corrupt file?)")
    sw.columns = header
    sw.rows = len(body)
    sw.cells = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    sw.values, sw.numeric = {}, {}
    for h in header:
        vals, numeric = [], True
        for c in sw.cells[h]:
            if c == "" or c.lower() in ("null", "nan"):
                vals.append(math.nan)
                continue
            try:
                vals.append(float(c))
            except ValueError:
                vals.append(math.nan)
                numeric = False
        sw.values[h] = np.array(vals, dtype=np.float64)
        sw.numeric[h] = numeric
    pts = sw.values["point"]
    if not np.all(np.isfinite(pts)) or np.any(pts != np.round(pts)) or np.any(pts < 0):
        i = int(np.argmax(~(np.isfinite(pts) & (pts == np.round(pts)) & (pts >= 0))))
        raise RunDirError(cp, f"line {i + 2}, column point: {sw.cells['point'][i]!r} is not a "
                          "point number")
    for i, d in enumerate(sw.cells["dir"]):
        if d.startswith("/") or ".." in d.split("/"):
            raise RunDirError(cp, f"line {i + 2}, column dir: {d!r} is not a folder inside "
                              "the sweep directory")
    opt = set()
    for h in header:
        parts = h.split(".")
        if len(parts) == 3 and parts[0] == "optimizer" and parts[1].isdigit() and \
                parts[2] in SWEEP_OPTIMIZER_STATS and h not in sw.keys:
            opt.add(int(parts[1]))
    sw.optimizers = sorted(opt)
    sw.optimizer_labels = {}
    for i in sw.optimizers:
        labels = [c for c in sw.cells.get(f"optimizer.{i}.label", []) if c]
        sw.optimizer_labels[i] = labels[0] if labels and len(set(labels)) == 1 else (
            f"optimizer {i}" if not labels else " / ".join(dict.fromkeys(labels)))
    return sw
