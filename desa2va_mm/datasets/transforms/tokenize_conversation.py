"""Tokenise conversations with the LLM's chat template; supervise answers only."""
import warnings
from typing import List, Optional, Tuple

import torch
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TOKENIZERS, TRANSFORMS
from desa2va_mm.structures import REGION_PLACEHOLDER, grid_side, region_token_counts
from desa2va_mm.tokenization import get_chat_template
from .build_referring_conversation import IMAGE_PLACEHOLDER

IGNORE_INDEX = -100
# Encodings kept per transform (template markers, answers, expressions): a training run
# tokenises the same few thousand strings every epoch, and the tokenizer calls were 40 %
# of the tiny training pipeline's time in a profile.
ENCODING_CACHE_SIZE = 65536


@TRANSFORMS.register_module()
class TokenizeConversation(BaseTransform):
    """Turn ``conversation`` / ``prompts`` into token ids.

    The image placeholder becomes ``<img>`` + ``num_tiles x num_image_tokens_per_tile``
    ``<IMG_CONTEXT>`` + ``</img>``. User text is tokenised with special-token matching
    off, so ``[SEG]`` or ``<img>`` typed in an expression stays plain text; template
    markers and answers are tokenised with it on. With region prompts (``prompt_masks``
    (R, H, W), docs/visual_prompts.md), the region placeholder ``<regions>`` becomes
    ``There are R part regions in the picture: region1<vp>...</vp>, ...`` with one
    ``<IMG_CONTEXT>`` per patch-grid cell each region covers (``region_token_counts``).

    Adds ``input_ids`` (list of 1-D LongTensors: one multi-turn sequence in training, one
    prompt per sentence at test), in training ``labels`` (same shapes, -100 except the
    answer tokens and their end marker), and ``expression_ids`` (one 1-D LongTensor per
    target: the expression alone, for DeSa2VA's text anchor ``e``).

    The tokenizer and the chat template are the model's. In a runner they are handed over
    by :class:`~desa2va_mm.engine.hooks.ModelTokenizerHook` (``default_hooks`` of every
    config), so real-size pipelines leave both None and follow ``model.mllm.pretrained``;
    a pipeline that names its own is checked against the model's (an error if they
    differ). Outside a runner (scripts, tests) pass them, or call :meth:`set_tokenizer`.

    Args:
        tokenizer: Tokenizer config or built tokenizer, or None (the model's, set later).
        template: Chat template name (``'qwen2'``, ``'internlm2'``), or None (the model's).
        num_image_tokens_per_tile: LLM tokens per image tile (256 for InternVL2.5 at 448 px).
        max_length: Longest sequence. Training drops trailing turns (and their targets) that
            do not fit; evaluation shortens the user text and warns.
        system: Optional system prompt.
    """

    def __init__(self,
                 tokenizer: Optional[dict] = None,
                 template: Optional[str] = None,
                 num_image_tokens_per_tile: int = 256,
                 max_length: int = 2048,
                 system: Optional[str] = None) -> None:
        self.tokenizer_cfg = tokenizer
        self._tokenizer = None
        self.template_name = template
        self._template = get_chat_template(template) if template is not None else None
        self.num_image_tokens_per_tile = num_image_tokens_per_tile
        self.max_length = max_length
        self.system = system
        self._encodings = {}

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            cfg = self.tokenizer_cfg
            if cfg is None:
                raise RuntimeError(
                    'TokenizeConversation has no tokenizer: it takes the model\'s. In a '
                    "runner, keep `default_hooks.model_tokenizer=dict(type='ModelTokenizerHook')`"
                    ' (configs/_base_/default_runtime.py); in a script, pass tokenizer=... '
                    'and template=... or call set_tokenizer(model.mllm.tokenizer, '
                    'model.mllm.chat_template)')
            self._tokenizer = TOKENIZERS.build(cfg) if isinstance(cfg, dict) else cfg
        return self._tokenizer

    @property
    def template(self):
        if self._template is None:
            raise RuntimeError(
                'TokenizeConversation has no chat template: it takes the model\'s '
                '(ModelTokenizerHook in a runner; template=... in a script)')
        return self._template

    @property
    def has_own_tokenizer(self) -> bool:
        """Whether the pipeline config named a tokenizer (else it waits for the model's)."""
        return self.tokenizer_cfg is not None

    def set_tokenizer(self, tokenizer, template: Optional[str] = None) -> None:
        """Use ``tokenizer`` (a built tokenizer) and, when given, the chat ``template``."""
        self.tokenizer_cfg = tokenizer
        self._tokenizer = tokenizer
        self._encodings = {}
        if template is not None:
            self.template_name = template
            self._template = get_chat_template(template)

    def _encode(self, text: str, split_special: bool) -> List[int]:
        """``text``'s ids (a new list), from the cache when it was encoded before."""
        if not text:
            return []
        key = (text, split_special)
        ids = self._encodings.get(key)
        if ids is None:
            kwargs = dict(split_special_tokens=True) if split_special else {}
            ids = tuple(self.tokenizer(text, add_special_tokens=False, **kwargs)['input_ids'])
            if len(self._encodings) >= ENCODING_CACHE_SIZE:
                self._encodings.clear()
            self._encodings[key] = ids
        return list(ids)

    def _special(self, text: str) -> List[int]:
        return self._encode(text, split_special=False)

    def _plain(self, text: str) -> List[int]:
        return self._encode(text, split_special=True)

    def _user(self, text: str, num_tiles: int) -> List[int]:
        ids: List[int] = []
        parts = text.split(IMAGE_PLACEHOLDER)
        for i, part in enumerate(parts):
            if i > 0:
                ids += self._image_tokens(num_tiles)
            for j, piece in enumerate(part.split(REGION_PLACEHOLDER)):
                if j > 0:
                    ids += self._region_tokens()
                ids += self._plain(piece)
        return ids

    def _region_tokens(self) -> List[int]:
        counts = getattr(self, '_region_counts', None)
        if counts is None:
            raise ValueError(f'{REGION_PLACEHOLDER} in a question but the sample has no '
                             'prompt_masks (region prompts)')
        start, end, ctx = self.tokenizer.convert_tokens_to_ids(['<vp>', '</vp>',
                                                                '<IMG_CONTEXT>'])
        ids = self._plain(f'There are {len(counts)} part regions in the picture: ')
        for r, count in enumerate(counts):
            ids += self._plain(f'region{r + 1}') + [start] + [ctx] * count + [end]
            ids += self._plain('.\n' if r == len(counts) - 1 else ', ')
        return ids

    def _count_regions(self, results: dict, name: str) -> None:
        """Tokens per region of the sample's ``prompt_masks`` (None without them); the
        placeholder must appear in the first user turn exactly when regions are given."""
        self._region_counts = None
        turns = results.get('conversation') or [
            conv[0] for conv in results.get('prompts', []) if conv]
        marked = [REGION_PLACEHOLDER in str(turn.get('user', '')) for turn in turns]
        if results.get('prompt_masks') is None:
            if any(marked):
                raise ValueError(f'{name}: {REGION_PLACEHOLDER} in a question but the sample '
                                 'has no prompt_masks (region prompts)')
            return
        counts = region_token_counts(results['prompt_masks'],
                                     grid_side(self.num_image_tokens_per_tile))
        # Training: once, in the first turn; test: in every prompt's first turn.
        once = marked[:1] == [True] and not any(marked[1:]) if 'conversation' in results \
            else bool(marked) and all(marked)
        if not once:
            raise ValueError(f'{name}: {len(counts)} region prompts but the first question '
                             f'has no {REGION_PLACEHOLDER} placeholder, or it appears in a '
                             'later turn (put it once, after the image, in the first user '
                             'turn)')
        self._region_counts = counts
        results['region_token_counts'] = counts

    def _image_tokens(self, num_tiles: int) -> List[int]:
        tok = self.tokenizer
        start, end, ctx = tok.convert_tokens_to_ids(['<img>', '</img>', '<IMG_CONTEXT>'])
        return [start] + [ctx] * (num_tiles * self.num_image_tokens_per_tile) + [end]

    def _turn(self, user: str, answer: Optional[str], num_tiles: int,
              first: bool) -> Tuple[List[int], List[int]]:
        t = self.template
        prefix = []
        if first and self.system:
            prefix = self._special(t.system.format(system=self.system))
        ids = prefix + self._special(t.user_prefix) + self._user(user, num_tiles) + \
            self._special(t.user_suffix + t.assistant_prefix)
        labels = [IGNORE_INDEX] * len(ids)
        if answer is not None:
            ans = self._special(answer) + self._special(t.assistant_suffix)
            sep = self._special(t.separator)
            ids += ans + sep
            labels += ans + [IGNORE_INDEX] * len(sep)
        return ids, labels

    def transform(self, results: dict) -> dict:
        num_tiles = int(results.get('num_tiles', 1))
        name = results.get('img_path', '<unknown image>')
        self._count_regions(results, name)
        if 'conversation' in results:
            ids: List[int] = []
            labels: List[int] = []
            kept = 0
            for i, turn in enumerate(results['conversation']):
                t_ids, t_labels = self._turn(turn['user'], turn['assistant'], num_tiles, i == 0)
                if len(ids) + len(t_ids) > self.max_length:
                    break
                ids += t_ids
                labels += t_labels
                kept += 1
            if kept == 0:
                raise ValueError(
                    f'{name}: the first turn needs more than max_length={self.max_length} '
                    f'tokens ({num_tiles} image tiles)')
            if kept < len(results['conversation']):
                # Keep targets aligned with the [SEG] tokens that survived.
                results['conversation'] = results['conversation'][:kept]
                results['text'] = results['text'][:kept]
                if 'gt_masks' in results:
                    results['gt_masks'] = results['gt_masks'][list(range(kept))]
            results['input_ids'] = [torch.tensor(ids, dtype=torch.long)]
            results['labels'] = [torch.tensor(labels, dtype=torch.long)]
        elif 'prompts' in results:
            prompts = []
            for conv in results['prompts']:
                # Multi-turn prompts (chat): earlier turns carry their answers; the last
                # turn's assistant is None (to be generated).
                ids = []
                for i, turn in enumerate(conv):
                    answer = turn.get('assistant') if i < len(conv) - 1 else None
                    ids += self._turn(turn['user'], answer, num_tiles, i == 0)[0]
                if len(ids) > self.max_length and len(conv) > 1:
                    raise ValueError(
                        f'{name}: the conversation ({len(conv)} turns) needs {len(ids)} '
                        f'tokens, more than max_length={self.max_length}; start a new one')
                if len(ids) > self.max_length:
                    ids = self._shorten(conv[0]['user'], num_tiles, name)
                prompts.append(torch.tensor(ids, dtype=torch.long))
            results['input_ids'] = prompts
        else:
            raise KeyError(f"{name}: TokenizeConversation needs 'conversation' or 'prompts'; "
                           f'put BuildReferringConversation before it')
        results['expression_ids'] = [
            torch.tensor(self._plain(' '.join(str(t).split())) or [self.tokenizer.unk_token_id],
                         dtype=torch.long) for t in results.get('text', [])]
        return results

    def _shorten(self, user: str, num_tiles: int, name: str) -> List[int]:
        fixed, _ = self._turn(IMAGE_PLACEHOLDER + '\n' if IMAGE_PLACEHOLDER in user else '',
                              None, num_tiles, True)
        budget = self.max_length - len(fixed)
        if budget <= 0:
            raise ValueError(f'{name}: the image alone needs more than max_length='
                             f'{self.max_length} tokens')
        text_ids = self._plain(user.split(IMAGE_PLACEHOLDER)[-1].lstrip('\n'))
        warnings.warn(f'{name}: prompt of {len(fixed) + len(text_ids)} tokens shortened to '
                      f'max_length={self.max_length}')
        t = self.template
        head = self._special(t.user_prefix)
        if IMAGE_PLACEHOLDER in user:
            head += self._image_tokens(num_tiles) + self._plain('\n')
        tail = self._special(t.user_suffix + t.assistant_prefix)
        budget = self.max_length - len(head) - len(tail)
        return head + text_ids[:budget] + tail

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(image_tokens_per_tile='
                f'{self.num_image_tokens_per_tile}, max_length={self.max_length})')


def same_tokenizer(a, b) -> bool:
    """Whether two tokenizers map text to the same ids (same vocabulary)."""
    return a is b or (len(a) == len(b) and a.get_vocab() == b.get_vocab())


def adopt_model_tokenizer(transform: TokenizeConversation, tokenizer, template: str,
                          where: str) -> int:
    """Give ``transform`` the model's tokenizer / template, or check the ones it names.

    Args:
        transform: A pipeline's tokenisation step.
        tokenizer: The model's built tokenizer (``model.mllm.tokenizer``).
        template: The model's chat template name (``model.mllm.chat_template``).
        where: The dataset / pipeline, for error messages.

    Returns:
        1 when the transform received the tokenizer, 0 when it already had the same one.

    Raises:
        ValueError: The pipeline names a tokenizer or template other than the model's.
    """
    if transform.template_name is not None and transform.template_name != template:
        raise ValueError(
            f'{where}: the pipeline\'s TokenizeConversation uses chat template '
            f'{transform.template_name!r}, the model {template!r} (model.mllm.chat_template). '
            'Leave template=None in the pipeline: it takes the model\'s.')
    if not transform.has_own_tokenizer:
        transform.set_tokenizer(tokenizer, template)
        return 1
    own = transform.tokenizer
    if not same_tokenizer(own, tokenizer):
        raise ValueError(
            f'{where}: the pipeline\'s tokenizer ({getattr(own, "name_or_path", "") or type(own).__name__}, '
            f'{len(own)} tokens) and the model\'s '
            f'({getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__}, {len(tokenizer)} tokens, '
            'model.mllm.tokenizer) disagree: token ids would not mean the same thing. Leave '
            'tokenizer=None in the pipeline: it takes the model\'s.')
    if transform.template_name is None:
        transform.set_tokenizer(own, template)
    return 0
