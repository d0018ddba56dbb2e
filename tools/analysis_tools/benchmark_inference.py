"""RefCOCO-style evaluation speed: per-sentence processing vs shared-image batching.

Sa2VA's evaluation script answers each sentence on its own: the image is tiled, encoded by
the InternVL vision tower and by SAM-2, and one sequence is generated (Hugging Face
``generate``), once per sentence. ``DeSa2VA.predict`` (through ``DeSa2VAInferencer``)
encodes each image once and answers all its sentences in one batched generation, whose
shared prompt prefix (template + image tokens) runs once with its KV cache reused
(``InternVLMLLM(share_prompt_prefix=True)``, the default), and takes several images per
call with ``--batch-size``. This script runs these side by side on the same images, model
and sentences, prints the throughput, the speed-up over the per-sentence reference and
whether masks and answers are identical to it.

    python tools/analysis_tools/benchmark_inference.py [--size small|tiny] \
        [--sentences 7] [--images 4] [--batch-size 4] [--repeats 2] \
        [--config configs/sa2va/sa2va_tiny.py] [--checkpoint CKPT] [--answer sure|all-seg]

Without ``--checkpoint`` the weights are random and never emit ``[SEG]``, which would skip
mask decoding; the LM head is then replaced by a forced one (:func:`force_answers`):
``--answer sure`` (default) scripts Sa2VA's answer "Sure, [SEG]." and EOS, token by token
(one ``[SEG]`` and one mask per sentence, as a trained model answers); ``--answer all-seg``
answers ``[SEG]`` at every step (``max_new_tokens`` of them per answer, each decoded).
``small`` widens the tiny model (benchmark_step.py's small size) so the MLLM and SAM-2
dominate. The timed runs of the modes are interleaved; a second table splits each mode's
time per image into the vision tower, the SAM-2 image encoder, generation, SAM-2 mask
decoding and the rest (pipeline, upsampling, collation).

The per-sentence reference is our model through Hugging Face ``generate``: when an answer
ends on ``[SEG]`` (every ``all-seg`` answer does) it runs prompt + answer once more for
that token's state, which Sa2VA's own code skips by dropping the last ``[SEG]``.
benchmark_vs_sa2va.py times Sa2VA's own ``predict_forward`` instead.
"""
import argparse
import contextlib
import functools
import os.path as osp
import statistics
import sys
import time
from typing import Sequence

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# The ``small`` size of benchmark_step.py (one definition for both benchmarks).
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_step import SMALL  # noqa: E402

#: Forced answers of random weights (see :func:`force_answers`).
ANSWERS = ('sure', 'all-seg')
#: Sa2VA's answer "Sure, [SEG]." (one of its ANSWER_LIST), scripted token by token.
SCRIPTED_ANSWER = 'Sure, [SEG].'

#: RefCOCO-style sentences in the synthetic vocabulary (7 = RefCOCO val's mean per image).
SENTENCES = ('the red circle', 'the leftmost shape', 'the large blue square',
             'the star below the triangle', 'the smallest shape', 'the green hexagon',
             'the shape right of the circle', 'the topmost purple shape',
             'the yellow triangle', 'the biggest star')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-sentence vs shared-image inference throughput (identical masks)')
    parser.add_argument('--config', default='configs/sa2va/sa2va_tiny.py', help='model config')
    parser.add_argument('--checkpoint', default=None, help='checkpoint (default: random)')
    parser.add_argument('--size', choices=['small', 'tiny'], default='small',
                        help='small: the widened tiny model of benchmark_step.py')
    parser.add_argument('--sentences', type=int, default=7, help='sentences per image')
    parser.add_argument('--images', type=int, default=4, help='images')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='images per call in the batched mode')
    parser.add_argument('--repeats', type=int, default=2, help='timed runs per mode (median)')
    parser.add_argument('--answer', choices=ANSWERS, default='sure',
                        help='forced answer of random weights: sure = "Sure, [SEG]." then '
                        'EOS (default), all-seg = [SEG] at every step (max_new_tokens [SEG] '
                        'per answer, each decoded)')
    args = parser.parse_args(argv)
    if not 1 <= args.sentences <= len(SENTENCES):
        parser.error(f'--sentences must be in 1..{len(SENTENCES)}')
    if args.images < 1 or args.repeats < 1 or args.batch_size < 1:
        parser.error('--images, --repeats and --batch-size must be >= 1')
    return args


def build_config(args):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, args.config)
                          if not osp.isabs(args.config) else args.config)
    if args.size == 'small':
        cfg.merge_from_dict(dict(model=SMALL))
        for step in cfg.test_dataloader.dataset.pipeline:
            name = step['type']
            if name == 'InternVLTiling':
                step['tile_size'] = 224
            elif name in ('Resize', 'DirectResize'):
                step['scale'] = (256, 256)
            elif name == 'TokenizeConversation':
                step['num_image_tokens_per_tile'] = 64
    return cfg


def seg_answer_head(head, seg_token_id: int):
    """An LM head of ``head``'s shape whose argmax is always ``seg_token_id``.

    Args:
        head: The model's ``nn.Linear`` LM head (H -> vocabulary).
        seg_token_id: Id of ``[SEG]``.

    Returns:
        ``nn.Linear`` with zero weight and a bias of 1 at ``[SEG]``, 0 elsewhere.
    """
    forced = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        forced.weight.zero_()
        forced.bias.zero_()
        forced.bias[seg_token_id] = 1.0
    return forced


class ScriptedAnswerHead(torch.nn.Module):
    """An LM head whose argmax follows a script: ``script[k]`` at the k-th call since
    :meth:`reset`, then the script's last token.

    Every generation loop here (Hugging Face ``generate``, our shared-prefix loop, Sa2VA's
    ``generate``) calls the LM head once per step on the last position, so the k-th call
    picks the k-th answer token of every sequence of the batch.

    Args:
        in_features: Hidden size H.
        vocab_size: Output size V.
        script: Token ids of the answer.
    """

    def __init__(self, in_features: int, vocab_size: int, script: Sequence[int]) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, vocab_size
        self.script = list(script)
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V) logits: 1 at the scripted token, 0 elsewhere."""
        token = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        logits = hidden.new_zeros(*hidden.shape[:-1], self.out_features)
        logits[..., token] = 1.0
        return logits


def _reset_before(generate, head: ScriptedAnswerHead):
    """``generate`` that restarts ``head``'s script first (one answer per call)."""

    @functools.wraps(generate)
    def wrapped(*args, **kwargs):
        head.reset()
        return generate(*args, **kwargs)

    return wrapped


def force_answers(generating, lm_owner, tokenizer, seg_token_id: int,
                  answer: str = 'sure') -> None:
    """Make random weights give a fixed answer with ``[SEG]`` (they never emit it).

    Args:
        generating: The object whose ``generate`` produces one batch of answers per call
            (restarts the script).
        lm_owner: The causal LM holding ``lm_head`` (replaced).
        tokenizer: Encodes the scripted answer.
        seg_token_id: Id of ``[SEG]``.
        answer: ``'sure'``: :data:`SCRIPTED_ANSWER` then EOS, one ``[SEG]`` as in a
            trained model's answer; ``'all-seg'``: ``[SEG]`` at every step.
    """
    head = lm_owner.lm_head
    if answer == 'all-seg':
        lm_owner.lm_head = seg_answer_head(head, seg_token_id)
        return
    if answer != 'sure':
        raise ValueError(f'answer must be one of {ANSWERS}, got {answer!r}')
    script = tokenizer.encode(SCRIPTED_ANSWER, add_special_tokens=False) + \
        [tokenizer.eos_token_id]
    if script.count(seg_token_id) != 1:
        raise ValueError(f'{SCRIPTED_ANSWER!r} must encode to one [SEG] with this tokenizer, '
                         f'got ids {script}')
    scripted = ScriptedAnswerHead(head.in_features, head.out_features, script)
    lm_owner.lm_head = scripted
    generating.generate = _reset_before(generating.generate, scripted)


def force_seg_answers(model, answer: str = 'sure') -> None:
    """:func:`force_answers` on a built ``DeSa2VA`` / Sa2VA-baseline model."""
    force_answers(model.mllm, model.mllm.model, model.mllm.tokenizer,
                  model.mllm.seg_token_id, answer)


#: Stages timed in every mode: (column, model attribute, method).
STAGES = (('ViT', 'mllm', 'encode_images'),
          ('SAM-2 enc', 'grounding_encoder', 'encode_image'),
          ('LLM generate', 'mllm', 'generate'),
          ('SAM-2 dec', 'seg_head', 'decode'))


@contextlib.contextmanager
def stage_timer(model, totals: dict):
    """Inside, each :data:`STAGES` method of ``model`` adds its wall time to
    ``totals[column]`` (an instance attribute shadows the method; on exit the owner's own
    instance attribute, such as :func:`force_answers`' generate, is put back)."""
    wrapped = []
    for label, owner_name, method in STAGES:
        owner = getattr(model, owner_name)
        wrapped.append((owner, method, owner.__dict__.get(method)))

        def timed(*args, _fn=getattr(owner, method), _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - start

        setattr(owner, method, timed)
    try:
        yield totals
    finally:
        for owner, method, own in wrapped:
            if own is None:
                delattr(owner, method)
            else:
                setattr(owner, method, own)


def main(argv=None):
    args = parse_args(argv)
    import numpy as np

    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.synthetic import generate_image

    cfg = build_config(args)
    torch.manual_seed(0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights: the point here is the speed
        inferencer = DeSa2VAInferencer(cfg, args.checkpoint, device='cpu', show_progress=False)
    if args.checkpoint is None:
        force_seg_answers(inferencer.model, args.answer)
    images = [generate_image(0, i, 128).image for i in range(args.images)]
    sentences = list(SENTENCES[:args.sentences])

    # Each mode returns, per image, (masks (S, H, W), answers [S]).
    def per_sentence():
        out = []
        for img in images:
            preds = [inferencer(img, texts=[s])['predictions'][0] for s in sentences]
            out.append((np.concatenate([p['masks'] for p in preds]),
                        [p['answers'][0] for p in preds]))
        return out

    def shared():
        preds = [inferencer(img, texts=sentences)['predictions'][0] for img in images]
        return [(p['masks'], p['answers']) for p in preds]

    def batched():
        preds = inferencer(images, texts=sentences, batch_size=args.batch_size)['predictions']
        return [(p['masks'], p['answers']) for p in preds]

    mllm = inferencer.model.mllm
    # (name, function, prompt-prefix KV sharing in generation)
    modes = [('per sentence, HF generate (Sa2VA eval)', per_sentence, False),
             ('shared image, HF generate', shared, False),
             ('shared image + prefix cache, 1 img/call', shared, True),
             (f'shared image + prefix cache, {args.batch_size} img/call', batched, True)]
    outputs = {}
    for name, fn, share_prefix in modes:
        mllm.share_prompt_prefix = share_prefix
        outputs[name] = fn()  # warm-up (and the masks compared below)
    # Timed runs interleaved across modes, so that a change of machine load hits all.
    runs = {name: [] for name, _, _ in modes}
    stages = {name: {} for name, _, _ in modes}
    repeatable = {name: True for name, _, _ in modes}
    for _ in range(args.repeats):
        for name, fn, share_prefix in modes:
            mllm.share_prompt_prefix = share_prefix
            with stage_timer(inferencer.model, stages[name]):
                start = time.perf_counter()
                out = fn()
                runs[name].append(time.perf_counter() - start)
            # The timed runs must compute what the warm-up did (checked below).
            repeatable[name] &= all(
                np.array_equal(m, ref_m) and a == ref_a
                for (m, a), (ref_m, ref_a) in zip(out, outputs[name]))
    times = {name: statistics.median(r) for name, r in runs.items()}

    reference = np.stack([masks for masks, _ in outputs[modes[0][0]]])
    ref_answers = [answers for _, answers in outputs[modes[0][0]]]
    n_sent = args.images * args.sentences
    seg_answers = sum('[SEG]' in a for answers in ref_answers for a in answers)
    print(f'config={args.config} size={args.size} images={args.images} '
          f'sentences/image={args.sentences} repeats={args.repeats} '
          f'threads={torch.get_num_threads()} weights='
          f'{args.checkpoint or f"random, forced answer {args.answer}"}')
    print(f'answers with [SEG]: {seg_answers}/{n_sent}; masks compared: '
          f'{reference.size} pixels ({n_sent} sentences x {reference.shape[-2]}x'
          f'{reference.shape[-1]})')
    print(f"{'mode':<44}{'time (s)':>10}{'sentences/s':>13}{'speed-up':>10}  masks")
    base = times[modes[0][0]]
    for name, _, _ in modes:
        masks = np.stack([m for m, _ in outputs[name]])
        diff = int((masks != reference).sum())
        answers_same = [a for _, a in outputs[name]] == ref_answers
        same = 'reference' if name == modes[0][0] else (
            ('identical' if diff == 0 else f'{diff} px differ') +
            (', same answers' if answers_same else ', answers differ'))
        if not repeatable[name]:
            same += '; TIMED RUNS DIFFER FROM THE WARM-UP'
        print(f'{name:<44}{times[name]:10.3f}{n_sent / times[name]:13.2f}'
              f'{base / times[name]:10.2f}  {same}')
    print(f'where the time goes (seconds per image, mean of {args.repeats} runs):')
    print(f"{'mode':<44}" + ''.join(f'{label:>13}' for label, _, _ in STAGES) +
          f"{'other':>9}{'total':>9}")
    for name, _, _ in modes:
        per_image = {k: v / args.repeats / args.images for k, v in stages[name].items()}
        total = sum(runs[name]) / args.repeats / args.images
        print(f'{name:<44}' + ''.join(f'{per_image.get(label, 0.0):13.3f}'
                                      for label, _, _ in STAGES) +
              f'{total - sum(per_image.values()):9.3f}{total:9.3f}')
    print('command: python tools/analysis_tools/benchmark_inference.py ' +
          ' '.join(sys.argv[1:] if argv is None else argv))
    return times, outputs


if __name__ == '__main__':
    main()
