"""Sa2VA baseline vs DeSa2VA ablations at one equal budget, over several seeds.

Each variant runs its stages through ``tools/train.py`` / ``tools/test.py`` on the synthetic
RefCOCO data, once per seed; then one table: cIoU / gIoU on the test split as mean ± std
over seeds, the paired difference to full DeSa2VA of the same seed with its 95% interval
(t-distribution over seeds) and a verdict, the discriminators' accuracy (~0.5 is the
adversarial equilibrium), the CLUB mutual-information estimate and the training loss terms
averaged over the last logged iterations.

Equal budgets, by construction. Every variant trains the same number of iterations of
batch 16, and the tiny SAM-2 image encoder is trainable in every one of them:

* stage 0 (tiny only: SAM-2 learns clicks -> masks, standing in for a pretrained SAM-2), the
  same length for both architectures;
* then ``L = pretrain + decouple + fusion`` language-supervised iterations. DeSa2VA spends
  them as phase 1 (text pre-training of ``D_t`` / ``W_e`` on the ground-truth expression;
  the encoder trains too), phase 2 and phase 3; the Sa2VA baseline trains ``L`` iterations
  of ``configs/sa2va/sa2va_tiny.py`` (its own objective over phase 1's iterations as well);
  ``no_pretrain`` moves phase 1's iterations into phase 2.

Phase 1's iterations are therefore counted inside the total and the baseline trains that
many more iterations: the comparison is at equal optimiser steps and samples, and phase 1
(cheaper per step: no MLLM backward) shows up only in the wall-time column.

Variants: ``sa2va`` (baseline), ``desa2va`` (everything), ``no_pretrain``, ``no_adv``
(``model.seg_head.adversarial_loss=None``), ``no_mi`` (``model.seg_head.club_loss=None``),
``no_align`` (``model.seg_head.anchor_align_loss=None``: ``h_t`` not regressed onto its
expression's text anchor),
``no_fusion`` (``model.seg_head.fusion=None``: the visual mask is final), ``no_reprompt``
(``model.train_cfg.reprompt_iters=0 model.test_cfg.reprompt_iters=0``), ``adv_opposite``
(``model.seg_head.adversarial_loss.target='opposite'``), ``mlp_decoupler``
(``model.seg_head.neck.hidden_channels``: a two-layer decoupler), and the pair
``image_only`` / ``with_video``: both run DeSa2VA's chain and then ``--video-iters`` more
iterations, of image data (phase 3 made longer) or of synthetic MeViS videos
(``configs/desa2va_video/desa2va_tiny_video.py``); both are tested on the image split, and
``with_video`` is compared to ``image_only`` (same budget), not to ``desa2va``.

``--video`` adds the video ablation: every variant's final image checkpoint trains
``--video-iters`` iterations of its architecture's tiny video config
(``configs/desa2va_video/desa2va_tiny_video.py`` with the variant's options, or
``configs/sa2va/sa2va_tiny_video.py`` for the baseline) and is tested on ``valid_u`` (J&F,
paired to ``desa2va`` the same way). ``--video-data-root`` may name a
``make_synthetic_mevis.py --layout motion_pairs`` set, where only motion tells two objects
apart. ``--extra-splits heldout`` also tests every final image checkpoint on the held-out
split of ``make_synthetic_refcoco.py --heldout`` data (every image; one table per split).

    python tools/analysis_tools/ablate.py --work-dir work_dirs/ablate --seeds 0 1 2 \
        --jobs 2 [--variants sa2va desa2va no_adv no_mi] [--decouple-iters 600]

Finished stages are reused when the command is run again (delete the work dir to start
over); every stage's output goes to ``<work-dir>/seed<k>/logs/``.
"""
import argparse
import glob
import inspect
import json
import math
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# opts: --cfg-options of every stage after stage 0; test_opts: of the test only.
# ref: the row the paired difference is taken to. requires: (registered class, constructor
# argument) the options need; a variant whose argument is missing is refused by name.
VARIANTS = OrderedDict([
    ('sa2va', dict(arch='sa2va', opts=[])),
    ('desa2va', dict(arch='desa2va', opts=[], ref=None)),
    ('no_pretrain', dict(arch='desa2va', pretrain=False,
                         opts=["model.frozen_modules=['seg_head.neck.anchor_proj']"])),
    ('no_adv', dict(arch='desa2va', opts=['model.seg_head.adversarial_loss=None'])),
    ('no_mi', dict(arch='desa2va', opts=['model.seg_head.club_loss=None'])),
    ('no_align', dict(arch='desa2va', opts=['model.seg_head.anchor_align_loss=None'],
                      requires=('DecoupledSegHead', 'anchor_align_loss'))),
    ('no_fusion', dict(arch='desa2va', opts=['model.seg_head.fusion=None'])),
    ('no_reprompt', dict(arch='desa2va', reprompt=False, opts=[])),
    ('adv_opposite', dict(arch='desa2va',
                          opts=['model.seg_head.adversarial_loss.target=opposite'],
                          requires=('ModalityAdversarialLoss', 'target'))),
    ('mlp_decoupler', dict(arch='desa2va', opts=['model.seg_head.neck.hidden_channels=128'],
                           requires=('SegTokenDecoupler', 'hidden_channels'))),
    ('image_only', dict(arch='desa2va', opts=[], extra='image', ref=None)),
    ('with_video', dict(arch='desa2va', opts=[], extra='video', ref='image_only')),
])

CONFIGS = dict(
    sa2va=dict(stage0='configs/sa2va/sa2va_tiny_sam_pretrain.py',
               main='configs/sa2va/sa2va_tiny.py',
               video='configs/sa2va/sa2va_tiny_video.py'),
    desa2va=dict(stage0='configs/desa2va/desa2va_tiny_sam_pretrain.py',
                 pretrain='configs/desa2va/desa2va_tiny_pretrain.py',
                 decouple='configs/desa2va/desa2va_tiny_decouple.py',
                 fusion='configs/desa2va/desa2va_tiny_fusion.py',
                 video='configs/desa2va_video/desa2va_tiny_video.py'))

# The image config reads a video checkpoint with the video word list (the RefCOCO words
# keep their ids: the MeViS list appends to it), in the model and in the test pipeline's
# TokenizeConversation (index 6 of configs/_base_/datasets/synthetic_refcoco_tiny.py).
VIDEO_VOCABULARY_OPTS = ['model.mllm.tokenizer.vocabulary=synthetic_mevis',
                         'test_dataloader.dataset.pipeline.6.tokenizer.vocabulary=synthetic_mevis']

# (column, log key) of the table, after the metrics.
LOG_COLUMNS = [('acc_t', 'acc_text_disc'), ('acc_v', 'acc_visual_disc'), ('MI', 'mi_estimate'),
               ('L_lm', 'loss_lm'), ('L_text', 'loss_mask_text'),
               ('L_vis', 'loss_mask_visual'), ('L_fused', 'loss_mask_fused'),
               ('L_rep', 'loss_mask_reprompt'), ('L_seg', 'loss_seg'), ('L_adv', 'loss_adv')]

STAGE_ORDER = ('stage0', 'pretrain', 'decouple', 'fusion', 'main', 'video')


# ---------------------------------------------------------------------------- budgets
def stage_plan(spec: dict, stage0: int, pretrain: int, decouple: int, fusion: int,
               video: int = 0) -> List[Tuple[str, int]]:
    """The ``(stage, iterations)`` a variant trains, in order.

    Every plan without an ``extra`` sums to ``stage0 + pretrain + decouple + fusion``; the
    two plans with one (``image_only``, ``with_video``) sum to that plus ``video``.

    Args:
        spec: A :data:`VARIANTS` entry.
        stage0, pretrain, decouple, fusion: The phase lengths of full DeSa2VA.
        video: Extra iterations of the ``image_only`` / ``with_video`` pair.

    Returns:
        The stages with their iterations (a stage of 0 iterations is left out).
    """
    language = pretrain + decouple + fusion
    if spec['arch'] == 'sa2va':
        plan = [('stage0', stage0), ('main', language)]
    elif spec.get('pretrain', True):
        plan = [('stage0', stage0), ('pretrain', pretrain), ('decouple', decouple),
                ('fusion', fusion)]
    else:
        plan = [('stage0', stage0), ('decouple', pretrain + decouple), ('fusion', fusion)]
    if spec.get('extra') == 'image':
        plan[-1] = ('fusion', fusion + video)
    elif spec.get('extra') == 'video':
        plan.append(('video', video))
    return [(stage, iters) for stage, iters in plan if iters > 0]


def reference_of(name: str) -> Optional[str]:
    """The variant a row's paired difference is taken to (None: no difference)."""
    return VARIANTS[name].get('ref', 'desa2va')


# ------------------------------------------------------------------------- statistics
def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; NaN for one value)."""
    n = len(values)
    if n == 0:
        raise ValueError('mean_std needs at least one value')
    mean = sum(values) / n
    if n == 1:
        return mean, float('nan')
    return mean, math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(p, df))


def paired_interval(values: Sequence[float], reference: Sequence[float],
                    confidence: float = 0.95) -> Tuple[float, float, float]:
    """Mean paired difference ``values - reference`` and its t interval over seeds.

    Args:
        values, reference: One figure per seed, the same seeds in the same order.
        confidence: Two-sided confidence level.

    Returns:
        ``(mean, low, high)``; low / high are NaN with one seed.
    """
    if len(values) != len(reference) or not values:
        raise ValueError(f'paired_interval needs equal, non-empty per-seed lists, got '
                         f'{len(values)} and {len(reference)} values')
    diffs = [v - r for v, r in zip(values, reference)]
    mean, std = mean_std(diffs)
    if len(diffs) == 1:
        return mean, float('nan'), float('nan')
    half = t_quantile(0.5 + confidence / 2, len(diffs) - 1) * std / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    """What the variant's change does to the metric against its reference.

    ``helps`` when the whole interval is above 0, ``hurts`` when below, ``unresolved`` when
    it includes 0 (or is unknown: one seed).
    """
    if math.isnan(low) or math.isnan(high) or low <= 0 <= high:
        return 'unresolved'
    return 'helps' if low > 0 else 'hurts'


# ----------------------------------------------------------------------------- running
class SeedRun:
    """All stages of the requested variants for one seed under ``<work-dir>/seed<k>``."""

    def __init__(self, args, seed: int, lock: threading.Lock):
        self.args = args
        self.seed = seed
        self.lock = lock
        self.work_dir = osp.join(osp.abspath(args.work_dir), f'seed{seed}')
        self.log_dir = osp.join(self.work_dir, 'logs')
        self.start = time.time()
        self.planned: set = set()
        self.walls: Dict[str, float] = {}
        root = osp.abspath(args.data_root) + '/'
        self.train_opts = [f'train_dataloader.dataset.data_root={root}',
                           'train_dataloader.num_workers=0',
                           'train_dataloader.persistent_workers=False',
                           f'randomness.seed={seed}',
                           # The test step evaluates: no validation inside training.
                           'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']
        self.test_opts = [f'test_dataloader.dataset.data_root={root}',
                          'test_dataloader.num_workers=0',
                          'test_dataloader.persistent_workers=False']
        if args.test_images > 0:
            self.test_opts.append(f'test_dataloader.dataset.indices={args.test_images}')
        video_root = osp.abspath(args.video_data_root)
        self.video_train_opts = [f'train_dataloader.dataset.data_root={video_root}/train/',
                                 *self.train_opts[1:]]
        self.video_test_opts = [f'test_dataloader.dataset.data_root={video_root}/valid_u/',
                                'test_dataloader.num_workers=0',
                                'test_dataloader.persistent_workers=False']

    def _print(self, text: str) -> None:
        with self.lock:
            print(text, flush=True)

    def _run(self, name: str, argv: list) -> None:
        elapsed = (time.time() - self.start) / 60
        self._print(f'[ablate seed {self.seed} {elapsed:5.1f} min] {name}' +
                    ('\n    ' + ' '.join(argv) if self.args.dry_run else ''))
        if self.args.dry_run:
            return
        os.makedirs(self.log_dir, exist_ok=True)
        log = osp.join(self.log_dir, name + '.log')
        env = dict(os.environ)
        if 'OMP_NUM_THREADS' not in env:
            # Parallel seeds share the cores instead of each taking them all.
            env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // self.args.jobs))
        with open(log, 'w') as f:
            proc = subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, stdout=f,
                                  stderr=subprocess.STDOUT, env=env)
        if proc.returncode != 0:
            with open(log) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f'ablate: stage {name} of seed {self.seed} failed (exit '
                               f'{proc.returncode}); log {log}:\n{tail}')

    def train(self, name: str, config: str, iters: int, load_from=None, opts=(),
              video: bool = False) -> str:
        """Train ``iters`` iterations unless a finished checkpoint exists; return it."""
        work = osp.join(self.work_dir, name)
        ckpt = osp.join(work, f'iter_{iters}.pth')
        wall_file = osp.join(work, 'wall_s.json')
        if name in self.planned:  # a shared stage, already run (or planned) for this seed
            return ckpt
        self.planned.add(name)
        if not osp.isfile(ckpt):
            argv = ['tools/train.py', config, '--work-dir', work, '--cfg-options',
                    *(self.video_train_opts if video else self.train_opts),
                    f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
                    f'default_hooks.checkpoint.interval={iters}',
                    # The tiny configs' schedule: warm-up, then cosine to their max_iters.
                    f'param_scheduler.1.end={iters}', *short_run_warmup(config, iters),
                    f"load_from={load_from if load_from else 'None'}", *opts]
            start = time.time()
            self._run(name, argv)
            if not self.args.dry_run:
                with open(wall_file, 'w') as f:
                    json.dump(time.time() - start, f)
        if osp.isfile(wall_file):
            with open(wall_file) as f:
                self.walls[name] = json.load(f)
        return ckpt

    def test(self, name: str, config: str, ckpt: str, opts=(), video: bool = False) -> dict:
        work = osp.join(self.work_dir, name + '_test')
        done = osp.join(work, 'metrics.json')
        if name + '_test' in self.planned:
            return {} if self.args.dry_run else self.test_result(done)
        self.planned.add(name + '_test')
        if not osp.isfile(done):
            base = self.video_test_opts if video else self.test_opts
            self._run(name + '_test', ['tools/test.py', config, ckpt, '--work-dir', work,
                                       '--cfg-options', *base, *opts])
            if self.args.dry_run:
                return {}
            metrics = read_test_metrics(work)
            with open(done + '.tmp', 'w') as f:
                json.dump(metrics, f)
            os.replace(done + '.tmp', done)
        return self.test_result(done)

    @staticmethod
    def test_result(done: str) -> dict:
        with open(done) as f:
            return json.load(f)

    def run_variant(self, name: str, spec: dict) -> dict:
        """Train and test one variant; returns its metrics, log dir and stage walls."""
        a = self.args
        plan = dict(stage_plan(spec, a.stage0_iters, a.pretrain_iters, a.decouple_iters,
                               a.fusion_iters, a.video_iters))
        opts = list(spec['opts'])
        if spec['arch'] == 'sa2va':
            cfgs = CONFIGS['sa2va']
            stage0 = self.train('sa2va_stage0', cfgs['stage0'], plan['stage0'])
            ckpt = self.train('sa2va', cfgs['main'], plan['main'], stage0, opts)
            metrics = self.test('sa2va', cfgs['main'], ckpt, opts)
            stages = [('stage0', 'sa2va_stage0'), ('main', 'sa2va')]
            return self._result(metrics, 'sa2va', stages, plan, ckpt, ckpt, opts,
                                test=(cfgs['main'], opts))
        cfgs = CONFIGS['desa2va']
        start = self.train('desa2va_stage0', cfgs['stage0'], plan['stage0'])
        stages = [('stage0', 'desa2va_stage0')]
        if 'pretrain' in plan:
            start = self.train('desa2va_pretrain', cfgs['pretrain'], plan['pretrain'], start)
            stages.append(('pretrain', 'desa2va_pretrain'))
        # Stages identical to full DeSa2VA's (no_reprompt, image_only and with_video differ
        # after phase 2; with_video after phase 3) are its runs, trained once per seed.
        phase3_opts = list(opts)
        if not spec.get('reprompt', True):
            phase3_opts += ['model.train_cfg.reprompt_iters=0', 'model.test_cfg.reprompt_iters=0']
        same2 = not opts and 'pretrain' in plan
        same3 = same2 and not phase3_opts and plan['fusion'] == a.fusion_iters
        run = ('desa2va' if same2 else name) + '_decouple'
        phase2 = self.train(run, cfgs['decouple'], plan['decouple'], start, opts)
        stages.append(('decouple', run))
        run = ('desa2va' if same3 else name) + '_fusion'
        phase3 = self.train(run, cfgs['fusion'], plan['fusion'], phase2, phase3_opts)
        stages.append(('fusion', run))
        final, log = phase3, run
        test_config, test_opts = cfgs['fusion'], phase3_opts
        if 'video' in plan:
            # The video stage of full DeSa2VA in the video ablation, the same run.
            log = ('desa2va' if same3 else name) + '_video'
            final = self.train(log, cfgs['video'], plan['video'], phase3, phase3_opts,
                               video=True)
            stages.append(('video', log))
            test_opts = phase3_opts + VIDEO_VOCABULARY_OPTS
        metrics = self.test('desa2va' if same3 and 'video' not in plan else name,
                            test_config, final, test_opts)
        return self._result(metrics, log, stages, plan, final, phase3, phase3_opts,
                            test=(test_config, test_opts))

    def run_video(self, name: str, image_ckpt: str, opts: list, arch: str = 'desa2va') -> dict:
        """The video ablation's stage: ``--video-iters`` on the videos, J&F on valid_u.

        ``arch`` picks the tiny video config of the same architecture (both train the same
        data, schedule and frozen SAM-2 image encoder).
        """
        cfg = CONFIGS[arch]['video']
        ckpt = self.train(f'{name}_video', cfg, self.args.video_iters, image_ckpt, opts,
                          video=True)
        return self.test(f'{name}_video', cfg, ckpt, opts, video=True)

    def test_split(self, name: str, result: dict, split: str) -> dict:
        """A variant's final checkpoint on another split of the image data (every image)."""
        config, opts = result['test']
        return self.test(f'{name}_{split}', config, result['final'],
                         [*opts, f'test_dataloader.dataset.split={split}',
                          'test_dataloader.dataset.indices=None'])

    def _result(self, metrics, log, stages, plan, final, phase3=None, phase3_opts=None,
                test=None):
        walls = {stage: self.walls.get(run, float('nan')) for stage, run in stages}
        return dict(metrics=metrics, log=osp.join(self.work_dir, log), plan=plan,
                    walls=walls, final=final, phase3=phase3, phase3_opts=phase3_opts,
                    test=test)


_WARMUP_ENDS: Dict[str, int] = {}


def short_run_warmup(config: str, iters: int) -> List[str]:
    """Options that fit the config's warm-up into a run no longer than it (a smoke run of a
    few iterations): warm up over the first half. Empty for runs longer than the warm-up."""
    if config not in _WARMUP_ENDS:
        from mmengine.config import Config
        schedule = Config.fromfile(osp.join(REPO_ROOT, config)).param_scheduler
        _WARMUP_ENDS[config] = int(schedule[0]['end'])
    if iters > _WARMUP_ENDS[config]:
        return []
    half = max(1, iters // 2)
    return [f'param_scheduler.0.end={half}', f'param_scheduler.1.begin={half}']


def read_test_metrics(work_dir: str) -> dict:
    """The metrics line of the newest ``tools/test.py`` log JSON under ``work_dir``."""
    candidates = [p for p in glob.glob(osp.join(work_dir, '*', '*.json'))
                  if osp.basename(p) != 'scalars.json']
    if not candidates:
        raise FileNotFoundError(f'no test log JSON under {work_dir}')
    metrics = {}
    with open(max(candidates, key=osp.getmtime)) as f:
        for line in f:
            if line.strip().startswith('{'):
                metrics.update(json.loads(line))
    return metrics


def read_train_scalars(work_dir: str, last: int) -> dict:
    """Mean of each logged scalar over the last ``last`` logged iterations of a run."""
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    if not files:
        return {}
    rows = []
    with open(max(files, key=osp.getmtime)) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    rows = [r for r in rows if 'loss' in r][-last:]
    keys = {k for r in rows for k in r}
    out = {}
    for k in keys:
        values = [r[k] for r in rows if isinstance(r.get(k), (int, float))]
        if values:
            out[k] = sum(values) / len(values)
    if 'loss_mask' in out and 'loss_dice' in out:  # the baseline's one mask term
        out['loss_seg'] = out['loss_mask'] + out['loss_dice']
    return out


def metric_value(metrics: dict, key: str) -> Optional[float]:
    """``metrics[key]`` whatever prefix the evaluator gave it (``refcoco/cIoU``)."""
    return next((v for k, v in metrics.items() if k.split('/')[-1] == key), None)


# ------------------------------------------------------------------------------ tables
def _pm(values: Sequence[float]) -> str:
    if not values:
        return '-'
    mean, std = mean_std(values)
    return f'{mean:.2f}' if math.isnan(std) else f'{mean:.2f} ± {std:.2f}'


def format_table(results: Dict[str, Dict[int, dict]], metric: str = 'cIoU',
                 extra_metrics: Sequence[str] = ('gIoU', ),
                 log_columns=LOG_COLUMNS) -> str:
    """One row per variant: ``metric`` mean ± std over seeds, its paired difference to the
    reference row with the 95% t interval and the verdict, then ``extra_metrics`` and the
    log columns (means over seeds; ``-`` where a run logs no such term).

    Args:
        results: ``{variant: {seed: dict(metrics=..., scalars=...)}}``.
        metric: The metric the differences are taken on.
        extra_metrics: Further metrics shown as mean ± std.
        log_columns: ``(column, log key)`` pairs read from each run's ``scalars``.
    """
    header = ['variant', metric, f'Δ{metric} [95% CI]', 'vs', 'verdict', *extra_metrics,
              *[c for c, _ in log_columns]]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, per_seed in results.items():
        seeds = sorted(per_seed)
        values = [metric_value(per_seed[s]['metrics'], metric) for s in seeds]
        row = [name, _pm([v for v in values if v is not None])]
        ref = reference_of(name) if name in VARIANTS else 'desa2va'
        if ref is not None and ref in results and name != ref:
            common = [s for s in seeds if s in results[ref]]
            mine = [metric_value(per_seed[s]['metrics'], metric) for s in common]
            theirs = [metric_value(results[ref][s]['metrics'], metric) for s in common]
            if common and None not in mine + theirs:
                mean, low, high = paired_interval(mine, theirs)
                ci = '' if math.isnan(low) else f' [{low:+.2f}, {high:+.2f}]'
                row += [f'{mean:+.2f}{ci}', ref, verdict(low, high)]
            else:
                row += ['-', ref, '-']
        else:
            row += ['-', '-', '-']
        for key in extra_metrics:
            row.append(_pm([v for v in (metric_value(per_seed[s]['metrics'], key)
                                        for s in seeds) if v is not None]))
        for _, key in log_columns:
            logged = [per_seed[s].get('scalars', {}).get(key) for s in seeds]
            logged = [v for v in logged if v is not None]
            row.append(f'{sum(logged) / len(logged):.3f}' if logged else '-')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def format_budget(results: Dict[str, Dict[int, dict]]) -> str:
    """Iterations per stage, their total and the wall time (minutes, mean over seeds; a
    stage shared by several variants counts in full in each) of every variant."""
    header = ['variant', *STAGE_ORDER, 'total', 'wall (min)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, per_seed in results.items():
        first = per_seed[min(per_seed)]
        plan = first['plan']
        walls = [sum(r['walls'].values()) for r in per_seed.values()]
        walls = [w for w in walls if not math.isnan(w)]
        wall = f'{sum(walls) / len(walls) / 60:.1f}' if walls else '-'
        lines.append('| ' + ' | '.join(
            [name, *[str(plan.get(s, '-')) for s in STAGE_ORDER], str(sum(plan.values())),
             wall]) + ' |')
    return '\n'.join(lines)


# ------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Sa2VA baseline vs DeSa2VA ablations on the synthetic data: equal '
        'iteration budgets, several seeds, mean ± std and paired 95%% intervals.')
    parser.add_argument('--work-dir', default='work_dirs/ablate', help='output folder')
    parser.add_argument('--data-root', default='data/synthetic_refcoco',
                        help='synthetic RefCOCO root (make_synthetic_refcoco.py)')
    parser.add_argument('--video-data-root', default='data/synthetic_mevis',
                        help='synthetic MeViS root with train/ and valid_u/ '
                        '(make_synthetic_mevis.py); for --video and with_video')
    parser.add_argument('--variants', nargs='+', default=None, choices=list(VARIANTS),
                        help='variants to run (default: all whose options this build '
                        'accepts, without the image_only / with_video pair)')
    parser.add_argument('--stage0-iters', type=int, default=300,
                        help='click pre-training iterations (tiny SAM-2), every variant')
    parser.add_argument('--pretrain-iters', type=int, default=300,
                        help='DeSa2VA phase-1 (text pre-training) iterations; counted in '
                        'every variant\'s total (the baseline trains them as its own)')
    parser.add_argument('--decouple-iters', type=int, default=600, help='phase-2 iterations')
    parser.add_argument('--fusion-iters', type=int, default=200, help='phase-3 iterations')
    parser.add_argument('--video-iters', type=int, default=300,
                        help='video iterations (--video, with_video; image_only trains '
                        'them as longer phase 3)')
    parser.add_argument('--video', action='store_true',
                        help='also the video ablation: J&F on valid_u after --video-iters')
    parser.add_argument('--extra-splits', nargs='+', default=[], metavar='SPLIT',
                        help='further splits of the image data (e.g. heldout, from '
                        'make_synthetic_refcoco.py --heldout) every variant\'s final '
                        'checkpoint is also tested on, every image; one table each')
    parser.add_argument('--test-images', type=int, default=200,
                        help='first N images of the test split (0: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='seeds; every stage of a seed runs with randomness.seed=SEED')
    parser.add_argument('--jobs', type=int, default=1,
                        help='seeds run as this many parallel processes (each gets '
                        'cpu_count // jobs OpenMP threads unless OMP_NUM_THREADS is set)')
    parser.add_argument('--last-logs', type=int, default=5,
                        help='logged iterations averaged for the loss columns')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands without running them')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must be distinct, got {args.seeds}')
    return args


def missing_requirement(spec: dict) -> Optional[str]:
    """Why a variant cannot run on this build (its constructor argument is missing)."""
    if 'requires' not in spec:
        return None
    cls_name, arg = spec['requires']
    sys.path.insert(0, REPO_ROOT)
    import desa2va_mm  # noqa: F401  (registers the models)
    from desa2va_mm.registry import MODELS
    cls = MODELS.get(cls_name)
    if cls is None or arg not in inspect.signature(cls.__init__).parameters:
        return f'{cls_name} has no constructor argument {arg!r}'
    return None


def resolve_variants(args) -> List[str]:
    if args.variants is None:
        names = [n for n in VARIANTS if 'extra' not in VARIANTS[n]
                 and missing_requirement(VARIANTS[n]) is None]
    else:
        names = list(dict.fromkeys(args.variants))
        for name in names:
            why = missing_requirement(VARIANTS[name])
            if why:
                sys.exit(f'ablate: variant {name} needs an option this build lacks ({why}); '
                         'leave it out of --variants')
    out: List[str] = []
    for name in names:
        ref = reference_of(name)
        if ref is not None and ref not in names and ref not in out:
            out.append(ref)  # the paired difference needs its reference row
        if name not in out:
            out.append(name)
    return out


def run_seed(args, seed: int, names: List[str], lock: threading.Lock) -> dict:
    run = SeedRun(args, seed, lock)
    out = {}
    for name in names:
        res = run.run_variant(name, VARIANTS[name])
        if not args.dry_run:
            res['scalars'] = read_train_scalars(res['log'], args.last_logs)
        out[name] = res
    splits = {split: {} for split in args.extra_splits}
    for split in args.extra_splits:
        for name in names:
            splits[split][name] = dict(metrics=run.test_split(name, out[name], split))
    video = {}
    if args.video:
        for name in names:
            spec = VARIANTS[name]
            if 'extra' in spec:
                continue
            res = out[name]
            metrics = run.run_video(name, res['phase3'], res['phase3_opts'], spec['arch'])
            video[name] = dict(metrics=metrics, scalars={} if args.dry_run else
                               read_train_scalars(osp.join(run.work_dir, f'{name}_video'),
                                                  args.last_logs))
    return dict(image=out, video=video, splits=splits)


def run_baselines(script: str, config: str, opts: List[str]) -> str:
    """The table a baselines script prints (its lines from the one naming the split)."""
    proc = subprocess.run([sys.executable, script, config, '--cfg-options', *opts],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return f'({script} failed: {proc.stderr.strip().splitlines()[-1:]})'
    lines = proc.stdout.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(('split=', 'method'))), 0)
    return '\n'.join(lines[first:])


def main(argv=None):
    args = parse_args(argv)
    if not args.dry_run:
        if not osp.isdir(args.data_root):
            sys.exit(f'ablate: data root {osp.abspath(args.data_root)} does not exist; make it '
                     'with tools/dataset_converters/make_synthetic_refcoco.py --out '
                     f'{args.data_root} --num-images 2000')
    names = resolve_variants(args)
    needs_video = args.video or 'with_video' in names
    if needs_video and not args.dry_run and not osp.isfile(
            osp.join(args.video_data_root, 'valid_u', 'meta_expressions.json')):
        sys.exit(f'ablate: video data root {osp.abspath(args.video_data_root)} has no '
                 'valid_u/meta_expressions.json; make it with '
                 'tools/dataset_converters/make_synthetic_mevis.py --out '
                 f'{args.video_data_root} --num-videos 200 --num-frames 12')
    lock = threading.Lock()
    start = time.time()
    jobs = 1 if args.dry_run else min(args.jobs, len(args.seeds))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {s: pool.submit(run_seed, args, s, names, lock) for s in args.seeds}
        try:
            per_seed = {s: f.result() for s, f in futures.items()}
        except RuntimeError as e:
            for f in futures.values():
                f.cancel()  # drops the seeds not started yet (running ones finish)
            sys.exit(str(e))
    results = OrderedDict((n, {s: per_seed[s]['image'][n] for s in args.seeds}) for n in names)
    if args.dry_run:
        print('iterations per stage (every variant: stage 0, then pretrain + decouple + '
              'fusion language iterations; image_only / with_video: + --video-iters):')
        print(format_budget(results))
        return
    budget = (f'stage0={args.stage0_iters} pretrain={args.pretrain_iters} '
              f'decouple={args.decouple_iters} fusion={args.fusion_iters} '
              f'test_images={args.test_images or "all"} seeds={args.seeds}')
    command = 'python tools/analysis_tools/ablate.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    text = (f'budget: {budget}\n'
            f'cIoU / gIoU in %, test split, mean ± std over seeds; Δ: paired difference to '
            f'the "vs" row (same seed), 95% t interval over seeds; verdict: what the '
            f"variant's change does to cIoU (unresolved: the interval includes 0); log "
            f'columns: mean of the last {args.last_logs} logged iterations of the final '
            f'stage, averaged over seeds\n\n{format_budget(results)}\n\n'
            f'{format_table(results)}\n')
    # Trivial baselines: what ignoring the sentence reaches (the script reads whole splits).
    image_opts = [f'test_dataloader.dataset.data_root={osp.abspath(args.data_root)}/']
    text += ('\ntrivial baselines, every image of the test split:\n' + run_baselines(
        'tools/analysis_tools/trivial_baselines.py', CONFIGS['sa2va']['main'], image_opts)
        + '\n')
    for split in args.extra_splits:
        table = OrderedDict((n, {s: per_seed[s]['splits'][split][n] for s in args.seeds})
                            for n in names)
        text += (f'\nsplit {split}, every image: the same checkpoints\n\n'
                 + format_table(table, log_columns=()) + '\n'
                 + f'\ntrivial baselines, split {split}:\n' + run_baselines(
                     'tools/analysis_tools/trivial_baselines.py', CONFIGS['sa2va']['main'],
                     image_opts + [f'test_dataloader.dataset.split={split}']) + '\n')
    if args.video:
        video = OrderedDict((n, {s: per_seed[s]['video'][n] for s in args.seeds})
                            for n in names if n in per_seed[args.seeds[0]]['video'])
        text += (f'\nvideo ablation: each variant\'s final image checkpoint + '
                 f'{args.video_iters} iterations of its architecture\'s tiny video config '
                 f'({CONFIGS["desa2va"]["video"]}, {CONFIGS["sa2va"]["video"]}), J&F on '
                 'valid_u\n\n'
                 + format_table(video, metric='J&F', extra_metrics=('J', 'F'),
                                log_columns=LOG_COLUMNS[:3]) + '\n'
                 + '\nvideo baselines, valid_u:\n' + run_baselines(
                     'tools/analysis_tools/video_baselines.py', CONFIGS['desa2va']['video'],
                     [f'test_dataloader.dataset.data_root='
                      f'{osp.abspath(args.video_data_root)}/valid_u/']) + '\n')
    if 'desa2va' in names:
        first = per_seed[args.seeds[0]]['image']['desa2va']
        text += ('\nre-prompting by initial IoU / similar objects, rare words (seed '
                 f'{args.seeds[0]}): python tools/analysis_tools/reprompt_strata.py '
                 f'{CONFIGS["desa2va"]["fusion"]} {first["final"]} --cfg-options '
                 f'test_dataloader.dataset.data_root={osp.abspath(args.data_root)}/\n')
    text += (f'\nwall: {(time.time() - start) / 60:.1f} min for this command\n'
             f'command: {command}')
    print(text)
    out = osp.join(osp.abspath(args.work_dir), 'ablation.md')
    with open(out + '.tmp', 'w') as f:
        f.write(text + '\n')
    os.replace(out + '.tmp', out)
    print(f'table written to {out}')


if __name__ == '__main__':
    main()
