"""Registries of desa2va_mm (scope ``desa2va_mm``, the package name), children of mmdet's.

Lookups that miss here climb to mmdet (and from there to mmengine), so mmdet modules
(``RefCocoDataset``, ``DiceLoss``, ``PackDetInputs``, ``DetLocalVisualizer`` ...) are
available to our configs without a prefix, and mmdet configs reach ours as ``desa2va_mm.X``.

Registration is lazy: MMEngine imports ``<scope>.registry`` (this module) for a scope, and
the first lookup in one of these registries imports its ``locations`` (our subpackage);
before that, :func:`~desa2va_mm.utils.setup_env.register_dependencies` registers mmdet's
modules and the checkpoint allow-list. ``import desa2va_mm`` alone registers nothing.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import Registry

SCOPE = 'desa2va_mm'


class _Registry(Registry):
    """A registry whose lookups first run :func:`register_dependencies` (once per process).

    ``Registry.get`` imports this registry's ``locations`` but reads the parent's table
    without importing the parent's modules, so mmdet's must be registered before a lookup
    climbs there.
    """

    def import_from_location(self) -> None:
        from desa2va_mm.utils.setup_env import register_dependencies
        register_dependencies()
        super().import_from_location()


def _child(name: str, parent: Registry, location: str) -> Registry:
    registry = _Registry(name, parent=parent, scope=SCOPE, locations=[location])
    # MMEngine resolves a ``scope.Name`` type among the calling registry's children, else
    # among the root's direct children only. Ours are children of mmdet's, so from a
    # sibling's scope (mmseg, mmpretrain ...) ``desa2va_mm.X`` would not resolve: the root
    # also lists ours under our scope (lookups only; the parent stays mmdet's).
    root = parent._get_root_registry()
    if root is not parent:
        root._children.setdefault(SCOPE, registry)
    return registry


RUNNERS = _child('runner', MMDET_RUNNERS, 'desa2va_mm.engine')
RUNNER_CONSTRUCTORS = _child('runner constructor', MMDET_RUNNER_CONSTRUCTORS,
                             'desa2va_mm.engine')
LOOPS = _child('loop', MMDET_LOOPS, 'desa2va_mm.engine')
HOOKS = _child('hook', MMDET_HOOKS, 'desa2va_mm.engine.hooks')
LOG_PROCESSORS = _child('log_processor', MMDET_LOG_PROCESSORS, 'desa2va_mm.engine')
# mmdet has no strategy registry: ours is a child of MMEngine's (FlexibleRunner's).
STRATEGIES = _child('strategy', MMENGINE_STRATEGIES, 'desa2va_mm.engine.strategies')

DATASETS = _child('dataset', MMDET_DATASETS, 'desa2va_mm.datasets')
DATA_SAMPLERS = _child('data sampler', MMDET_DATA_SAMPLERS, 'desa2va_mm.datasets')
TRANSFORMS = _child('transform', MMDET_TRANSFORMS, 'desa2va_mm.datasets.transforms')

MODELS = _child('model', MMDET_MODELS, 'desa2va_mm.models')
MODEL_WRAPPERS = _child('model_wrapper', MMDET_MODEL_WRAPPERS, 'desa2va_mm.models')
WEIGHT_INITIALIZERS = _child('weight initializer', MMDET_WEIGHT_INITIALIZERS,
                             'desa2va_mm.models')
TASK_UTILS = _child('task util', MMDET_TASK_UTILS, 'desa2va_mm.models')

OPTIMIZERS = _child('optimizer', MMDET_OPTIMIZERS, 'desa2va_mm.engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMDET_OPTIM_WRAPPERS, 'desa2va_mm.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMDET_OPTIM_WRAPPER_CONSTRUCTORS, 'desa2va_mm.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMDET_PARAM_SCHEDULERS,
                          'desa2va_mm.engine')

METRICS = _child('metric', MMDET_METRICS, 'desa2va_mm.evaluation')
EVALUATOR = _child('evaluator', MMDET_EVALUATOR, 'desa2va_mm.evaluation')

VISUALIZERS = _child('visualizer', MMDET_VISUALIZERS, 'desa2va_mm.visualization')
VISBACKENDS = _child('vis_backend', MMDET_VISBACKENDS, 'desa2va_mm.visualization')

# Tokenizers are not an OpenMMLab concept; a root registry of our own so configs can
# name either a Hugging Face tokenizer folder or the offline tiny tokenizer.
TOKENIZERS = _Registry('tokenizer', scope=SCOPE, locations=['desa2va_mm.tokenization'])
