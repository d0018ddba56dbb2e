"""Multiple-choice accuracy (MMBench, SEED-Bench, Video-MME, ...): letter extraction as
VLMEvalKit's exact matching or Video-MME's script, MMBench's circular evaluation,
per-category breakdowns."""
import re
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.registry import METRICS
from .qa_answer_writer import write_jsonl_atomic

#: Punctuation read as a word boundary before looking for an option letter ("(B)",
#: "B.", "[B]" all give the word "B").
_SEPARATORS = '.()[],:;!*#{}'
#: Lead-ins Video-MME's evaluation script removes before looking for a letter.
_VIDEO_MME_PREFIXES = ('The best answer is', 'The correct answer is', 'The answer is',
                       'The answer', 'The best option is', 'The correct option is',
                       'Best answer:', 'Best option:')


def extract_choice(answer: str, choices: Dict[str, str]) -> Optional[str]:
    """The option an answer picks, by VLMEvalKit's exact-matching rules (no LLM judge).

    1. Option letters: punctuation in :data:`_SEPARATORS` becomes spaces and the answer is
       split into words; if exactly one of the option letters is a word, that letter.
    2. Otherwise option texts: if exactly one option's text occurs in the answer
       (case-insensitive), its letter.
    3. Otherwise None: the answer is scored wrong (VLMEvalKit would ask a judge model).

    Args:
        answer: The model's decoded answer.
        choices: Letter -> option text.

    Returns:
        The letter, or None when the answer names no option or more than one.
    """
    words = answer
    for char in _SEPARATORS:
        words = words.replace(char, ' ')
    named = [letter for letter in choices if letter in words.split()]
    if len(named) == 1:
        return named[0]
    if not named:
        lowered = answer.lower()
        by_text = [letter for letter, text in choices.items()
                   if text and str(text).lower() in lowered]
        if len(by_text) == 1:
            return by_text[0]
    return None


def extract_choice_video_mme(answer: str, choices: Dict[str, str]) -> Optional[str]:
    """The option an answer picks, by Video-MME's evaluation script
    (``extract_characters_regex``).

    The lead-ins of :data:`_VIDEO_MME_PREFIXES` are removed, then the first capital option
    letter anywhere in the answer is its choice (so "A dog" reads as A, as the script
    reads it); an answer without one names none.

    Args:
        answer: The model's decoded answer.
        choices: Letter -> option text (their letters form the searched set).

    Returns:
        The letter, or None.
    """
    text = answer.strip()
    for prefix in _VIDEO_MME_PREFIXES:
        text = text.replace(prefix, '')
    letters = '[' + ''.join(sorted(choices)) + ']'
    match = re.search(letters, text)
    return match.group(0) if match else None


def extract_choice_mvbench(answer: str, choices: Dict[str, str]) -> Optional[str]:
    """The option an answer picks, by MVBench's evaluation (video_chat2's ``check_ans``).

    The official script starts the answer with "Best option:(" and puts the ``(`` back in
    front of the model's first line (stripped); the first space-separated word,
    lower-cased and without dots, is the pick. A letter ``x`` is picked when that word is contained in
    ``(x)`` or contains it: "B", "B.", "B)", "(B) text" all pick B.

    One deviation: an empty answer reads as "(", which the official substring test finds
    in every option, so the script counts it right whatever the ground truth; here it
    names no option (scored wrong, counted in ``unmatched``).

    Args:
        answer: The model's decoded answer.
        choices: Letter -> option text.

    Returns:
        The letter, or None.
    """
    lines = answer.strip().split('\n')
    word = ('(' + lines[0]).lower().split(' ')[0].replace('.', '')
    if word == '(':
        return None
    picked = [letter for letter in choices
              if word in f'({letter.lower()})' or f'({letter.lower()})' in word]
    return picked[0] if len(picked) == 1 else None


#: ``answer_extraction`` options of :class:`MultipleChoiceMetric`.
EXTRACTORS = {'exact_matching': extract_choice, 'video_mme': extract_choice_video_mme,
              'mvbench': extract_choice_mvbench}


@METRICS.register_module()
class MultipleChoiceMetric(BaseMetric):
    """Accuracy on multiple-choice questions, overall and per category.

    Each prediction's metainfo gives ``question_id``, ``choices`` (letter -> text),
    ``gt_answer`` (a letter), ``category`` and ``circular_group`` (set by
    :class:`~desa2va_mm.datasets.MMBenchDataset` / ``SEEDBenchDataset``), and
    ``pred_answers`` (the first is scored). The answer's letter comes from
    :func:`extract_choice`.

    Circular evaluation (MMBench): the rows of one ``circular_group`` are one question
    asked with its options rotated; the question counts as right only if every copy is
    answered right. With no copies (every group one row) this is plain accuracy.

    ``answer_extraction``: ``'exact_matching'`` (:func:`extract_choice`, VLMEvalKit's),
    ``'video_mme'`` (:func:`extract_choice_video_mme`, Video-MME's script) or
    ``'mvbench'`` (:func:`extract_choice_mvbench`, MVBench's ``check_ans``).

    Metrics (percent): ``accuracy`` (per question, circular when copies exist),
    ``vanilla_accuracy`` (per row, only when copies exist), ``category/<name>`` (the
    question's ``category``) and ``unmatched`` (the share of rows whose answer names no
    single option); with ``category_mean``, ``category_mean`` (the mean of the
    per-category accuracies: MVBench's average over its tasks).

    Args:
        out_file: Optional JSONL path: ``{question_id, answer, pred, gt, correct}`` per row.
        answer_extraction: How a letter is read from an answer (see above).
        category_mean: Also report the mean of the per-category accuracies.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix (e.g. ``'mmbench'``).
    """

    default_prefix: Optional[str] = 'mcq'

    def __init__(self, out_file: Optional[str] = None,
                 answer_extraction: str = 'exact_matching', collect_device: str = 'cpu',
                 prefix: Optional[str] = None, category_mean: bool = False) -> None:
        if answer_extraction not in EXTRACTORS:
            raise ValueError(f'MultipleChoiceMetric: answer_extraction must be one of '
                             f'{sorted(EXTRACTORS)}, got {answer_extraction!r}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file
        self.extract = EXTRACTORS[answer_extraction]
        self.category_mean = category_mean

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            name = sample.get('question_id', sample.get('img_path', '<unknown sample>'))
            for key in ('choices', 'gt_answer', 'pred_answers'):
                if key not in sample:
                    raise KeyError(f'{name}: MultipleChoiceMetric needs {key!r} in the '
                                   f'prediction metainfo (pack it with PackReferringInputs '
                                   f'meta_keys / run the model in predict mode)')
            if not sample['gt_answer']:
                raise ValueError(f'{name}: no ground-truth answer (a test split without '
                                 f'answers: write the answers with QAAnswerWriter and submit '
                                 f'them instead)')
            answers = sample['pred_answers']
            answer = answers[0] if answers else ''
            pred = self.extract(answer, sample['choices'])
            self.results.append(dict(
                question_id=str(sample['question_id']), answer=answer, pred=pred,
                gt=sample['gt_answer'], correct=pred == sample['gt_answer'],
                category=sample.get('category', ''),
                group=str(sample.get('circular_group', sample['question_id']))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('MultipleChoiceMetric: no prediction to score')
        groups: Dict[str, List[dict]] = OrderedDict()
        for row in results:
            groups.setdefault(row['group'], []).append(row)
        group_right = {g: all(r['correct'] for r in rows) for g, rows in groups.items()}
        metrics = OrderedDict(accuracy=100.0 * sum(group_right.values()) / len(groups))
        if len(groups) < len(results):
            metrics['vanilla_accuracy'] = 100.0 * sum(r['correct'] for r in results) / \
                len(results)
        per_category = defaultdict(list)
        for g, rows in groups.items():
            per_category[rows[0]['category']].append(group_right[g])
        for category in sorted(c for c in per_category if c):
            hits = per_category[category]
            metrics[f'category/{category}'] = 100.0 * sum(hits) / len(hits)
        if self.category_mean:
            scores = [v for k, v in metrics.items() if k.startswith('category/')]
            metrics['category_mean'] = sum(scores) / len(scores) if scores else 0.0
        metrics['unmatched'] = 100.0 * sum(r['pred'] is None for r in results) / len(results)
        if self.out_file:
            write_jsonl_atomic([{k: r[k] for k in ('question_id', 'answer', 'pred', 'gt',
                                                   'correct')} for r in results],
                               self.out_file)
        print_log(f'MultipleChoiceMetric: {len(groups)} questions ({len(results)} rows), '
                  f'accuracy {metrics["accuracy"]:.2f}', logger='current')
        return dict(metrics)
