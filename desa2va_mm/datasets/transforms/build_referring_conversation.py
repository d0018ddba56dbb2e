"""Prompts and answers of referring segmentation (Sa2VA's templates, docs/design.md §9)."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS

#: The image placeholder :class:`TokenizeConversation` expands into image tokens.
IMAGE_PLACEHOLDER = '<image>'
DEFAULT_QUESTIONS = ('Please segment {expression} in this image.', )
DEFAULT_ANSWERS = ('It is [SEG].', 'Sure, [SEG].', 'Sure, it is [SEG].',
                   'Sure, the segmentation result is [SEG].', '[SEG].')


@TRANSFORMS.register_module()
class BuildReferringConversation(BaseTransform):
    """Write the conversation(s) of a referring-segmentation sample.

    Training (``mode='train'``): one multi-turn conversation over all targets of the image,
    ``results['conversation'] = [{'user': ..., 'assistant': ...}, ...]``; the first user
    turn starts with the image placeholder, each answer holds one ``[SEG]``.

    Evaluation (``mode='test'``): one single-turn prompt per sentence,
    ``results['prompts'] = [[{'user': ..., 'assistant': None}], ...]``, so every sentence
    is answered independently (and the model can batch them over one image encoding).

    Expressions are inserted verbatim; :class:`TokenizeConversation` keeps special tokens a
    user typed (``[SEG]``, ``<img>``) as plain text.

    Args:
        mode: ``'train'`` or ``'test'``.
        questions: Templates with ``{expression}``; training draws one per turn, testing
            uses the first.
        answers: Answer templates containing ``[SEG]``; training draws one per turn.
    """

    def __init__(self, mode: str = 'train', questions: Sequence[str] = DEFAULT_QUESTIONS,
                 answers: Sequence[str] = DEFAULT_ANSWERS) -> None:
        if mode not in ('train', 'test'):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if not questions or any('{expression}' not in q for q in questions):
            raise ValueError('every question template needs an {expression} field')
        if not answers or any(a.count('[SEG]') != 1 for a in answers):
            raise ValueError('every answer template needs exactly one [SEG]')
        self.mode = mode
        self.questions = tuple(questions)
        self.answers = tuple(answers)

    @staticmethod
    def _clean(expression: str) -> str:
        return ' '.join(str(expression).split()).strip().rstrip('.')

    def transform(self, results: dict) -> dict:
        texts = results.get('text')
        if not texts:
            raise ValueError(f"{results.get('img_path', '<unknown image>')}: no expression")
        for i, t in enumerate(texts):
            if isinstance(t, bytes):  # a split file written with bytes sentences
                try:
                    t = texts[i] = t.decode('utf-8')
                except UnicodeDecodeError as e:
                    raise ValueError(
                        f"{results.get('img_path', '<unknown image>')}: expression {i} is "
                        f'not UTF-8 text ({t[:40]!r}...: {e})') from None
            if not isinstance(t, str) or not self._clean(t):
                raise ValueError(f"{results.get('img_path', '<unknown image>')}: expression "
                                 f'{i} is empty')
        if self.mode == 'test':
            q = self.questions[0]
            results['prompts'] = [[{
                'user': f'{IMAGE_PLACEHOLDER}\n' + q.format(expression=self._clean(t)),
                'assistant': None
            }] for t in texts]
            return results
        turns = []
        for i, t in enumerate(texts):
            q = self.questions[np.random.randint(len(self.questions))]
            a = self.answers[np.random.randint(len(self.answers))]
            user = q.format(expression=self._clean(t))
            if i == 0:
                user = f'{IMAGE_PLACEHOLDER}\n{user}'
            turns.append({'user': user, 'assistant': a})
        results['conversation'] = turns
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mode={self.mode!r}, {len(self.questions)} questions)'
