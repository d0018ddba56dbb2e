"""DeSa2VA vs the Sa2VA baseline: training-step time, peak memory and inference time.

Both models share the backbone (MLLM + SAM-2) and the batch; DeSa2VA adds the decoupling
neck, a second SAM-2 decoder, the fusion gate, the adversarial / CLUB losses and one
re-prompting pass (k=1), all reading the one image encoding. The script prints the median
times, the peak memory of a training step and the ratios DeSa2VA / Sa2VA.

    python tools/analysis_tools/benchmark_step.py [--size base|small|tiny] [--iters 10] \
        [--memory-iters 2] [--mask-loss config|point|full] [--data-root data/synthetic_refcoco]

Times are medians of interleaved steps, the models taking turns in a rotating order, with
the process's usual allocator and nothing else running in it. Peak memory of a step is
measured in a separate pass, in a child process: the largest increase of the resident
memory during the step over what it held before it (sampled every millisecond by a
thread; on a CUDA device, ``torch.cuda.max_memory_allocated``), under glibc's
``MALLOC_MMAP_THRESHOLD_=65536``, so that large tensors are mapped and unmapped one by one
and resident memory follows the live tensors instead of glibc's cached heap. Neither the
sampling thread nor that allocator setting touches the timed steps: both slow a step down,
and more so the model that allocates more.

When ``--data-root`` holds no synthetic RefCOCO (``refcoco/refs(unc).p``), a small one is
generated into a temporary directory first (and the script says so), so the benchmark
runs from a fresh clone with no earlier step.

``small`` widens the tiny configs (LLM 512 x 4 layers, ViT 256 x 4 at 224 px, SAM-2 at
256 px with a wider Hiera). ``base`` is the real 1B models' training set-up at a size a CPU
can time: the LLM is Qwen2.5-0.5B's shape (896 wide, 14 heads, 2 KV heads, MLP 4864, 24
layers), trained as the real configs train it (body frozen, LoRA r=128 on every linear
layer, gradient checkpointing, embeddings and LM head trainable; ``REAL_TRAINING`` reads
these settings from ``configs/_base_/models/sa2va_1b.py``), one 448 px tile giving 256
image tokens as in InternVL2.5, and SAM-2 at 512 px (a 32 x 32 image embedding for every
decoder pass; hiera-L works at 64 x 64 at 1024 px). The vision tower (256 wide, 4 layers)
and SAM-2's Hiera are smaller than InternViT-300M and hiera-L; both are frozen, as in the
real configs, so they only add forward time, the same to both models.
At ``base`` the segmentation heads are the real-size configs' (``--mask-loss config``):
Sa2VA's head of ``configs/_base_/models/sa2va_1b.py`` and DeSa2VA's heads of
``desa2va_real_size_heads.py`` (multimask decoding, BCE x2.0 + Dice x0.5 on 12544
importance-sampled points per mask, discriminators and CLUB estimator 256 wide);
``--mask-loss full`` keeps those heads with full-pixel losses instead. ``tiny`` and
``small`` keep the tiny configs' heads (full-pixel losses) unless ``--mask-loss point``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

SMALL = dict(
    mllm=dict(model_config=dict(
        vision_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                           num_attention_heads=4, image_size=224),
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=4))),
    grounding_encoder=dict(overrides=dict(
        image_size=256,
        image_encoder=dict(trunk=dict(embed_dim=32, stages=[1, 2, 4, 1],
                                      global_att_blocks=[5, 6]),
                           neck=dict(backbone_channel_list=[256, 128, 64, 32])),
        memory_attention=dict(layer=dict(self_attention=dict(feat_sizes=[16, 16]),
                                         cross_attention=dict(feat_sizes=[16, 16]))))))


BASE = dict(
    mllm=dict(model_config=dict(
        vision_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                           num_attention_heads=4, image_size=448),
        text_config=dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=4,
                         num_attention_heads=14, num_key_value_heads=2))),
    grounding_encoder=dict(overrides=dict(
        image_size=512,
        image_encoder=dict(trunk=dict(embed_dim=48, num_heads=1, stages=[1, 2, 5, 1],
                                      global_att_blocks=[5, 7],
                                      window_pos_embed_bkg_spatial_size=[7, 7],
                                      window_spec=[8, 4, 14, 7]),
                           neck=dict(backbone_channel_list=[384, 192, 96, 48])),
        memory_attention=dict(layer=dict(self_attention=dict(feat_sizes=[32, 32]),
                                         cross_attention=dict(feat_sizes=[32, 32]))))))
# (model overrides, InternVL tile px, SAM-2 px, image tokens per tile)
SIZES = dict(small=(SMALL, 224, 256, 64), base=(BASE, 448, 512, 256))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='DeSa2VA vs Sa2VA step / inference time',
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--size', choices=['base', 'small', 'tiny'], default='base',
                        help='model size (base: real-model proportions; see above)')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per model')
    parser.add_argument('--memory-iters', type=int, default=2,
                        help='training steps per model of the memory pass (peaks vary '
                             'little from step to step)')
    parser.add_argument('--batch-size', type=int, default=4, help='images per batch')
    parser.add_argument('--mask-loss', choices=['config', 'point', 'full'], default='config',
                        help="config: base uses the real-size configs' heads and "
                             "point-sampled losses, tiny / small the tiny configs'; point / "
                             'full: the real-size heads with point-sampled / full-pixel '
                             'losses at every size')
    parser.add_argument('--data-root', default='data/synthetic_refcoco',
                        help='synthetic RefCOCO root (make_synthetic_refcoco.py); when it '
                             'has no refcoco/refs(unc).p, a small one is generated into a '
                             'temporary directory')
    # The child process of the memory pass (see the module docstring).
    parser.add_argument('--memory-pass', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


#: What the RefCOCO dataset of the timed configs reads under its data root.
REFCOCO_FILES = ('refcoco/instances.json', 'refcoco/refs(unc).p')


def ensure_synthetic_refcoco(data_root: str, num_images: int = 16,
                             tmp_dir: Optional[str] = None) -> str:
    """``data_root`` if it holds a synthetic RefCOCO, else a new one in a temp directory.

    Args:
        data_root: Root the user gave (relative paths are read from the working
            directory, then from the repository).
        num_images: Images of the generated set (one batch is read from it).
        tmp_dir: Where to generate (default: a new temporary directory, left for the
            process's lifetime).

    Returns:
        The root to read: ``refcoco/instances.json``, ``refcoco/refs(unc).p`` and
        ``train2014/`` under it.
    """
    for root in (data_root, osp.join(REPO_ROOT, data_root)):
        if all(osp.isfile(osp.join(root, f)) for f in REFCOCO_FILES):
            return root
    from desa2va_mm.synthetic import make_synthetic_refcoco
    root = tmp_dir or tempfile.mkdtemp(prefix='synthetic_refcoco_')
    print(f'{data_root} has no synthetic RefCOCO ({REFCOCO_FILES[1]} missing): generating '
          f'{num_images} images into {root}', flush=True)
    make_synthetic_refcoco(root, num_images=num_images, seed=0)
    return root


MODELS_TIMED = (('Sa2VA', 'configs/sa2va/sa2va_tiny.py'),
                ('DeSa2VA-p2', 'configs/desa2va/desa2va_tiny_decouple.py'),
                ('DeSa2VA-p3', 'configs/desa2va/desa2va_tiny_fusion.py'))


#: The real-size configs whose segmentation heads ``--mask-loss`` applies.
REAL_HEADS = dict(Sa2VA=('configs/_base_/models/sa2va_1b.py', 'model.seg_head'),
                  DeSa2VA=('configs/_base_/models/desa2va_real_size_heads.py',
                           'desa2va_heads.seg_head'))


def real_size_head(name: str, point_sampled: bool) -> dict:
    """The real-size config's ``seg_head`` for model ``name`` (Sa2VA / DeSa2VA-*), its
    losses point-sampled as configured or full-pixel (``mask_loss_sampler=None``)."""
    from mmengine.config import Config
    path, key = REAL_HEADS['Sa2VA' if name == 'Sa2VA' else 'DeSa2VA']
    node = Config.fromfile(osp.join(REPO_ROOT, path))
    for part in key.split('.'):
        node = node[part]
    # Replaces the tiny config's head as a whole (same keys, real-size values).
    head = dict(node.to_dict(), _delete_=True)
    if not point_sampled:
        head['mask_loss_sampler'] = None
    return head


#: What the real-size configs train and freeze (read from ``REAL_TRAINING[0]``): at ``base``
#: the timed models train the same parameters as the real ones, so the backbone's backward
#: is the real one's (frozen vision tower and SAM-2 encoder, the LLM through LoRA).
REAL_TRAINING = ('configs/_base_/models/sa2va_1b.py',
                 dict(mllm=('freeze_vision', 'freeze_projector', 'freeze_llm',
                            'train_embeddings', 'lora', 'gradient_checkpointing'),
                      grounding_encoder=('freeze_image_encoder', 'freeze_prompt_encoder',
                                         'freeze_memory')))


def real_training_settings() -> dict:
    """The real-size Sa2VA config's trainable-set settings and its LLM's depth, as model
    overrides: ``dict(mllm=..., grounding_encoder=...)``."""
    from mmengine.config import Config
    path, keys = REAL_TRAINING
    model = Config.fromfile(osp.join(REPO_ROOT, path)).model
    out = {part: {k: model[part][k] for k in names} for part, names in keys.items()}
    for part in out.values():
        for k, v in part.items():
            # A dict (LoRA's) replaces the tiny config's None as a whole.
            part[k] = dict(v.to_dict(), _delete_=True) if hasattr(v, 'to_dict') else v
    depth = model.mllm.model_config.text_config.num_hidden_layers
    out['mllm']['model_config'] = dict(text_config=dict(num_hidden_layers=depth))
    return out


def _configs(args):
    from mmengine.config import Config
    out = {}
    real_heads = args.mask_loss != 'config' or args.size == 'base'
    for name, path in MODELS_TIMED:
        cfg = Config.fromfile(osp.join(REPO_ROOT, path))
        if args.size in SIZES:
            overrides, tile, sam_px, tokens = SIZES[args.size]
            cfg.merge_from_dict(dict(model=overrides))
            if args.size == 'base':
                cfg.merge_from_dict(dict(model=real_training_settings()))
            steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
            steps['InternVLTiling']['tile_size'] = tile
            steps['Resize']['scale'] = (sam_px, sam_px)
            steps['TokenizeConversation']['num_image_tokens_per_tile'] = tokens
            steps['TokenizeConversation']['max_length'] = tokens + 256
        if real_heads:
            cfg.merge_from_dict(dict(model=dict(seg_head=real_size_head(
                name, point_sampled=args.mask_loss != 'full'))))
        cfg.train_dataloader.dataset.data_root = args.data_root + '/'
        out[name] = cfg
    return out


class PeakMemory:
    """Peak memory of a span above what the process held when it began, in MiB: resident
    memory sampled by a thread every ``interval`` s on the CPU, the allocator's peak on
    CUDA."""

    def __init__(self, device: str = 'cpu', interval: float = 0.001) -> None:
        self.device, self.interval = device, interval
        self.peak_mib = 0.0

    @staticmethod
    def _rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def __enter__(self) -> 'PeakMemory':
        import torch
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        self._start = self._peak = self._rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(self.interval):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch
        if self.device == 'cuda':
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._rss())
        self.peak_mib = (peak - self._start) / 2**20


def _interleaved(fns: dict, iters: int, measure) -> dict:
    """Run the functions ``iters`` times each, taking turns in a rotating order so that load
    changes on a shared machine hit every model alike; ``measure(fn)`` gives one figure.

    Returns:
        The median figure of each function.
    """
    for fn in fns.values():
        fn()  # warm-up
    names = list(fns)
    figures = {name: [] for name in names}
    for i in range(iters):
        for name in names[i % len(names):] + names[:i % len(names)]:
            figures[name].append(measure(fns[name]))
        print(f'  iteration {i + 1}/{iters} done', flush=True)
    return {name: statistics.median(f) for name, f in figures.items()}


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak_mib(fn) -> float:
    with PeakMemory() as peak:
        fn()
    return peak.peak_mib


def measure_peaks_in_child(argv) -> dict:
    """Run this script's memory pass in a child process with glibc's
    ``MALLOC_MMAP_THRESHOLD_=65536``; returns each model's median step peak (MiB)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    child = subprocess.Popen([sys.executable, osp.abspath(__file__), *argv, '--memory-pass'],
                             env=env, stdout=subprocess.PIPE, text=True)
    peaks = None
    for line in child.stdout:  # its progress, shown as it comes
        if line.startswith('PEAK_MIB '):
            peaks = json.loads(line[len('PEAK_MIB '):])
        else:
            print(line, end='', flush=True)
    if child.wait() != 0 or peaks is None:
        sys.exit(f'benchmark_step: the memory pass failed (exit code {child.returncode}; '
                 'its output is above)')
    return peaks


def main():
    argv = sys.argv[1:]
    args = parse_args(argv)
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS, MODELS
    init_default_scope('desa2va_mm')
    args.data_root = ensure_synthetic_refcoco(args.data_root,
                                              num_images=max(16, args.batch_size))
    if not args.memory_pass:
        # First, so that the child's models and this process's are not in memory together.
        print('memory: the step peaks in a child process (MALLOC_MMAP_THRESHOLD_=65536) ...',
              flush=True)
        # The child gets the data root resolved here (no second generated data set).
        train_mem = measure_peaks_in_child(argv + ['--data-root', args.data_root])
    cfgs = _configs(args)
    dataset = DATASETS.build(cfgs['Sa2VA'].train_dataloader.dataset)
    data = pseudo_collate([dataset[i] for i in range(args.batch_size)])
    train_fns, infer_fns, params = {}, {}, {}
    for name, cfg in cfgs.items():
        # Re-prompting as each config sets it (model.train_cfg / test_cfg; phase 3 trains it).
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        params[name] = sum(p.numel() for p in model.parameters()) / 1e6

        def train_step(model=model, optim=optim):
            model.train()
            batch = model.data_preprocessor(data, training=True)
            losses = model(**batch, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            optim.zero_grad()
            loss.backward()
            optim.step()

        def infer(model=model):
            model.eval()
            with torch.no_grad():
                batch = model.data_preprocessor(data, training=True)
                model(**batch, mode='tensor')

        train_fns[name] = train_step
        infer_fns[name] = infer
    if args.memory_pass:
        print(f'memory: {args.memory_iters} interleaved training steps per model ...',
              flush=True)
        print('PEAK_MIB ' + json.dumps(_interleaved(train_fns, args.memory_iters, _peak_mib)))
        return
    print(f'timing: {args.iters} interleaved training steps per model ...', flush=True)
    train_t = _interleaved(train_fns, args.iters, _seconds)
    print(f'timing: {args.iters} interleaved inference passes per model ...', flush=True)
    infer_t = _interleaved(infer_fns, args.iters, _seconds)
    sampler = cfgs['Sa2VA'].model.seg_head.get('mask_loss_sampler')
    loss = ('point-sampled ({} points)'.format(sampler['num_points']) if sampler
            else 'full-pixel')
    print(f'size={args.size} batch={args.batch_size} iters={args.iters} '
          f'threads={torch.get_num_threads()} mask loss={loss} '
          f'(--mask-loss {args.mask_loss})')
    print(f"{'model':<12}{'params (M)':>12}{'train step (s)':>16}{'step peak MiB':>15}"
          f"{'inference (s)':>15}")
    for name in cfgs:
        print(f'{name:<12}{params[name]:12.2f}{train_t[name]:16.4f}{train_mem[name]:15.1f}'
              f'{infer_t[name]:15.4f}')
    base_train, base_infer, base_mem = train_t['Sa2VA'], infer_t['Sa2VA'], train_mem['Sa2VA']
    print(f"ratio DeSa2VA / Sa2VA: train step phase 2 {train_t['DeSa2VA-p2'] / base_train:.3f}, "
          f"phase 3 (re-prompt in training) {train_t['DeSa2VA-p3'] / base_train:.3f}; "
          f"step peak memory phase 2 {train_mem['DeSa2VA-p2'] / base_mem:.3f}, phase 3 "
          f"{train_mem['DeSa2VA-p3'] / base_mem:.3f}; "
          f"inference (re-prompt k=1) {infer_t['DeSa2VA-p3'] / base_infer:.3f}")
    worst = max(train_t['DeSa2VA-p2'], train_t['DeSa2VA-p3']) / base_train
    print(f'goal: DeSa2VA / Sa2VA train step <= 1.05x: worst {worst:.3f}x '
          f'({"met" if worst <= 1.05 else "not met"})')
    print('command: python tools/analysis_tools/benchmark_step.py ' + ' '.join(sys.argv[1:]))


if __name__ == '__main__':
    main()
