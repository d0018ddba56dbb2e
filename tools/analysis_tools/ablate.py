"""Train and test the Sa2VA baseline and every DeSa2VA ablation with one budget and seed.

Each variant runs the same stages through ``tools/train.py`` / ``tools/test.py`` on the
synthetic RefCOCO data, then one table is printed: cIoU / gIoU on the test split, the
training loss terms averaged over the last logged iterations, the discriminators'
accuracy (~0.5 is the adversarial equilibrium) and the CLUB mutual-information estimate.

Stages (iterations are arguments; batch, lr schedule and seed come from the tiny configs):

* stage 0 (tiny only: SAM-2 learns clicks -> masks, standing in for a pretrained SAM-2),
  once per architecture;
* DeSa2VA phase 1 (text pre-training of ``D_t`` and ``W_e``), shared by the variants that
  use it;
* main training: phase 2 (decoupling) then phase 3 (fusion / re-prompt fine-tuning) for
  DeSa2VA variants; ``decouple + fusion`` iterations of ``configs/sa2va/sa2va_tiny.py`` for the
  baseline (the text pre-training is DeSa2VA's addition, as in the paper).

Variants: ``sa2va`` (baseline), ``desa2va`` (everything), ``no_pretrain`` (phase 2 starts
from stage 0; ``D_t`` trains in phase 2), ``no_adv``
(``model.seg_head.adversarial_loss=None``), ``no_mi`` (``model.seg_head.club_loss=None``),
``no_fusion`` (``model.seg_head.fusion=None``: the visual mask is final), ``no_reprompt`` (no
re-prompting in phase 3 or at test: ``model.train_cfg.reprompt_iters=0
model.test_cfg.reprompt_iters=0``).

    python tools/analysis_tools/ablate.py --work-dir work_dirs/ablate \
        [--variants sa2va desa2va no_adv] [--decouple-iters 600] [--test-images 200]

Finished stages are reused when the command is run again (delete the work dir to start
over); every stage's output goes to ``<work-dir>/logs/``.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import OrderedDict

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

VARIANTS = OrderedDict([
    ('sa2va', dict(arch='sa2va', pretrain=False, opts=[])),
    ('desa2va', dict(arch='desa2va', pretrain=True, opts=[])),
    ('no_pretrain', dict(arch='desa2va', pretrain=False,
                         opts=["model.frozen_modules=['seg_head.neck.anchor_proj']"])),
    ('no_adv', dict(arch='desa2va', pretrain=True,
                    opts=['model.seg_head.adversarial_loss=None'])),
    ('no_mi', dict(arch='desa2va', pretrain=True, opts=['model.seg_head.club_loss=None'])),
    ('no_fusion', dict(arch='desa2va', pretrain=True, opts=['model.seg_head.fusion=None'])),
    ('no_reprompt', dict(arch='desa2va', pretrain=True, reprompt=False, opts=[])),
])

CONFIGS = dict(
    sa2va=dict(stage0='configs/sa2va/sa2va_tiny_sam_pretrain.py', main='configs/sa2va/sa2va_tiny.py'),
    desa2va=dict(stage0='configs/desa2va/desa2va_tiny_sam_pretrain.py',
                 pretrain='configs/desa2va/desa2va_tiny_pretrain.py',
                 decouple='configs/desa2va/desa2va_tiny_decouple.py',
                 fusion='configs/desa2va/desa2va_tiny_fusion.py'))

# (column, log key) of the table, after cIoU / gIoU.
LOG_COLUMNS = [('L_lm', 'loss_lm'), ('L_text', 'loss_mask_text'),
               ('L_vis', 'loss_mask_visual'), ('L_fused', 'loss_mask_fused'),
               ('L_rep', 'loss_mask_reprompt'), ('L_seg', 'loss_seg'), ('L_adv', 'loss_adv'),
               ('acc_t', 'acc_text_disc'), ('acc_v', 'acc_visual_disc'),
               ('MI', 'mi_estimate')]


def parse_args():
    parser = argparse.ArgumentParser(
        description='Sa2VA baseline vs DeSa2VA ablations on the synthetic data: same '
        'budget, same seed, one table.')
    parser.add_argument('--work-dir', default='work_dirs/ablate', help='output folder')
    parser.add_argument('--data-root', default='data/synthetic_refcoco',
                        help='synthetic RefCOCO root (make_synthetic_refcoco.py)')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS), help='variants to run (default: all)')
    parser.add_argument('--stage0-iters', type=int, default=300,
                        help='click pre-training iterations (tiny SAM-2)')
    parser.add_argument('--pretrain-iters', type=int, default=300,
                        help='DeSa2VA phase-1 (text pre-training) iterations')
    parser.add_argument('--decouple-iters', type=int, default=600,
                        help='phase-2 iterations (Sa2VA: part of its main run)')
    parser.add_argument('--fusion-iters', type=int, default=200,
                        help='phase-3 iterations (Sa2VA: part of its main run)')
    parser.add_argument('--test-images', type=int, default=200,
                        help='first N images of the test split (0: all)')
    parser.add_argument('--seed', type=int, default=0, help='seed of every stage')
    parser.add_argument('--last-logs', type=int, default=5,
                        help='logged iterations averaged for the loss columns')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands without running them')
    return parser.parse_args()


class Ablation:

    def __init__(self, args):
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.log_dir = osp.join(self.work_dir, 'logs')
        os.makedirs(self.log_dir, exist_ok=True)
        self.start = time.time()
        self.phase2_runs = {}
        root = osp.abspath(args.data_root) + '/'
        if not osp.isdir(root) and not args.dry_run:
            sys.exit(f'ablate: data root {root} does not exist; make it with '
                     'tools/dataset_converters/make_synthetic_refcoco.py --out ' + root)
        self.train_opts = [f'train_dataloader.dataset.data_root={root}',
                           'train_dataloader.num_workers=0',
                           'train_dataloader.persistent_workers=False',
                           f'randomness.seed={args.seed}',
                           # The test step evaluates: no validation inside training.
                           'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']
        self.test_opts = [f'test_dataloader.dataset.data_root={root}',
                          'test_dataloader.num_workers=0',
                          'test_dataloader.persistent_workers=False']
        if args.test_images > 0:
            self.test_opts.append(f'test_dataloader.dataset.indices={args.test_images}')

    # ------------------------------------------------------------------ running
    def _run(self, name: str, argv: list) -> None:
        log = osp.join(self.log_dir, name + '.log')
        elapsed = (time.time() - self.start) / 60
        print(f'[ablate {elapsed:5.1f} min] {name}', flush=True)
        if self.args.dry_run:
            print('   ', ' '.join(argv))
            return
        with open(log, 'w') as f:
            proc = subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, stdout=f,
                                  stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            with open(log) as f:
                tail = f.read()[-3000:]
            sys.exit(f'ablate: stage {name} failed (exit {proc.returncode}); log {log}:\n'
                     f'{tail}')

    def train(self, name: str, config: str, iters: int, load_from=None, opts=()) -> str:
        """Train ``iters`` iterations unless a finished checkpoint exists; return it."""
        work = osp.join(self.work_dir, name)
        ckpt = osp.join(work, f'iter_{iters}.pth')
        if osp.isfile(ckpt):
            return ckpt
        argv = ['tools/train.py', config, '--work-dir', work, '--cfg-options',
                *self.train_opts, f'train_cfg.max_iters={iters}',
                f'train_cfg.val_interval={iters}',
                f'default_hooks.checkpoint.interval={iters}',
                # The tiny configs' schedule: warm-up, then cosine to their max_iters.
                f'param_scheduler.1.end={iters}',
                f"load_from={load_from if load_from else 'None'}", *opts]
        self._run(name, argv)
        return ckpt

    def test(self, name: str, config: str, ckpt: str, opts=()) -> dict:
        work = osp.join(self.work_dir, name + '_test')
        done = osp.join(work, 'metrics.json')
        if not osp.isfile(done):
            self._run(name + '_test', ['tools/test.py', config, ckpt, '--work-dir', work,
                                       '--cfg-options', *self.test_opts, *opts])
            if self.args.dry_run:
                return {}
            metrics = read_test_metrics(work)
            with open(done + '.tmp', 'w') as f:
                json.dump(metrics, f)
            os.replace(done + '.tmp', done)
        with open(done) as f:
            return json.load(f)

    # ------------------------------------------------------------------ variants
    def run_variant(self, name: str, spec: dict) -> dict:
        a = self.args
        if spec['arch'] == 'sa2va':
            cfgs = CONFIGS['sa2va']
            stage0 = self.train('sa2va_stage0', cfgs['stage0'], a.stage0_iters)
            ckpt = self.train('sa2va', cfgs['main'], a.decouple_iters + a.fusion_iters,
                              stage0, spec['opts'])
            metrics = self.test('sa2va', cfgs['main'], ckpt, spec['opts'])
            return dict(metrics=metrics, log=osp.join(self.work_dir, 'sa2va'))
        cfgs = CONFIGS['desa2va']
        start = self.train('desa2va_stage0', cfgs['stage0'], a.stage0_iters)
        if spec['pretrain']:
            start = self.train('desa2va_pretrain', cfgs['pretrain'], a.pretrain_iters, start)
        # Variants whose phase 2 is the same run (e.g. no_reprompt, which differs in phase 3
        # only) share it.
        key = (spec['pretrain'], tuple(spec['opts']))
        run = self.phase2_runs.setdefault(key, f'{name}_decouple')
        phase2 = self.train(run, cfgs['decouple'], a.decouple_iters, start, spec['opts'])
        opts = list(spec['opts'])
        if not spec.get('reprompt', True):
            opts += ['model.train_cfg.reprompt_iters=0', 'model.test_cfg.reprompt_iters=0']
        phase3 = self.train(f'{name}_fusion', cfgs['fusion'], a.fusion_iters, phase2, opts)
        metrics = self.test(name, cfgs['fusion'], phase3, opts)
        return dict(metrics=metrics, log=osp.join(self.work_dir, f'{name}_fusion'))


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


def format_table(results: dict) -> str:
    header = ['variant', 'cIoU', 'gIoU'] + [c for c, _ in LOG_COLUMNS]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, res in results.items():
        m, s = res['metrics'], res['scalars']
        row = [name]
        for key in ('cIoU', 'gIoU'):
            value = next((v for k, v in m.items() if k.split('/')[-1] == key), None)
            row.append('-' if value is None else f'{value:.2f}')  # already in %
        for _, key in LOG_COLUMNS:
            row.append(f'{s[key]:.3f}' if key in s else '-')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    ablation = Ablation(args)
    results = OrderedDict()
    for name in args.variants:
        res = ablation.run_variant(name, VARIANTS[name])
        if args.dry_run:
            continue
        res['scalars'] = read_train_scalars(res['log'], args.last_logs)
        results[name] = res
    if args.dry_run:
        return
    table = format_table(results)
    budget = (f'stage0={args.stage0_iters} pretrain={args.pretrain_iters} '
              f'decouple={args.decouple_iters} fusion={args.fusion_iters} '
              f'test_images={args.test_images or "all"} seed={args.seed}')
    text = (f'budget: {budget}\n'
            f'cIoU / gIoU in %, test split; loss columns: mean of the last '
            f'{args.last_logs} logged iterations of the final stage\n\n{table}\n\n'
            f'command: python tools/analysis_tools/ablate.py ' + ' '.join(sys.argv[1:]))
    print(text)
    out = osp.join(ablation.work_dir, 'ablation.md')
    with open(out + '.tmp', 'w') as f:
        f.write(text + '\n')
    os.replace(out + '.tmp', out)
    print(f'table written to {out}')


if __name__ == '__main__':
    main()
