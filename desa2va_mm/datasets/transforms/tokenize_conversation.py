"""Tokenise conversations with the LLM's chat template; supervise answers only."""
import warnings
from typing import List, Optional, Tuple

import torch
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TOKENIZERS, TRANSFORMS
from .build_referring_conversation import IMAGE_PLACEHOLDER
from .chat_templates import get_chat_template

IGNORE_INDEX = -100


@TRANSFORMS.register_module()
class TokenizeConversation(BaseTransform):
    """Turn ``conversation`` / ``prompts`` into token ids.

    The image placeholder becomes ``<img>`` + ``num_tiles x num_image_tokens_per_tile``
    ``<IMG_CONTEXT>`` + ``</img>``. User text is tokenised with special-token matching
    off, so ``[SEG]`` or ``<img>`` typed in an expression stays plain text; template
    markers and answers are tokenised with it on.

    Adds ``input_ids`` (list of 1-D LongTensors: one multi-turn sequence in training, one
    prompt per sentence at test), in training ``labels`` (same shapes, -100 except the
    answer tokens and their end marker), and ``expression_ids`` (one 1-D LongTensor per
    target: the expression alone, for DeSa2VA's text anchor ``e``).

    Args:
        tokenizer: Tokenizer config (same dict as the model's ``mllm.tokenizer``).
        template: Chat template name (``'qwen2'``, ``'internlm2'``).
        num_image_tokens_per_tile: LLM tokens per image tile (256 for InternVL2.5 at 448 px).
        max_length: Longest sequence. Training drops trailing turns (and their targets) that
            do not fit; evaluation shortens the user text and warns.
        system: Optional system prompt.
    """

    def __init__(self,
                 tokenizer: dict,
                 template: str = 'qwen2',
                 num_image_tokens_per_tile: int = 256,
                 max_length: int = 2048,
                 system: Optional[str] = None) -> None:
        self.tokenizer_cfg = tokenizer
        self._tokenizer = None
        self.template = get_chat_template(template)
        self.num_image_tokens_per_tile = num_image_tokens_per_tile
        self.max_length = max_length
        self.system = system

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            cfg = self.tokenizer_cfg
            self._tokenizer = TOKENIZERS.build(cfg) if isinstance(cfg, dict) else cfg
        return self._tokenizer

    def _special(self, text: str) -> List[int]:
        return self.tokenizer(text, add_special_tokens=False)['input_ids'] if text else []

    def _plain(self, text: str) -> List[int]:
        if not text:
            return []
        return self.tokenizer(text, add_special_tokens=False,
                              split_special_tokens=True)['input_ids']

    def _user(self, text: str, num_tiles: int) -> List[int]:
        ids: List[int] = []
        parts = text.split(IMAGE_PLACEHOLDER)
        for i, part in enumerate(parts):
            if i > 0:
                ids += self._image_tokens(num_tiles)
            ids += self._plain(part)
        return ids

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
