"""RefCOCO-style evaluation: Sa2VA's own ``predict_forward`` per sentence vs our inferencer.

    SA2VA_ROOT=path/to/Sa2VA python tools/analysis_tools/benchmark_vs_sa2va.py \
        [--size small|tiny] [--images 4] [--image-size 128 128] [--sentences 1 3 7] \
        [--repeats 2] [--answer sure|all-seg] [--answer-tokens 8] [--seed 0]

One set of weights, two implementations. A random Sa2VA baseline (the tiny config, widened
by ``--size small`` as in benchmark_inference.py) is exported to Sa2VA's release layout
(:func:`desa2va_mm.utils.sa2va_release.export_sa2va_release`); Sa2VA's
``Sa2VAChatModel.from_pretrained`` loads the folder (through the parity check's
:func:`~sa2va_parity_check.import_sa2va_modeling` shims and
:func:`~sa2va_parity_check.load_sa2va_model`), and so does our ``DeSa2VAInferencer``
(``weights=`` a release folder, converted in memory). Both then see the same images and
expressions:

* Sa2VA: one ``predict_forward(image=..., text=..., tokenizer=...)`` per sentence, as its
  RefCOCO evaluation (``projects/llava_sam2/evaluation/refcoco_eval.py``) calls it, with
  its question ``"<image>\\n Please segment {sentence} in this image."``
  (``evaluation/dataset/RES.py``): every call tiles the image, runs the vision tower,
  generates with Hugging Face ``generate`` and, per ``[SEG]``, encodes the image with SAM-2
  and decodes a mask;
* ours: one inferencer call per image with all its sentences (``DeSa2VA.predict``: each
  image encoded once by each encoder, one generation whose shared prompt prefix runs once).

The image test pipeline on our side is Sa2VA's (dynamic 1-12 tiles + thumbnail at the vision
tower's size, PIL-bicubic ``DirectResize`` to SAM-2's size, its question), so the inputs are
the same pixels and tokens. The images are synthetic scenes (``--image-size W H``: 128 x 128,
the synthetic set's side, by default; 640 x 480, COCO's usual size and so RefCOCO's, gives
Sa2VA's tiling its usual 12 tiles + thumbnail). ``preparing_for_generation`` hard-codes the real models' sizes
(448 px tiles of 256 tokens, SAM-2 at 1024 px): they are set to the exported model's.

Random weights never answer ``[SEG]``; on both sides the LM head is replaced by the same
forced one (benchmark_inference.py's :func:`force_answers`). ``--answer sure`` (default):
Sa2VA's answer "Sure, [SEG]." and the end token, scripted token by token and restarted at
every generation call: one ``[SEG]``, one mask and the same LLM steps per sentence on both
sides, as with a trained model. ``--answer all-seg``: ``[SEG]`` at every step for
``--answer-tokens`` steps; Sa2VA then reads the state of every ``[SEG]`` but the last (it
keeps states of tokens fed back as inputs) and encodes the image with SAM-2 again for
each, ours decodes every ``[SEG]`` (one more LLM step for the last one). The first mask of
each sentence, the one Sa2VA's evaluation scores (``pred_mask[0]``), is compared.

Printed per number of sentences per image: time per sentence and throughput of each side
(timed runs interleaved, median), their ratio, the pixels where the masks differ with the
lowest per-sentence IoU, whether the answers agree, and the goal (>= 5x at 7 sentences per
image, identical masks). Without ``--sa2va-root`` / ``SA2VA_ROOT`` the script says why and
exits 0 (``--require``: 2).
"""
import argparse
import contextlib
import copy
import functools
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_inference import ANSWERS, SENTENCES, force_answers  # noqa: E402
from benchmark_step import SMALL  # noqa: E402
from sa2va_parity_check import (build_tiny_baseline, import_sa2va_modeling,  # noqa: E402
                                load_sa2va_model, resolve_sa2va_models_dir, sa2va_on_cpu)

#: Sa2VA's RefCOCO question (``evaluation/dataset/RES.py``, ``get_questions``).
SA2VA_QUESTION = '<image>\n Please segment {} in this image.'
#: Throughput ratio (ours / Sa2VA) aimed for at 7 sentences per image, masks identical.
GOAL_RATIO = 5.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Sa2VA's own predict_forward per sentence vs our inferencer (all sentences "
        'of an image in one call): time per sentence, throughput, identical masks')
    parser.add_argument('--sa2va-root', default=os.environ.get('SA2VA_ROOT'),
                        help='Sa2VA checkout, its projects/llava_sam2/hf/models folder, or a '
                        'bare clone (default: $SA2VA_ROOT)')
    parser.add_argument('--config', default=osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'),
                        help='Sa2VA-baseline config whose sizes are used')
    parser.add_argument('--size', choices=['small', 'tiny'], default='small',
                        help="small: benchmark_step.py's widened tiny model (default)")
    parser.add_argument('--images', type=int, default=4, help='images (default 4)')
    parser.add_argument('--image-size', type=int, nargs=2, default=[128, 128],
                        metavar=('W', 'H'),
                        help='image width and height (default 128 128; RefCOCO: 640 480)')
    parser.add_argument('--sentences', type=int, nargs='+', default=[1, 3, 7],
                        help='sentences per image, one row each (default 1 3 7)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='timed runs per side and row, interleaved (median; default 2)')
    parser.add_argument('--answer', choices=ANSWERS, default='sure',
                        help='forced answer: sure = "Sure, [SEG]." then the end token '
                        '(default), all-seg = [SEG] at every step')
    parser.add_argument('--answer-tokens', type=int, default=8,
                        help='answer budget (max new tokens) on both sides (default 8, the '
                        "config's max_new_tokens)")
    parser.add_argument('--seed', type=int, default=0, help='weights and images')
    parser.add_argument('--work-dir', default=None,
                        help='where the export is written (default: a temporary folder)')
    parser.add_argument('--require', action='store_true',
                        help="exit 2 instead of 0 when Sa2VA's code is absent")
    args = parser.parse_args(argv)
    if not all(1 <= s <= len(SENTENCES) for s in args.sentences):
        parser.error(f'--sentences must be in 1..{len(SENTENCES)}')
    if args.images < 1 or args.repeats < 0 or min(args.image_size) < 16:
        parser.error('--images must be >= 1, --repeats >= 0, --image-size >= 16 16')
    needed = 2 if args.answer == 'all-seg' else 4
    if args.answer_tokens < needed:
        parser.error(f'--answer-tokens must be >= {needed} with --answer {args.answer}: Sa2VA '
                     'reads the state of a [SEG] at the next step, so an answer that ends on '
                     'its first [SEG] gives it no mask')
    return args


# --------------------------------------------------------------------------- the two sides
def sa2va_image_pipeline(model) -> List[dict]:
    """Sa2VA's image test pipeline for our inferencer (the one an exported folder gets):
    dynamic tiling, PIL-bicubic resize to SAM-2's size, its question, tokens."""
    from desa2va_mm.apis.desa2va_inferencer import default_test_pipeline
    return default_test_pipeline(model)


def prepare_sa2va_predict(sa2va, modeling, tokenizer, *, tile_size: int,
                          tokens_per_tile: int, sam_size: int, answer_tokens: int) -> None:
    """Sa2VA's ``preparing_for_generation`` (float32, ``answer_tokens`` new tokens), then
    the sizes it hard-codes for the real models set to this model's: tile side, image
    tokens per tile and SAM-2's input side."""
    sa2va.preparing_for_generation(tokenizer, max_new_tokens=answer_tokens,
                                   torch_dtype=torch.float32)
    sa2va.image_size = tile_size
    sa2va.patch_token = tokens_per_tile
    sa2va.extra_image_processor = modeling.DirectResize(target_length=sam_size)
    resize = [i for i, t in enumerate(sa2va.transformer.transforms)
              if type(t).__name__ == 'Resize']
    if len(resize) != 1:
        raise RuntimeError("Sa2VA's tile transform (preparing_for_generation's "
                           'self.transformer) is not the expected Compose with one Resize: '
                           f'{sa2va.transformer.transforms}; adapt prepare_sa2va_predict to '
                           'this Sa2VA version')
    sa2va.transformer.transforms[resize[0]] = modeling.T.Resize(
        (tile_size, tile_size), interpolation=modeling.InterpolationMode.BICUBIC)
    # predict_forward calls preprocess_image(pixels) with its default dtype, bfloat16 (what
    # the releases run in): SAM-2's mean / std are rounded to bfloat16, up to 0.0075 off on
    # the normalised input even in a float32 model. This comparison is float32 throughout.
    sa2va.grounding_encoder.preprocess_image = functools.partial(
        sa2va.grounding_encoder.preprocess_image, dtype=torch.float32)


def build_sides(modeling, config: str, *, size: str = 'small', seed: int = 0,
                answer: str = 'sure', answer_tokens: int = 8,
                work_dir: Optional[str] = None):
    """Export one random Sa2VA baseline; load it with Sa2VA's code and with our inferencer.

    Args:
        modeling: :func:`import_sa2va_modeling`'s module.
        config: A Sa2VA-baseline config (its tiny sizes, widened by ``size='small'``).
        size: ``'small'`` (benchmark_step.py's widened model) or ``'tiny'``.
        seed: Weights.
        answer: Forced answer, one of benchmark_inference.py's ``ANSWERS``.
        answer_tokens: Answer budget (max new tokens) on both sides.
        work_dir: Where the release folder is written (a temporary folder when None).

    Returns:
        ``(sa2va, inferencer)``: Sa2VA's ``Sa2VAChatModel`` ready for ``predict_forward``
        and our ``DeSa2VAInferencer``, both with the same forced answer.
    """
    import warnings

    from mmengine.config import Config

    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.utils.sa2va_release import export_sa2va_release

    # The tiny config's context (512 positions) holds one or a few tiles; Qwen2's real one
    # (32768) holds Sa2VA's 13 (12 + thumbnail) of a 640 x 480 image.
    overrides = copy.deepcopy(SMALL) if size == 'small' else {}
    overrides.setdefault('mllm', {}).setdefault('model_config', {}).setdefault(
        'text_config', {})['max_position_embeddings'] = 32768
    model, cfg = build_tiny_baseline(config, seed, cfg_options=dict(model=overrides))
    folder = osp.join(work_dir or tempfile.mkdtemp(prefix='sa2va_bench_'), 'release')
    export_sa2va_release(model, folder)
    sa2va, info, _ = load_sa2va_model(modeling, folder, cfg.model.grounding_encoder.to_dict())
    if any(info[k] for k in ('missing_keys', 'unexpected_keys', 'mismatched_keys')):
        raise RuntimeError(f"Sa2VA's code did not load the export {folder} cleanly: {info}")

    # Our side reads the same folder, through Sa2VA's pipeline.
    pipeline = sa2va_image_pipeline(model)
    cfg = Config(cfg.to_dict())
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader]['dataset']['pipeline'] = pipeline
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights: the point is speed and parity
        inferencer = DeSa2VAInferencer(cfg, folder, device='cpu', show_progress=False,
                                       max_new_tokens=answer_tokens)
    ours = inferencer.model
    seg_id = ours.mllm.seg_token_id
    force_answers(ours.mllm, ours.mllm.model, ours.mllm.tokenizer, seg_id, answer)

    tokenizer = ours.mllm.tokenizer
    prepare_sa2va_predict(sa2va, modeling, tokenizer,
                          tile_size=int(sa2va.config.force_image_size or
                                        sa2va.config.vision_config.image_size),
                          tokens_per_tile=ours.mllm.num_image_tokens_per_tile,
                          sam_size=ours.grounding_encoder.image_size,
                          answer_tokens=answer_tokens)
    force_answers(sa2va.language_model, sa2va.language_model, tokenizer, seg_id, answer)
    return sa2va, inferencer


def sa2va_predict(sa2va, tokenizer, image_rgb, sentences: Sequence[str]):
    """Sa2VA's evaluation loop for one image: one ``predict_forward`` per sentence.

    Returns:
        ``(masks, answers)``: (S, H, W) bool, each sentence's first mask (an all-False one
        where none came back, Sa2VA's "No seg pred"), and the S decoded answers.
    """
    import numpy as np
    from PIL import Image
    image = Image.fromarray(image_rgb)
    masks, answers = [], []
    for sentence in sentences:
        out = sa2va.predict_forward(image=image, text=SA2VA_QUESTION.format(sentence),
                                    tokenizer=tokenizer)
        found = out['prediction_masks']
        masks.append(found[0][0] if found else np.zeros(image_rgb.shape[:2], dtype=bool))
        answers.append(out['prediction'])
    return np.stack(masks), answers


def our_predict(inferencer, image_rgb, sentences: Sequence[str]):
    """One inferencer call with all the image's sentences: ``(masks, answers)``, (S, H, W)
    bool (each sentence's first mask) and the S decoded answers."""
    import numpy as np
    bgr = np.ascontiguousarray(image_rgb[..., ::-1])
    pred = inferencer(bgr, texts=list(sentences))['predictions'][0]
    return pred['masks'], pred['answers']


def same_answers(ours: Sequence[str], theirs: Sequence[str], end_token: str) -> bool:
    """Whether the answers hold the same tokens; Sa2VA's text keeps the end token, ours
    stops before it."""
    def words(text):
        return text.replace(end_token, ' ').split()

    return [words(a) for a in ours] == [words(a) for a in theirs]


def compare_masks(ours, theirs) -> Dict[str, float]:
    """Pixels that differ and the lowest per-sentence IoU (1 where both are empty)."""
    import numpy as np
    ours, theirs = np.asarray(ours, dtype=bool), np.asarray(theirs, dtype=bool)
    if ours.shape != theirs.shape:
        raise ValueError(f'mask shapes differ: ours {ours.shape}, Sa2VA {theirs.shape}')
    axes = tuple(range(1, ours.ndim))
    inter = (ours & theirs).sum(axes)
    union = (ours | theirs).sum(axes)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return dict(diff_pixels=int((ours != theirs).sum()), min_iou=float(iou.min()),
                pixels=int(ours.size), foreground=int(theirs.sum()))


def run_benchmark(sa2va, inferencer, images, sentence_counts: Sequence[int],
                  repeats: int, modeling=None, log=print) -> List[dict]:
    """Time both sides at each number of sentences per image (interleaved, median of
    ``repeats`` after one untimed run whose masks are compared).

    Args:
        images: RGB uint8 (H, W, 3) arrays.

    Returns:
        One dict per count: ``sentences``, ``sa2va_s`` / ``ours_s`` (seconds for all
        images), ``sentences_total``, ``ratio`` (Sa2VA time / ours), ``same_answers``,
        ``answer`` (Sa2VA's first) and :func:`compare_masks`' fields.
    """
    import numpy as np
    tokenizer = inferencer.model.mllm.tokenizer
    cpu = sa2va_on_cpu(modeling) if modeling is not None else contextlib.nullcontext()
    rows = []
    with torch.no_grad(), cpu, contextlib.redirect_stderr(open(os.devnull, 'w')):
        for count in sentence_counts:
            sentences = SENTENCES[:count]

            def theirs():
                out = [sa2va_predict(sa2va, tokenizer, img, sentences) for img in images]
                return np.stack([m for m, _ in out]), [a for _, ans in out for a in ans]

            def ours():
                out = [our_predict(inferencer, img, sentences) for img in images]
                return np.stack([m for m, _ in out]), [a for _, ans in out for a in ans]

            (ours_masks, ours_answers), (sa2va_masks, sa2va_answers) = ours(), theirs()
            row = dict(sentences=count, sentences_total=count * len(images),
                       answer=sa2va_answers[0],
                       same_answers=same_answers(ours_answers, sa2va_answers,
                                                 tokenizer.eos_token),
                       **compare_masks(ours_masks, sa2va_masks))
            times = {'sa2va': [], 'ours': []}
            for _ in range(repeats):
                for name, fn in (('sa2va', theirs), ('ours', ours)):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            if repeats:
                row['sa2va_s'] = statistics.median(times['sa2va'])
                row['ours_s'] = statistics.median(times['ours'])
                row['ratio'] = row['sa2va_s'] / row['ours_s']
            rows.append(row)
            log(f'[bench] {count} sentence(s)/image done', flush=True)
    return rows


def format_rows(rows: Sequence[dict]) -> str:
    lines = [f"{'sent/img':>8}{'Sa2VA s/sent':>14}{'ours s/sent':>13}{'Sa2VA sent/s':>14}"
             f"{'ours sent/s':>13}{'ratio':>8}  masks (first per sentence)"]
    for row in rows:
        n = row['sentences_total']
        same = 'identical' if row['diff_pixels'] == 0 else f"{row['diff_pixels']} px differ"
        masks = f"{same}, min IoU {row['min_iou']:.4f} ({row['foreground']} fg px of " \
                f"{row['pixels']}); answers {'same' if row['same_answers'] else 'differ'} " \
                f"(Sa2VA: {row['answer']!r})"
        if 'ratio' in row:
            lines.append(f"{row['sentences']:>8}{row['sa2va_s'] / n:14.4f}"
                         f"{row['ours_s'] / n:13.4f}{n / row['sa2va_s']:14.2f}"
                         f"{n / row['ours_s']:13.2f}{row['ratio']:7.2f}x  {masks}")
        else:
            lines.append(f"{row['sentences']:>8}{'-':>14}{'-':>13}{'-':>14}{'-':>13}"
                         f"{'-':>8}  {masks}")
    return '\n'.join(lines)


def goal_line(rows: Sequence[dict]) -> str:
    at7 = [r for r in rows if r['sentences'] == 7 and 'ratio' in r]
    if not at7:
        return f'goal (>= {GOAL_RATIO:g}x at 7 sentences/image, identical masks): not measured'
    row = at7[0]
    met = row['ratio'] >= GOAL_RATIO and row['diff_pixels'] == 0
    return (f"goal: >= {GOAL_RATIO:g}x Sa2VA's throughput at 7 sentences/image with identical "
            f"masks: {row['ratio']:.2f}x, "
            f"{'identical' if row['diff_pixels'] == 0 else 'masks differ'} -> "
            f"{'met' if met else 'not met'}")


def synthetic_rgb(seed: int, index: int, width: int, height: int):
    """A synthetic scene (RGB uint8, (height, width, 3)): rendered square at the shorter
    side and resized to ``width x height``."""
    import cv2

    from desa2va_mm.synthetic import generate_image
    bgr = generate_image(seed, index, min(width, height)).image
    if bgr.shape[:2] != (height, width):
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)
    return bgr[..., ::-1].copy()


def main(argv=None) -> int:
    args = parse_args(argv)
    models_dir = resolve_sa2va_models_dir(args.sa2va_root)
    if models_dir is None:
        print("benchmark_vs_sa2va: skipped, Sa2VA's code is absent (give --sa2va-root or "
              f'SA2VA_ROOT: a Sa2VA checkout or clone; got {args.sa2va_root!r})')
        return 2 if args.require else 0
    print(f"[bench] Sa2VA's code: {models_dir}", flush=True)
    modeling = import_sa2va_modeling(models_dir)
    print('[bench] building the model, exporting it, loading it on both sides ...', flush=True)
    with tempfile.TemporaryDirectory(prefix='sa2va_bench_') as tmp:
        sa2va, inferencer = build_sides(modeling, args.config, size=args.size,
                                        seed=args.seed, answer=args.answer,
                                        answer_tokens=args.answer_tokens,
                                        work_dir=args.work_dir or tmp)
        images = [synthetic_rgb(args.seed, i, *args.image_size) for i in range(args.images)]
        rows = run_benchmark(sa2va, inferencer, images, args.sentences, args.repeats,
                             modeling=modeling)
    print(f'config={osp.relpath(args.config, REPO_ROOT)} size={args.size} '
          f'images={args.images} ({args.image_size[0]}x{args.image_size[1]}) '
          f'repeats={args.repeats} '
          f'threads={torch.get_num_threads()} answer={args.answer} '
          f'({args.answer_tokens} tokens at most); Sa2VA: predict_forward per sentence, '
          'ours: DeSa2VAInferencer per image')
    print(format_rows(rows))
    print(goal_line(rows))
    print('command: OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_vs_sa2va.py '
          f'--sa2va-root SA2VA --size {args.size} --images {args.images} '
          f'--image-size {args.image_size[0]} {args.image_size[1]} --sentences '
          f"{' '.join(map(str, args.sentences))} --repeats {args.repeats} "
          f'--answer {args.answer} --answer-tokens {args.answer_tokens} --seed {args.seed}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
