"""Prompts and answers of referring segmentation: Sa2VA's templates (docs/design.md §9)."""
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS

#: The image placeholder :class:`TokenizeConversation` expands into image tokens.
IMAGE_PLACEHOLDER = '<image>'

#: Sa2VA's segmentation questions, drawn at random for every training turn of images and
#: videos alike (its ``SEG_QUESTIONS``, read by ``RefCOCO_Dataset.py`` and
#: ``ReVOS_Dataset.py``; the video datasets keep the "in this image" wording).
#: ``{class_name}`` is ``{expression}`` here.
SA2VA_SEG_QUESTIONS = (
    'Can you segment the {expression} in this image?',
    'Please segment {expression} in this image.',
    'What is {expression} in this image? Please respond with segmentation mask.',
    'What is {expression} in this image? Please output segmentation mask.',
    'Can you segment the {expression} in this image',
    'Please segment {expression} in this image',
    'What is {expression} in this image? Please respond with segmentation mask',
    'What is {expression} in this image? Please output segmentation mask',
    'Could you provide a segmentation mask for the {expression} in this image?',
    'Please identify and segment the {expression} in this image.',
    'Where is the {expression} in this picture? Please respond with a segmentation mask.',
    'Can you highlight the {expression} in this image with a segmentation mask?',
    'Could you provide a segmentation mask for the {expression} in this image',
    'Please identify and segment the {expression} in this image',
    'Where is the {expression} in this picture? Please respond with a segmentation mask',
    'Can you highlight the {expression} in this image with a segmentation mask',
)
#: Sa2VA's answers (its ``ANSWER_LIST``), one drawn per training turn.
SA2VA_ANSWERS = ('It is [SEG].', 'Sure, [SEG].', 'Sure, it is [SEG].',
                 'Sure, the segmentation result is [SEG].', '[SEG].')
#: Sa2VA's image evaluation question (RefCOCO / + / g): it follows the image placeholder
#: and its newline, leading space included, with the sentence inserted as given.
IMAGE_TEST_QUESTION = ' Please segment {expression} in this image.'
#: Sa2VA's video evaluation question (MeViS, Ref-YouTube-VOS, Ref-DAVIS17, ReVOS).
VIDEO_TEST_QUESTION = 'Please segment {expression}.'
#: ReVOS ``type_id`` of reasoning expressions: questions, used verbatim.
REASONING_TYPE_IDS = (1, )

DEFAULT_QUESTIONS = SA2VA_SEG_QUESTIONS
DEFAULT_ANSWERS = SA2VA_ANSWERS


@TRANSFORMS.register_module()
class BuildReferringConversation(BaseTransform):
    """Write the conversation(s) of a referring-segmentation sample.

    Training (``mode='train'``): one multi-turn conversation over all targets of the image
    or video, ``results['conversation'] = [{'user': ..., 'assistant': ...}, ...]``; the
    first user turn starts with the image placeholder and a newline, each answer holds one
    ``[SEG]``. An expression enters a question template drawn from ``questions``
    (lower-cased, its final period dropped, as Sa2VA's datasets do); a question is used
    verbatim.

    Evaluation (``mode='test'``): one single-turn prompt per sentence,
    ``results['prompts'] = [[{'user': ..., 'assistant': None}], ...]``: the image
    placeholder, a newline and ``test_question`` with the sentence inserted as given, or
    the question itself. Every sentence is answered independently (and the model can
    batch them over one image encoding).

    Which texts are questions comes from the dataset's own fields: ``is_sentence``
    (ReasonSeg, one flag per image) or ``type_ids`` (ReVOS, one per expression,
    written by :class:`SampleVideoExpressions`; those in ``question_type_ids`` are
    questions). Without them every text is an expression.

    Special tokens a user typed (``[SEG]``, ``<img>``) stay plain text
    (:class:`TokenizeConversation` tokenises user text with special-token matching off).

    Args:
        mode: ``'train'`` or ``'test'``.
        questions: Training templates with ``{expression}``, one drawn per turn; None:
            Sa2VA's :data:`SA2VA_SEG_QUESTIONS`.
        answers: Answer templates containing one ``[SEG]``; one drawn per training turn.
        test_question: Evaluation template with ``{expression}``; None: the first of
            ``questions`` when they are given (one template for training and test),
            else Sa2VA's image question :data:`IMAGE_TEST_QUESTION`. Video pipelines pass
            :data:`VIDEO_TEST_QUESTION`.
        question_type_ids: ``type_ids`` values that mark a question.
    """

    def __init__(self,
                 mode: str = 'train',
                 questions: Optional[Sequence[str]] = None,
                 answers: Sequence[str] = DEFAULT_ANSWERS,
                 test_question: Optional[str] = None,
                 question_type_ids: Sequence[int] = REASONING_TYPE_IDS) -> None:
        if mode not in ('train', 'test'):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        if questions is not None and (
                isinstance(questions, str) or not questions
                or any('{expression}' not in q for q in questions)):
            raise ValueError('questions must be a non-empty list of templates, each with an '
                             f'{{expression}} field; got {questions!r}')
        if test_question is not None and '{expression}' not in test_question:
            raise ValueError(f'test_question needs an {{expression}} field, got '
                             f'{test_question!r}')
        if not answers or any(a.count('[SEG]') != 1 for a in answers):
            raise ValueError('every answer template needs exactly one [SEG]')
        self.mode = mode
        self.questions = tuple(questions) if questions is not None else DEFAULT_QUESTIONS
        self.answers = tuple(answers)
        if test_question is None:
            test_question = self.questions[0] if questions is not None else \
                IMAGE_TEST_QUESTION
        self.test_question = test_question
        self.question_type_ids = tuple(question_type_ids)

    @staticmethod
    def _clean(expression: str) -> str:
        return ' '.join(str(expression).split()).strip().rstrip('.')

    def _is_question(self, results: dict, num_texts: int) -> List[bool]:
        """One flag per text: whether the dataset marks it as a question."""
        if results.get('is_sentence') is not None:
            return [bool(results['is_sentence'])] * num_texts
        type_ids = results.get('type_ids')
        if type_ids is None:
            return [False] * num_texts
        if len(type_ids) != num_texts:
            raise ValueError(
                f"video {results.get('video_id', '<unknown video>')!r}: {len(type_ids)} "
                f'type_ids for {num_texts} expressions; BuildReferringConversation reads '
                f'them in the order SampleVideoExpressions wrote them')
        return [t in self.question_type_ids for t in type_ids]

    def transform(self, results: dict) -> dict:
        name = results.get('img_path', results.get('video_id', '<unknown image>'))
        texts = results.get('text')
        if not texts:
            raise ValueError(f'{name}: no expression')
        for i, t in enumerate(texts):
            if isinstance(t, bytes):  # a split file written with bytes sentences
                try:
                    t = texts[i] = t.decode('utf-8')
                except UnicodeDecodeError as e:
                    raise ValueError(f'{name}: expression {i} is not UTF-8 text '
                                     f'({t[:40]!r}...: {e})') from None
            if not isinstance(t, str) or not self._clean(t):
                raise ValueError(f'{name}: expression {i} is empty')
        is_question = self._is_question(results, len(texts))
        if self.mode == 'test':
            results['prompts'] = [[{
                'user': f'{IMAGE_PLACEHOLDER}\n' +
                (t.strip() if question else self.test_question.format(expression=t)),
                'assistant': None
            }] for t, question in zip(texts, is_question)]
            return results
        turns = []
        for i, (t, question) in enumerate(zip(texts, is_question)):
            if question:
                user = t.strip()
            else:
                q = self.questions[np.random.randint(len(self.questions))]
                user = q.format(expression=self._clean(t).lower())
            a = self.answers[np.random.randint(len(self.answers))]
            if i == 0:
                user = f'{IMAGE_PLACEHOLDER}\n{user}'
            turns.append({'user': user, 'assistant': a})
        results['conversation'] = turns
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, '
                f'{len(self.questions)} questions, test_question={self.test_question!r})')
