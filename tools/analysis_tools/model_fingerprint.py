"""Fingerprint the tiny models: losses, gradients, logits and masks on fixed inputs.

``record`` builds every tiny model (Sa2VA, DeSa2VA phases 1-3, the stage-0 click
pre-training, the video model and the per-frame video variants) with seed 0, then, each
call seeded, runs ``loss`` + backward on fixed image / video / QA / mixed batches,
``tensor`` on a fixed image batch, ``predict`` on fixed images and on a short video
(answers forced to ``[SEG]`` so masks decode) and the streaming ``segment_video`` on
in-memory frames, and saves every loss, gradient digest, logit, mask and RLE together
with each model's state dict.

``compare`` rebuilds the models from the current code, loads the recorded state dicts
(checkpoints of the earlier layout are upgraded by the model's own loader), reruns the
same calls and prints one line per model and call: ``identical`` (``torch.equal`` on every
tensor, equal gradient digests and strings) or the largest absolute difference (a gradient
whose digest differs is judged by its float64 sum), and exits 1 when anything differs by
more than ``--atol``.

    python tools/analysis_tools/model_fingerprint.py record --out work_dirs/fingerprint.pth
    python tools/analysis_tools/model_fingerprint.py compare work_dirs/fingerprint.pth

Inputs are built in memory (video frames for ``predict`` are written as PNG files to a
temporary folder, as a dataset stores them); nothing is downloaded.
"""
import argparse
import copy
import hashlib
import os
import os.path as osp
import random
import sys
import tempfile
import time
from collections import OrderedDict

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

IMAGE_VOCAB = 'synthetic_refcoco'
VIDEO_VOCAB = 'synthetic_mevis'
SEED = 123

#: name -> (config, vocabulary, overrides of cfg.model, batches for ``loss``, extra calls)
MODELS = OrderedDict([
    ('sa2va', ('configs/sa2va/sa2va_tiny.py', IMAGE_VOCAB, {},
               ('referring', 'image_qa'), ('tensor', 'predict_image'))),
    ('sa2va_stage0', ('configs/sa2va/sa2va_tiny_sam_pretrain.py', IMAGE_VOCAB, {},
                      ('referring', ), ())),
    ('desa2va_stage0', ('configs/desa2va/desa2va_tiny_sam_pretrain.py', IMAGE_VOCAB, {},
                        ('referring', ), ())),
    ('pretrain', ('configs/desa2va/desa2va_tiny_pretrain.py', IMAGE_VOCAB, {},
                  ('referring', 'image_qa'), ('tensor', 'predict_image'))),
    ('decouple', ('configs/desa2va/desa2va_tiny_decouple.py', IMAGE_VOCAB, {},
                  ('referring', 'image_qa'), ('tensor', 'predict_image'))),
    ('fusion', ('configs/desa2va/desa2va_tiny_fusion.py', IMAGE_VOCAB, {},
                ('referring', 'image_qa'), ('tensor', 'predict_image'))),
    ('video', ('configs/desa2va_video/desa2va_tiny_video.py', VIDEO_VOCAB, {},
               ('referring', 'image_qa', 'video', 'video_qa', 'mixed'),
               ('predict_image', 'predict_video', 'segment_video'))),
    ('video_sa2va_per_frame', ('configs/_base_/models/sa2va_tiny.py', VIDEO_VOCAB, 'sa2va',
                               ('video', 'video_qa', 'mixed'),
                               ('predict_video', 'segment_video'))),
    ('video_pretrain_per_frame', ('configs/_base_/models/desa2va_tiny_video.py', VIDEO_VOCAB,
                                  'pretrain', ('video', 'video_qa', 'mixed'),
                                  ('predict_video', ))),
    ('video_fusion_per_frame', ('configs/_base_/models/desa2va_tiny_video.py', VIDEO_VOCAB,
                                'fusion', ('video', 'video_qa', 'mixed'),
                                ('predict_video', 'segment_video'))),
])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Record or compare the tiny models\' losses, gradients, logits and masks '
        'on fixed inputs (bit-level sameness across a refactor).')
    sub = parser.add_subparsers(dest='command', required=True)
    rec = sub.add_parser('record', help='build, run and save a fingerprint')
    rec.add_argument('--out', required=True, help='output file (.pth)')
    rec.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS),
                     help='models to fingerprint (default: all)')
    cmp = sub.add_parser('compare', help='rerun a recorded fingerprint with the current code')
    cmp.add_argument('reference', help='a file written by record')
    cmp.add_argument('--models', nargs='+', default=None, choices=list(MODELS),
                     help='models to compare (default: all recorded)')
    cmp.add_argument('--atol', type=float, default=0.0,
                     help='largest absolute difference accepted (default 0: bit-identical)')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- inputs
def _seed(seed: int = SEED) -> None:
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _image(seed: int, h: int = 64, w: int = 80):
    import numpy as np
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _tokenize(vocab: str):
    from desa2va_mm.datasets.transforms import TokenizeConversation
    return TokenizeConversation(dict(type='TinyWordTokenizer', vocabulary=vocab),
                                template='qwen2', num_image_tokens_per_tile=16,
                                max_length=512)


def _referring_sample(seed: int, vocab: str, mode: str = 'train'):
    import numpy as np
    from mmdet.datasets.transforms import Resize
    from mmdet.structures.mask import BitmapMasks

    from desa2va_mm.datasets.transforms import (BuildReferringConversation, InternVLTiling,
                                                PackReferringInputs)
    masks = np.zeros((2, 64, 80), np.uint8)
    masks[0, 5:30, 5 + seed:30 + seed] = 1
    masks[1, 30:60, 40:75 - seed] = 1
    results = dict(img=_image(seed), img_shape=(64, 80), ori_shape=(64, 80),
                   img_path=f'ref{seed}.jpg', img_id=seed,
                   text=['the red circle', 'the blue square'],
                   gt_masks=BitmapMasks(masks, 64, 80))
    for t in (InternVLTiling(tile_size=112, min_tiles=1, max_tiles=1, use_thumbnail=False),
              Resize(scale=(128, 128), keep_ratio=False),
              # One fixed question: the recording must not follow the prompt defaults.
              BuildReferringConversation(mode, ('Please segment {expression} in this image.', )),
              _tokenize(vocab), PackReferringInputs()):
        results = t(results)
    return results


def _qa_sample(num_frames: int, seed: int, vocab: str):
    from mmdet.datasets.transforms import Resize

    from desa2va_mm.datasets.transforms import (InternVLTiling, LoadQAVideoFrames,
                                                LoadReferringMasks, PackReferringInputs)

    class InMemoryFrames(LoadQAVideoFrames):
        def _read(self, path):
            return [_image(seed * 10 + i) for i in range(num_frames)]

    results = dict(img_path=f'qa{seed}', img_id=seed, video_path=f'qa{seed}.mp4',
                   conversation=[dict(user='<image>\nwhat is the shape ?',
                                      assistant='a red circle .')])
    if num_frames:
        load = [InMemoryFrames(num_frames=num_frames, tile_size=112)]
    else:
        results.update(img=_image(seed), img_shape=(64, 80), ori_shape=(64, 80))
        load = [InternVLTiling(tile_size=112, min_tiles=1, max_tiles=1, use_thumbnail=True)]
    for t in load + [_tokenize(vocab), LoadReferringMasks(),
                     Resize(scale=(128, 128), keep_ratio=False), PackReferringInputs()]:
        results = t(results)
    return results


def _video_frames(num: int, h: int = 40, w: int = 56, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(num)]


def _video_sample(seed: int, vocab: str, num_frames: int = 4, frame_paths=None):
    import numpy as np

    from desa2va_mm.datasets.transforms import (BuildReferringConversation,
                                                PackVideoReferringInputs, ResizeVideoFrames,
                                                VideoFrameTiling)
    frames = _video_frames(num_frames, seed=seed)
    results = dict(video_id=f'v{seed}', frames=frames, frame_ids=list(range(num_frames)),
                   expressions=['the red circle', 'the blue square'], exp_ids=['0', '1'],
                   ori_shape=(40, 56))
    questions = ('Please segment {expression} in this video.', )
    pipeline = [VideoFrameTiling(tile_size=112)]
    if frame_paths is None:
        masks = np.zeros((2, num_frames, 40, 56), np.uint8)
        for t in range(num_frames):
            masks[0, t, 5:20, 3 + t:20 + t] = 1
            masks[1, t, 22:38, 30:50 - t] = 1
        results['gt_masks'] = masks
        pipeline += [ResizeVideoFrames(128), BuildReferringConversation('train', questions)]
    else:
        results.update(frame_paths=frame_paths, key_frame_ids=[0, 1],
                       frame_names=[f'{i:05d}' for i in range(len(frame_paths))])
        results['frames'] = [_video_frames(len(frame_paths), seed=seed)[i] for i in (0, 1)]
        pipeline += [BuildReferringConversation('test', questions)]
    pipeline += [_tokenize(vocab), PackVideoReferringInputs()]
    for t in pipeline:
        results = t(results)
    return results


def build_inputs(vocab: str, frame_dir: str) -> dict:
    """Every fixed batch (pseudo-collated) for one vocabulary, built with one seed."""
    import cv2
    from mmengine.dataset import pseudo_collate
    _seed(0)
    batches = {
        'referring': [_referring_sample(4, vocab), _referring_sample(5, vocab)],
        'image_qa': [_qa_sample(0, 0, vocab), _qa_sample(0, 1, vocab)],
        'video': [_video_sample(6, vocab), _video_sample(7, vocab)],
        'video_qa': [_qa_sample(3, 2, vocab), _qa_sample(3, 3, vocab)],
        'mixed': [_qa_sample(0, 8, vocab), _qa_sample(3, 9, vocab),
                  _referring_sample(10, vocab), _video_sample(11, vocab)],
        'predict_image': [_referring_sample(12, vocab, 'test'),
                          _referring_sample(13, vocab, 'test')],
    }
    paths = []
    for i, frame in enumerate(_video_frames(7, seed=20)):
        paths.append(osp.join(frame_dir, f'{i:05d}.png'))
        cv2.imwrite(paths[-1], frame)
    batches['predict_video'] = [_video_sample(20, vocab, frame_paths=paths)]
    return {k: pseudo_collate(v) for k, v in batches.items()}


def all_inputs(tmp: str) -> dict:
    """vocabulary -> its batches; video frames go under ``tmp``."""
    inputs = {}
    for vocab in (IMAGE_VOCAB, VIDEO_VOCAB):
        os.makedirs(osp.join(tmp, vocab))
        inputs[vocab] = build_inputs(vocab, osp.join(tmp, vocab))
    return inputs


# ---------------------------------------------------------------------- models
def build_model(name: str):
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS as REGISTRY
    init_default_scope('desa2va_mm')
    config, vocab, variant, _, _ = MODELS[name]
    cfg = Config.fromfile(osp.join(REPO_ROOT, config)).model
    if isinstance(variant, str):
        # The per-frame video variants of tests/test_models/test_segmentors/test_batch_kinds.py.
        cfg.mllm.tokenizer = dict(type='TinyWordTokenizer', vocabulary=vocab)
        cfg.data_preprocessor = dict(type='VideoReferringDataPreprocessor')
        cfg.video_train = dict(mode='per_frame')
        if variant != 'sa2va':
            cfg.train_phase = variant
            _set_phase_settings(cfg, variant)
    torch.manual_seed(0)
    return REGISTRY.build(cfg)


def _set_phase_settings(cfg, phase: str) -> None:
    """Phase settings of test_batch_kinds on the video base config (either layout)."""
    head = cfg.get('seg_head')
    iters = 1 if phase == 'fusion' else 0
    if head is not None and 'train_cfg' in cfg:  # re-prompting set on the model
        cfg.train_cfg.reprompt_iters = iters
        prefix = 'seg_head.'
    elif head is not None:
        head.reprompt_iters_train = iters
        prefix = 'seg_head.'
    else:
        cfg.reprompt_iters_train = iters
        prefix = ''
    if phase == 'pretrain':
        cfg.frozen_modules = ['mllm'] + [prefix + m for m in (
            'neck.text_proj', 'neck.visual_proj', 'visual_head', 'fusion',
            'adversarial_loss', 'club_loss')]
    else:
        cfg.frozen_modules = [prefix + 'text_head', prefix + 'neck.anchor_proj']


def upgrade_keys(state: dict) -> dict:
    """Earlier checkpoint layouts -> the current one (identity where nothing changed)."""
    try:
        from desa2va_mm.models.segmentors.checkpoint_layout import upgrade_seg_head_keys
    except ImportError:
        return dict(state)
    return upgrade_seg_head_keys(state)[0]


def _digest(tensor) -> str:
    return hashlib.sha1(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def _field(out, key):
    """A decode's field from a ``SegDecodeResult`` or from the string-keyed dict the
    earlier layout returned (its phase-1 ``text_prompt`` was called ``text_anchor``)."""
    if isinstance(out, dict):
        if key == 'text_prompt' and key not in out:
            return out.get('text_anchor')
        return out.get(key)
    return getattr(out, key, None)


TENSOR_FIELDS = ('final_logits', 'iou_pred', 'text_logits', 'visual_logits', 'fused_logits',
                 'fusion_gate', 'reprompt_logits', 'text_prompt', 'visual_prompt')


def run_calls(model, name: str, inputs: dict) -> 'OrderedDict[str, dict]':
    """Every call of ``name`` on ``inputs``; returns call -> {key: value}."""
    import torch
    _, _, _, batches, extra = MODELS[name]
    results = OrderedDict()
    for kind in batches:
        model.train()
        model.zero_grad(set_to_none=True)
        _seed()
        data = model.data_preprocessor(copy.deepcopy(inputs[kind]), training=True)
        losses = model(**data, mode='loss')
        total = sum(v for k, v in losses.items() if k.startswith('loss'))
        total.backward()
        record = {f'loss/{k}': v.detach().clone() for k, v in losses.items()}
        for pname, param in model.named_parameters():
            if param.grad is not None:
                record[f'grad/{pname}'] = _digest(param.grad)
                record[f'gradsum/{pname}'] = param.grad.detach().double().sum()
        results[f'loss:{kind}'] = record
    model.zero_grad(set_to_none=True)
    model.eval()
    if 'tensor' in extra:
        _seed()
        with torch.no_grad():
            data = model.data_preprocessor(copy.deepcopy(inputs['referring']), training=True)
            out = model(**data, mode='tensor')
        results['tensor:referring'] = {
            key: _field(out, key).detach().clone() for key in TENSOR_FIELDS
            if _field(out, key) is not None}
    if 'segment_video' in extra:
        _seed()
        g = torch.Generator().manual_seed(1)
        seg_hidden = torch.randn(2, model.mllm.hidden_size, generator=g)
        record = {}
        with torch.no_grad():
            for frame in model.segment_video(_video_frames(6, seed=3), seg_hidden, [0, 2],
                                             num_frames=6):
                t = frame['frame_idx']
                record[f'{t}/masks'] = frame['masks'].clone()
                record[f'{t}/scores'] = frame['scores'].clone()
                record[f'{t}/logits'] = frame['logits'].clone()
                record[f'{t}/is_key_frame'] = str(frame['is_key_frame'])
        results['segment_video'] = record
    if 'predict_image' in extra or 'predict_video' in extra:
        from tools.analysis_tools.benchmark_inference import force_seg_answers
        force_seg_answers(model)
        for kind in ('predict_image', 'predict_video'):
            if kind not in extra:
                continue
            _seed()
            with torch.no_grad():
                samples = model.test_step(copy.deepcopy(inputs[kind]))
            record = {}
            for i, sample in enumerate(samples):
                record[f'{i}/answers'] = repr(sample.metainfo.get('pred_answers'))
                if kind == 'predict_image':
                    record[f'{i}/masks'] = sample.pred_instances.masks.clone()
                    record[f'{i}/scores'] = sample.pred_instances.scores.clone()
                else:
                    record[f'{i}/rles'] = repr(sample.metainfo['pred_rles'])
                    record[f'{i}/frame_names'] = repr(sample.metainfo['frame_names'])
            results[kind] = record
    return results


# ---------------------------------------------------------------------- commands
def record(args) -> None:
    import torch
    out = dict(models=OrderedDict())
    with tempfile.TemporaryDirectory() as tmp:
        inputs = all_inputs(tmp)
        for name in args.models:
            start = time.perf_counter()
            model = build_model(name)
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            calls = run_calls(model, name, inputs[MODELS[name][1]])
            out['models'][name] = dict(state_dict=state, calls=calls)
            print(f'[fingerprint] {name}: {len(calls)} calls, {len(state)} state entries '
                  f'({time.perf_counter() - start:.1f} s)', flush=True)
    torch.save(out, args.out)
    print(f'[fingerprint] wrote {args.out}')


def _compare_values(ref, new):
    """(identical, max abs diff or None) of two recorded values."""
    import torch
    if isinstance(ref, torch.Tensor) and isinstance(new, torch.Tensor):
        if ref.shape != new.shape or ref.dtype != new.dtype:
            return False, float('inf')
        if torch.equal(ref, new):
            return True, 0.0
        if ref.dtype == torch.bool:
            return False, float((ref != new).sum())
        return False, float((ref.double() - new.double()).abs().max())
    return ref == new, None


def compare(args) -> int:
    import torch
    reference = torch.load(args.reference, map_location='cpu', weights_only=True)
    names = args.models or list(reference['models'])
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = all_inputs(tmp)
        for name in names:
            ref = reference['models'][name]
            model = build_model(name)
            state = upgrade_keys(ref['state_dict'])
            own = model.state_dict()
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
            loaded = model.state_dict()
            same_state = all(torch.equal(loaded[k], state[k]) for k in own if k in state)
            print(f'[fingerprint] {name}: state dict {len(own)} entries, loaded '
                  f'{"bit-identical" if same_state else "DIFFERENT"}; missing {len(missing)}, '
                  f'not in this model {len(unexpected)}'
                  + (f' (e.g. {unexpected[0]})' if unexpected else ''))
            if missing or not same_state:
                failures += 1
                print(f'    missing: {missing[:10]}')
            calls = run_calls(model, name, inputs[MODELS[name][1]])
            for call, ref_values in ref['calls'].items():
                new_values = calls.get(call)
                if new_values is None:
                    print(f'    {call:<28} MISSING in the current run')
                    failures += 1
                    continue
                ref_values = {_upgrade_name(k): v for k, v in ref_values.items()}
                keys = set(ref_values) | set(new_values)
                worst, bad, within = 0.0, [], []
                for key in sorted(keys):
                    if key not in ref_values or key not in new_values:
                        bad.append(f'{key} only in {"current" if key in new_values else "ref"}')
                        continue
                    same, diff = _compare_values(ref_values[key], new_values[key])
                    if not same and key.startswith('grad/'):
                        # A gradient is stored as a digest: judge it by its float64 sum.
                        sum_key = 'gradsum/' + key[len('grad/'):]
                        diff = _compare_values(ref_values[sum_key], new_values[sum_key])[1]
                        diff = float('inf') if diff is None else diff
                    if not same:
                        if diff is None or diff > args.atol:
                            bad.append(f'{key} (diff {diff})')
                        else:
                            within.append(key)
                        worst = max(worst, diff or 0.0)
                if bad:
                    failures += 1
                    print(f'    {call:<28} DIFFERS in {len(bad)} of {len(keys)}: '
                          + '; '.join(bad[:6]))
                elif worst > 0:
                    print(f'    {call:<28} {len(keys)} values, {len(within)} not bit-identical '
                          f'but within atol (max diff {worst:.3g}: {", ".join(within[:4])})')
                else:
                    print(f'    {call:<28} {len(keys)} values identical')
    print(f'[fingerprint] {"OK" if not failures else f"{failures} differences"}')
    return 1 if failures else 0


def _upgrade_name(key: str) -> str:
    """A recorded ``grad/<param>`` name in the current layout."""
    for kind in ('grad/', 'gradsum/'):
        if key.startswith(kind):
            return kind + next(iter(upgrade_keys({key[len(kind):]: None})))
    return key


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == 'record':
        record(args)
        return 0
    return compare(args)


if __name__ == '__main__':
    sys.exit(main())
