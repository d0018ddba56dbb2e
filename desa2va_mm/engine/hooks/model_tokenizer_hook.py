"""Give every data pipeline the model's tokenizer and chat template (one owner)."""
from typing import Iterator, List, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from desa2va_mm.datasets.transforms.tokenize_conversation import (TokenizeConversation,
                                                                  adopt_model_tokenizer)
from desa2va_mm.registry import HOOKS

#: Runner attributes of the loops, with the config key of their dataloader (messages).
_LOOPS = (('_train_loop', 'train_dataloader'), ('_val_loop', 'val_dataloader'),
          ('_test_loop', 'test_dataloader'))


def iter_tokenize_transforms(dataset, where: str
                             ) -> Iterator[Tuple[TokenizeConversation, str]]:
    """Every :class:`TokenizeConversation` of a dataset, with where it sits.

    Walks dataset wrappers (``ConcatDataset.datasets``, ``RepeatDataset.dataset``, our
    ``SkipBadSamples``...) and nested pipelines (``Compose.transforms``, random choices).

    Args:
        dataset: A built dataset.
        where: Its description for messages, e.g. ``'train_dataloader.dataset'``.
    """
    children = getattr(dataset, 'datasets', None)
    if children is not None:
        for i, child in enumerate(children):
            yield from iter_tokenize_transforms(child, f'{where}.datasets[{i}]')
        return
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        yield from iter_tokenize_transforms(inner, f'{where}.dataset')
        return
    name = f'{where} ({type(dataset).__name__} {getattr(dataset, "data_root", "")})'.rstrip()
    yield from _iter_pipeline(getattr(dataset, 'pipeline', None), name, set())


def _iter_pipeline(node, where: str, seen: set):
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, TokenizeConversation):
        yield node, where
        return
    for attr in ('transforms', 'transform'):
        sub = getattr(node, attr, None)
        if sub is None:
            continue
        for child in (sub if isinstance(sub, (list, tuple)) else [sub]):
            yield from _iter_pipeline(child, where, seen)


@HOOKS.register_module()
class ModelTokenizerHook(Hook):
    """Hand the model's tokenizer and chat template to every data pipeline.

    The InternVL weights are one setting, ``model.mllm.pretrained``; the tokenizer and
    the chat template follow the model, so a pipeline's ``TokenizeConversation`` leaves
    ``tokenizer`` / ``template`` as None and receives them here, before any batch is
    loaded: for the training set (the Sa2VA mix of ``RepeatDataset`` s included), the
    validation set and multi-split test sets alike. A pipeline that names its own tokenizer
    or template (the tiny configs do) is checked against the model's instead: a different
    vocabulary or template stops the run with an error naming the dataset.

    MMEngine's iteration-based loop starts its data iterator (and worker processes, which
    copy the dataset) when the loop is built, before any hook runs; when this hook hands
    a tokenizer to such a pipeline, it restarts that iterator so the workers see it.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        self._share(runner)

    def before_train(self, runner) -> None:
        self._share(runner)

    def before_val(self, runner) -> None:
        self._share(runner)

    def before_test(self, runner) -> None:
        self._share(runner)

    def _share(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        mllm = getattr(model, 'mllm', None)
        if mllm is None:
            return
        for attr, key in _LOOPS:
            loop = getattr(runner, attr, None)
            dataloader = getattr(loop, 'dataloader', None)
            if dataloader is None:
                continue
            given = share_with_dataset(dataloader.dataset, mllm.tokenizer,
                                       mllm.chat_template, f'{key}.dataset')
            if given and hasattr(loop, 'dataloader_iterator'):
                _restart_iterator(loop)
            if given:
                print_log(f'ModelTokenizerHook: {key} uses the model\'s tokenizer '
                          f'({getattr(mllm.tokenizer, "name_or_path", "") or "built-in"}, '
                          f'{len(mllm.tokenizer)} tokens) and chat template '
                          f'{mllm.chat_template!r} in {given} pipeline(s)', logger='current')


def share_with_dataset(dataset, tokenizer, template: str, where: str = 'dataset') -> int:
    """Give (or check) a tokenizer and chat template in every pipeline of ``dataset``.

    What the hook does in a runner; scripts that build a dataset without a runner call it
    with the model's ``mllm.tokenizer`` / ``mllm.chat_template`` (or, without a model, the
    tokenizer the model would build).

    Args:
        dataset: A built dataset (wrappers and concatenations are walked).
        tokenizer: A built tokenizer.
        template: Chat template name.
        where: The dataset's description for error messages.

    Returns:
        How many pipelines received the tokenizer (0 when all had it or named their own).
    """
    given = 0
    transforms: List[Tuple[TokenizeConversation, str]] = list(
        iter_tokenize_transforms(dataset, where))
    for transform, place in transforms:
        given += adopt_model_tokenizer(transform, tokenizer, template, place)
    return given


def _restart_iterator(loop) -> None:
    """Re-create an iteration-based loop's data iterator (its workers copied the dataset
    before the tokenizer was handed over)."""
    from mmengine.runner.loops import _InfiniteDataloaderIterator
    dataloader = loop.dataloader
    for old in (getattr(loop.dataloader_iterator, '_iterator', None),
                getattr(dataloader, '_iterator', None)):  # persistent workers keep one
        if old is not None and hasattr(old, '_shutdown_workers'):
            old._shutdown_workers()
    if hasattr(dataloader, '_iterator'):
        dataloader._iterator = None
    loop.dataloader_iterator = _InfiniteDataloaderIterator(dataloader)
