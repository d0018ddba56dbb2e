# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/analysis_tools/analyze_logs.py for MMEngine's scalar logs.
"""Plot training curves and summarise iteration times from MMEngine's JSON scalar logs.

Same two sub-commands as mmdet's ``analyze_logs.py``::

    python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...] \
        [--keys loss loss_mask_fused] [--legend A B] [--title T] [--style whitegrid] \
        [--subplots] [--out curves.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG [LOG ...] [--include-outliers]

A ``LOG`` is any of:

* the scalar file ``<work_dir>/<timestamp>/vis_data/scalars.json``;
* the timestamped log ``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (same content;
  the path mmdet users pass);
* a run folder ``<work_dir>/<timestamp>`` or a work dir ``<work_dir>`` (its newest run that
  has a ``vis_data/scalars.json``).

Each line of such a log is one ``add_scalars`` call: training lines carry ``iter`` (and
``lr``, ``loss``, ``loss_*``, ``time``, ``data_time``), validation lines carry the metrics
(``cIoU``, ``refcoco/cIoU``, ``J&F`` ...). Training curves are drawn against the iteration;
a validation metric is drawn, with markers, at the iteration at which the validation ran
(the training iteration logged just before it: MMEngine writes ``step=0`` for validation
when it logs metrics by epoch).

``--keys`` takes names or shell-style patterns (``'loss*'``: every loss term of the run).
Only matplotlib is needed (seaborn's style names work without seaborn, through
matplotlib's ``seaborn-v0_8-*`` styles).
"""
import argparse
import fnmatch
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

#: Keys of a training line that are bookkeeping, not curves.
BOOKKEEPING_KEYS = ('step', 'iter', 'epoch')
#: Run folders MMEngine creates under a work dir.
TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
#: seaborn's style names (mmdet's ``--style dark``) -> matplotlib's copies of them.
SEABORN_STYLES = ('dark', 'darkgrid', 'white', 'whitegrid', 'ticks')


class ScalarLog:
    """One run's scalars, split into training and validation series.

    Attributes:
        path: The JSON file read.
        name: The run as given on the command line (default legend prefix).
        train: ``{key: (iterations, values)}`` of the training lines.
        val: ``{key: (iterations, values)}`` of the validation lines; the iteration is the
            one of the training line logged before (or the line's own ``step`` when none was).
        epochs: ``iterations -> epoch`` of the training lines that carry ``epoch``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path
        self.train: Dict[str, Tuple[List[int], List[float]]] = {}
        self.val: Dict[str, Tuple[List[int], List[float]]] = {}
        self.epochs: Dict[int, int] = {}

    def keys(self) -> List[str]:
        return sorted(set(self.train) | set(self.val))

    def series(self, key: str) -> Tuple[List[int], List[float], bool]:
        """``(iterations, values, is_validation)`` of ``key``.

        Raises:
            KeyError: The run has no such key (the message lists the keys it has).
        """
        if key in self.train:
            return (*self.train[key], False)
        if key in self.val:
            return (*self.val[key], True)
        raise KeyError(f'{self.path} has no key {key!r}; its keys: {", ".join(self.keys())}'
                       ' (validation metrics appear only when the run validated)')

    def expand(self, patterns: Sequence[str]) -> List[str]:
        """Names and shell-style patterns -> the run's keys, in the order given.

        Raises:
            KeyError: A name the run lacks, or a pattern that matches none of its keys.
        """
        keys: List[str] = []
        for pattern in patterns:
            if any(c in pattern for c in '*?['):
                matched = [k for k in self.keys() if fnmatch.fnmatchcase(k, pattern)]
                if not matched:
                    raise KeyError(f'{self.path}: no key matches {pattern!r}; its keys: '
                                   f'{", ".join(self.keys())}')
            else:
                self.series(pattern)  # raises, naming the run's keys
                matched = [pattern]
            keys += [k for k in matched if k not in keys]
        return keys


def resolve_log(path: str) -> str:
    """A log argument (file, run folder or work dir) -> the JSON file to read.

    Raises:
        FileNotFoundError: Nothing there, or a folder without any ``vis_data/scalars.json``.
        ValueError: A file that is not ``.json`` (a ``.log`` text log, a ``.pkl``).
    """
    if osp.isfile(path):
        if not path.endswith('.json'):
            raise ValueError(f'{path}: not a JSON scalar log; pass <work_dir>/<timestamp>/'
                             'vis_data/scalars.json (or the folder) instead of the text log')
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    own = osp.join(path, 'vis_data', 'scalars.json')
    if osp.isfile(own):
        return own
    runs = sorted(name for name in os.listdir(path)
                  if TIMESTAMP.match(name) and osp.isfile(
                      osp.join(path, name, 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(
            f'{path}: no <timestamp>/vis_data/scalars.json inside (was the run logged with '
            "a LocalVisBackend? configs/_base_/default_runtime.py's visualizer has one)")
    return osp.join(path, runs[-1], 'vis_data', 'scalars.json')


def load_scalar_log(path: str) -> ScalarLog:
    """Read one MMEngine JSON scalar log (one JSON object per line).

    Raises:
        ValueError: A line that is not a JSON object (named by file and line number).
    """
    log = ScalarLog(path)
    last_iter: Optional[int] = None
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {number}: not JSON ({err.msg}); is this an '
                                 'MMEngine scalars.json?') from None
            if not isinstance(record, dict):
                raise ValueError(f'{path}, line {number}: expected a JSON object, got '
                                 f'{type(record).__name__}')
            is_train = 'iter' in record
            if is_train:
                step = int(record.get('step', record['iter']))
                last_iter = step
                if 'epoch' in record:
                    log.epochs[step] = int(record['epoch'])
                target = log.train
            else:
                step = last_iter if last_iter is not None else int(record.get('step', 0))
                target = log.val
            for key, value in record.items():
                if key in BOOKKEEPING_KEYS or not isinstance(value, (int, float)) \
                        or isinstance(value, bool):
                    continue
                if not is_train and key in ('time', 'data_time'):
                    continue  # validation timings are not curves of training
                xs, ys = target.setdefault(key, ([], []))
                xs.append(step)
                ys.append(float(value))
    if not log.train and not log.val:
        raise ValueError(f'{path}: no scalars in this file')
    return log


def load_logs(paths: Sequence[str]) -> List[ScalarLog]:
    logs = []
    for path in paths:
        found = resolve_log(path)
        if found != path:
            print(f'{path} -> {found}')
        log = load_scalar_log(found)
        log.name = path
        logs.append(log)
    return logs


def _use_style(style: str) -> None:
    import matplotlib.pyplot as plt
    try:
        import seaborn
        if style in SEABORN_STYLES:
            seaborn.set_style(style)
            return
    except ImportError:
        pass
    name = f'seaborn-v0_8-{style}' if style in SEABORN_STYLES else style
    if name not in plt.style.available:
        raise ValueError(f'--style {style!r}: unknown; use one of {", ".join(SEABORN_STYLES)} '
                         f'or a matplotlib style ({", ".join(plt.style.available)})')
    plt.style.use(name)


def plot_curve(logs: Sequence[ScalarLog], keys: Sequence[str],
               legend: Optional[Sequence[str]] = None, out: Optional[str] = None,
               title: Optional[str] = None, style: str = 'whitegrid',
               backend: Optional[str] = None, subplots: bool = False) -> List[str]:
    """Draw ``keys`` of every run on one figure (one panel per key with ``subplots``).

    Args:
        logs: The runs.
        keys: Names or shell-style patterns, expanded per run (``ScalarLog.expand``).
        legend: One label per curve (runs x expanded keys, run-major); default
            ``<log>_<key>`` as mmdet (the log as given on the command line).
        out: Figure file (``.png``, ``.pdf``, ``.svg`` ...); ``None`` shows it.
        title: Figure title.
        style: seaborn style name or matplotlib style.
        backend: matplotlib backend to switch to.
        subplots: One panel per key instead of one shared axis.

    Returns:
        The labels of the curves drawn, in order.

    Raises:
        KeyError: A key a run lacks. ValueError: A legend of the wrong length.
    """
    import matplotlib
    if backend is not None:
        matplotlib.use(backend)
    import matplotlib.pyplot as plt
    per_run = [log.expand(keys) for log in logs]
    count = sum(len(k) for k in per_run)
    if legend is not None and len(legend) != count:
        raise ValueError(f'--legend has {len(legend)} labels for {count} curves ('
                         + '; '.join(f'{log.path}: {", ".join(k)}'
                                     for log, k in zip(logs, per_run)) + ')')
    if out is None and matplotlib.get_backend().lower() in ('agg', 'pdf', 'svg', 'ps',
                                                             'cairo', 'template'):
        raise RuntimeError('no display to show the figure on (matplotlib backend '
                           f'{matplotlib.get_backend()!r}): pass --out curves.png')
    _use_style(style)
    panels = list(dict.fromkeys(k for run in per_run for k in run)) if subplots else [None]
    cols = 1 if len(panels) == 1 else 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 3.6 * rows), squeeze=False)
    axis_of = {panel: axes[i // cols][i % cols] for i, panel in enumerate(panels)}
    for i in range(len(panels), rows * cols):
        axes[i // cols][i % cols].set_visible(False)
    labels: List[str] = []
    for log, run_keys in zip(logs, per_run):
        for key in run_keys:
            xs, ys, is_val = log.series(key)
            label = legend[len(labels)] if legend is not None else f'{log.name}_{key}'
            print(f'plot curve of {log.path}, key {key} ({len(xs)} points)')
            ax = axis_of[key if subplots else None]
            if is_val:
                ax.plot(xs, ys, label=label, marker='o')
            else:
                ax.plot(xs, ys, label=label, linewidth=0.8)
            ax.set_xlabel('iter')
            if subplots:
                ax.set_title(key)
            ax.legend(fontsize='small')
            labels.append(label)
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    if out is None:
        plt.show()
    else:
        if osp.dirname(out):
            os.makedirs(osp.dirname(out), exist_ok=True)
        fig.savefig(out)
        print(f'save curve to: {out}')
    plt.close(fig)
    return labels


def train_time(log: ScalarLog, include_outliers: bool = False) -> Dict[str, float]:
    """Iteration-time statistics of one run from its training lines' ``time``.

    Each line's ``time`` is MMEngine's mean over the iterations since the previous line,
    so the training time is sum(time_i x (iter_i - iter_{i-1})). Without
    ``include_outliers`` the first line of each epoch (or of the run, iteration-based)
    is left out of the averages (start-up: data workers, first allocation), as mmdet does.

    Returns:
        ``dict(mean, std, slowest, slowest_iter, fastest, fastest_iter, total_s,
        iterations, lines)``; times in s/iter.

    Raises:
        KeyError: The run logged no ``time`` (no IterTimerHook) or too few lines.
    """
    if 'time' not in log.train:
        raise KeyError(f'{log.path}: no training `time` in this log (is IterTimerHook in '
                       'default_hooks?)')
    steps, times = log.train['time']
    keep = []
    for i, step in enumerate(steps):
        first_of_group = i == 0 or (log.epochs and log.epochs.get(step) != log.epochs.get(
            steps[i - 1]))
        if include_outliers or not first_of_group:
            keep.append(i)
    if not keep:
        raise KeyError(f'{log.path}: only {len(steps)} training line(s) with `time`; lower '
                       'default_hooks.logger.interval or pass --include-outliers')
    kept = [times[i] for i in keep]
    mean = sum(kept) / len(kept)
    std = (sum((t - mean) ** 2 for t in kept) / len(kept)) ** 0.5
    slow = max(keep, key=lambda i: times[i])
    fast = min(keep, key=lambda i: times[i])
    total = sum(t * (s - (steps[i - 1] if i else 0)) for i, (s, t) in
                enumerate(zip(steps, times)))
    return dict(mean=mean, std=std, slowest=times[slow], slowest_iter=steps[slow],
                fastest=times[fast], fastest_iter=steps[fast], total_s=total,
                iterations=steps[-1], lines=len(steps))


def cal_train_time(logs: Sequence[ScalarLog], include_outliers: bool = False) -> List[dict]:
    """Print :func:`train_time` of every run; returns the statistics."""
    stats = []
    for log in logs:
        s = train_time(log, include_outliers)
        print(f'{"-" * 5}Analyze train time of {log.path}{"-" * 5}')
        print(f'slowest logged interval ending at iter {s["slowest_iter"]}, average time is '
              f'{s["slowest"]:.4f} s/iter')
        print(f'fastest logged interval ending at iter {s["fastest_iter"]}, average time is '
              f'{s["fastest"]:.4f} s/iter')
        print(f'time std over logged intervals is {s["std"]:.4f}')
        print(f'average iter time: {s["mean"]:.4f} s/iter')
        print(f'training time: {s["total_s"]:.1f} s ({s["total_s"] / 3600:.2f} h) for '
              f'{s["iterations"]} iterations\n')
        stats.append(s)
    return stats


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot curves / time iterations from MMEngine JSON scalar logs '
        '(scalars.json, <timestamp>.json, a run folder or a work dir)')
    sub = parser.add_subparsers(dest='task', required=True, help='what to do')
    plot = sub.add_parser('plot_curve', help='plot training / validation curves')
    plot.add_argument('json_logs', nargs='+',
                      help='scalars.json / <timestamp>.json files, run folders or work dirs')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help="keys to plot, names or patterns ('loss*'); default: loss")
    plot.add_argument('--title', help='title of the figure')
    plot.add_argument('--legend', nargs='+', default=None,
                      help='one label per curve (runs x keys, run by run)')
    plot.add_argument('--backend', default=None, help='matplotlib backend')
    plot.add_argument('--style', default='whitegrid',
                      help='seaborn style name (dark, darkgrid, white, whitegrid, ticks) or '
                      'a matplotlib style')
    plot.add_argument('--subplots', action='store_true',
                      help='one panel per key instead of one shared axis')
    plot.add_argument('--out', default=None,
                      help='save the figure here (.png, .pdf, .svg); default: show it')
    timing = sub.add_parser('cal_train_time', help='average time per training iteration')
    timing.add_argument('json_logs', nargs='+',
                        help='scalars.json / <timestamp>.json files, run folders or work dirs')
    timing.add_argument('--include-outliers', action='store_true',
                        help='also count the first logged interval of each epoch / the run')
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        logs = load_logs(args.json_logs)
        if args.task == 'plot_curve':
            return plot_curve(logs, args.keys, args.legend, args.out, args.title, args.style,
                              args.backend, args.subplots)
        return cal_train_time(logs, args.include_outliers)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        parser.exit(1, f'analyze_logs.py: error: {message}\n')


if __name__ == '__main__':
    main()
