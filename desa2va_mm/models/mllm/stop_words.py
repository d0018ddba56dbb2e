"""Where a generated answer ends: EOS or one of the chat template's stop words."""
from typing import List, Optional, Sequence

import torch


class StopWords:
    """The end of an answer under a chat template.

    Stop words that are one token of the tokenizer (ChatML's ``<|im_end|>``, EOS) end the
    answer at that token. A stop word the tokenizer splits into several pieces (``phi3``'s
    ``<|end|>`` on a Qwen2.5 tokenizer, where it is plain text) is found in the decoded
    text of the last few tokens, as xtuner's stop-word criterion does; the answer then ends
    before the first token that holds part of it (a token merging the answer's last
    character with the stop word, such as ``'.<|'``, goes with it).

    Args:
        tokenizer: The MLLM's tokenizer (``encode`` / ``decode``).
        words: The chat template's stop words.
        eos_id: The tokenizer's EOS id (always a stop).
    """

    def __init__(self, tokenizer, words: Sequence[str], eos_id: Optional[int]) -> None:
        self.tokenizer = tokenizer
        self.single = {eos_id} if eos_id is not None else set()
        self.multi: List[str] = []
        width = 0
        for word in words:
            ids = tokenizer.encode(word, add_special_tokens=False)
            if len(ids) == 1:
                self.single.add(ids[0])
            elif ids:
                self.multi.append(word)
                width = max(width, len(ids))
        # Decoding a window of a few more tokens than the longest stop word covers the
        # merges at its boundaries.
        self.window = width + 2

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def _has_multi(self, ids: Sequence[int]) -> bool:
        text = self._decode(ids)
        return any(word in text for word in self.multi)

    def cut(self, ids: Sequence[int]) -> Optional[int]:
        """Index of the first token that is (or holds part of) a stop word, or None.

        Args:
            ids: Generated token ids of one answer.
        """
        for end in range(1, len(ids) + 1):
            if ids[end - 1] in self.single:
                return end - 1
            if self.multi and self._has_multi(ids[max(0, end - self.window):end]):
                start = end - 1
                while not self._has_multi(ids[start:end]):
                    start -= 1
                return start
        return None

    def ended(self, ids: Sequence[int]) -> bool:
        """Whether the answer so far holds a multi-token stop word in its last tokens."""
        return bool(self.multi) and self._has_multi(ids[-self.window:])

    def criterion(self):
        """A ``transformers`` stopping criterion for the multi-token stop words, or None."""
        if not self.multi:
            return None
        from transformers import StoppingCriteria

        stop = self

        class _StopWordCriterion(StoppingCriteria):

            def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
                return torch.tensor([stop.ended(row.tolist()) for row in input_ids],
                                    dtype=torch.bool, device=input_ids.device)

        return _StopWordCriterion()
