"""Prompts and answers of grounded conversation generation (GCG), Sa2VA's format.

A GCG answer is the image caption with every grounded phrase wrapped as
``<p> phrase </p> [SEG]``: one ``[SEG]`` per phrase, in caption order, each supervised by
that phrase's mask (docs/gcg.md).
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from .build_referring_conversation import IMAGE_PLACEHOLDER

#: Sa2VA's GCG training questions (its ``GCG_QUESTIONS``), one drawn per sample; the
#: image placeholder and a newline go before them. The wording, typos included, is
#: Sa2VA's.
GCG_QUESTIONS = (
    'Could you please give me a brief description of the image? Please respond with '
    'interleaved segmentation masks for the corresponding parts of the answer.',
    'Can you provide a brief description of the this image? Please output with interleaved '
    'segmentation masks for the corresponding phrases.',
    'Please briefly describe the contents of the image. Please respond with interleaved '
    'segmentation masks for the corresponding parts of the answer.',
    'Could you give a brief explanation of what can be found within this picture? Please '
    'output with interleaved segmentation masks for the corresponding phrases.',
    'Could you give me an brief explanation of this picture? Please respond with '
    'interleaved segmentation masks for the corresponding phrases.',
    'Could you provide me with a briefly analysis of this photo? Please output with '
    'interleaved segmentation masks for the corresponding parts of the answer.',
)
#: Sa2VA's GCG evaluation question (GranDf val / test): the first training question.
GCG_TEST_QUESTION = GCG_QUESTIONS[0]


def tag_caption(caption: str, spans: Sequence[Tuple[int, int]]) -> str:
    """Wrap every ``caption[start:end]`` as ``<p> phrase </p> [SEG]``.

    Args:
        caption: The caption text.
        spans: ``(start, end)`` character spans, non-overlapping (any order).

    Returns:
        The answer text; its k-th ``[SEG]`` follows the k-th span in caption order.
    """
    for start, end in sorted(spans, reverse=True):
        caption = f'{caption[:start]}<p> {caption[start:end]} </p> [SEG]{caption[end:]}'
    return caption


@TRANSFORMS.register_module()
class BuildGCGConversation(BaseTransform):
    """Write the conversation of a GCG sample.

    Input: ``caption`` (str) and ``instances`` (one dict per grounded phrase with
    ``phrase`` and ``tokens_positive`` = ``(start, end)`` into ``caption``), sorted by
    ``start`` and non-overlapping, as the GCG datasets yield them.

    Training: ``results['conversation'] = [{'user': '<image>\\n' + question, 'assistant':
    tagged caption}]`` with one ``[SEG]`` per phrase (:func:`tag_caption`), and
    ``results['text']`` = the phrases in the same order (the expression of each ``[SEG]``,
    for DeSa2VA's text anchor). The masks :class:`LoadReferringMasks` decodes from
    ``instances`` are in that order too, so the k-th ``[SEG]`` is supervised by the k-th
    mask.

    Test: ``results['prompts'] = [[{'user': '<image>\\n' + test_question, 'assistant':
    None}]]``, ``results['text'] = [test_question]`` and ``gt_caption`` / ``gt_phrases`` (the
    item's own ``gt_phrases`` when it has them, else each instance's ``phrase``) for the
    metric.

    Args:
        mode: ``'train'`` or ``'test'``.
        questions: Training questions, one drawn per sample; None: :data:`GCG_QUESTIONS`.
        test_question: Evaluation question; None: :data:`GCG_TEST_QUESTION`.
    """

    def __init__(self, mode: str = 'train', questions: Optional[Sequence[str]] = None,
                 test_question: Optional[str] = None) -> None:
        if mode not in ('train', 'test'):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if questions is not None and (isinstance(questions, str) or not questions):
            raise ValueError(f'questions must be a non-empty list of strings, got {questions!r}')
        self.mode = mode
        self.questions = tuple(questions) if questions is not None else GCG_QUESTIONS
        self.test_question = test_question if test_question is not None else \
            GCG_TEST_QUESTION

    @staticmethod
    def _check(results: dict) -> Tuple[str, List[dict]]:
        name = results.get('img_path', '<unknown image>')
        caption = results.get('caption')
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f'{name}: a GCG sample needs a non-empty caption, got {caption!r}')
        instances = results.get('instances') or []
        last_end = 0
        for k, inst in enumerate(instances):
            start, end = (int(v) for v in inst['tokens_positive'])
            if not 0 <= start < end <= len(caption) or start < last_end:
                raise ValueError(
                    f'{name}: phrase {k} ({inst.get("phrase")!r}) has span ({start}, {end}) '
                    f'that is outside the caption of length {len(caption)} or overlaps the '
                    'previous one; the GCG datasets sort spans and trim overlaps')
            last_end = end
        return caption, instances

    def transform(self, results: dict) -> dict:
        if self.mode == 'test':
            # Evaluation ground truth lists phrases without spans (GLaMM's caption file).
            caption = str(results.get('caption') or '')
            phrases = results.get('gt_phrases')
            if phrases is None:
                phrases = [i['phrase'] for i in results.get('instances') or []]
            results['prompts'] = [[{'user': f'{IMAGE_PLACEHOLDER}\n{self.test_question}',
                                    'assistant': None}]]
            # The prompt's text, not the ground-truth caption: nothing of the answer may
            # reach the model (``text`` also feeds ``expression_ids``).
            results['text'] = [self.test_question]
            results['gt_caption'] = caption
            results['gt_phrases'] = list(phrases)
            return results
        caption, instances = self._check(results)
        phrases = [caption[int(i['tokens_positive'][0]):int(i['tokens_positive'][1])]
                   for i in instances]
        if not instances:
            raise ValueError(f"{results.get('img_path', '<unknown image>')}: a GCG training "
                             'sample needs at least one grounded phrase')
        question = self.questions[np.random.randint(len(self.questions))]
        answer = tag_caption(caption, [tuple(i['tokens_positive']) for i in instances])
        results['conversation'] = [{'user': f'{IMAGE_PLACEHOLDER}\n{question}',
                                    'assistant': answer}]
        results['text'] = phrases
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, '
                f'{len(self.questions)} questions)')
