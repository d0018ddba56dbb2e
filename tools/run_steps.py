"""Run several tools/ scripts one after another in one Python process.

    python tools/run_steps.py tools/train.py A.py --work-dir w/a ::: \\
        tools/train.py B.py --work-dir w/b --cfg-options load_from=w/a/iter_600.pth ::: \\
        tools/test.py B.py w/b/iter_2000.pth

Each step is a script and its arguments, steps separated by ``:::``. A step runs as
``python SCRIPT ARGS`` would (``__name__ == '__main__'``, ``sys.argv`` set, the working
directory unchanged), but the libraries it imports (torch, mmengine, mmdet, transformers,
DeepSpeed and desa2va_mm: ~9 s on 2 CPU cores) are imported once for all steps. After each
step, MMEngine's global instances (loggers, message hubs, visualizers, default scopes) are
dropped, as a new process would start without them: a runner's visualizer is looked up by
the config's name (``'visualizer'``), so the next runner would otherwise log into the
previous one's folder. The first step that fails stops the chain with its exit status;
each step prints its elapsed time. The quickstart chains its training stages, test and
baselines this way.

Under ``torchrun`` every rank runs the chain, with ``--launcher pytorch`` in the steps
that train or test: the first step creates the process group and the later ones reuse
it (``desa2va_mm.utils.dist.hold_process_group``); it is destroyed once, after the last
step. Rank 0 prints the progress lines.

    python -m torch.distributed.run --nproc_per_node 2 tools/run_steps.py \
        tools/train.py A.py --launcher pytorch ::: tools/train.py B.py --launcher pytorch
"""
import gc
import os
import os.path as osp
import runpy
import sys
import time
from typing import List, Sequence

SEPARATOR = ':::'


def split_steps(argv: Sequence[str]) -> List[List[str]]:
    """``argv`` cut at every :data:`SEPARATOR` into ``[script, *args]`` lists."""
    steps, current = [], []
    for arg in argv:
        if arg == SEPARATOR:
            steps.append(current)
            current = []
        else:
            current.append(arg)
    steps.append(current)
    for i, step in enumerate(steps, 1):
        if not step:
            raise SystemExit(f'run_steps: step {i} is empty (two {SEPARATOR!r} in a row, '
                             f'or one at an end)')
        if not osp.isfile(step[0]):
            raise SystemExit(f'run_steps: step {i}: script {step[0]!r} does not exist')
    return steps


def _exit_status(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)  # sys.exit('message'), as the interpreter does
    return 1


def reset_mmengine_globals() -> None:
    """Drop every MMEngine ``ManagerMixin`` instance (closing loggers' files)."""
    if 'mmengine' not in sys.modules:
        return
    import logging

    from mmengine.utils import ManagerMixin
    classes, seen = [ManagerMixin], set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        classes.extend(cls.__subclasses__())
        instances = cls.__dict__.get('_instance_dict')
        if not instances:
            continue
        for instance in instances.values():
            if isinstance(instance, logging.Logger):
                for handler in list(instance.handlers):
                    handler.close()
                    instance.removeHandler(handler)
        instances.clear()


def run_step(script: str, args: Sequence[str]) -> int:
    """Run ``script`` as ``__main__`` with ``args``; its exit status (0: success)."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [script, *args]
    # As ``python script`` does: the script's folder first on the import path.
    sys.path.insert(0, osp.dirname(osp.abspath(script)))
    try:
        runpy.run_path(script, run_name='__main__')
        return 0
    except SystemExit as error:
        return _exit_status(error)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        reset_mmengine_globals()
        gc.collect()  # the step's runner, model and data loaders


def run_chain(steps: Sequence[Sequence[str]]) -> int:
    """Run ``steps`` (``[script, *args]`` lists) in turn; the first failing status."""
    start = time.perf_counter()
    # Progress from one rank under torchrun (the steps' own logs are per rank as usual).
    say = os.environ.get('RANK', '0') == '0'
    for i, (script, *args) in enumerate(steps, 1):
        minutes, seconds = divmod(int(time.perf_counter() - start), 60)
        if say:
            print(f'[run_steps {minutes} min {seconds} s] step {i}/{len(steps)}: '
                  f'{script} {" ".join(args)}', flush=True)
        status = run_step(script, args)
        if status:
            print(f'[run_steps] step {i}/{len(steps)} ({script}) failed with exit status '
                  f'{status}; later steps not run', file=sys.stderr, flush=True)
            return status
    minutes, seconds = divmod(int(time.perf_counter() - start), 60)
    if say:
        print(f'[run_steps {minutes} min {seconds} s] {len(steps)} steps done', flush=True)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if argv else 2
    steps = split_steps(argv)
    from desa2va_mm.utils.dist import finalize_distributed, hold_process_group
    with hold_process_group():
        status = run_chain(steps)
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        # A failed step may have failed on this rank alone: leave without a barrier
        # (torchrun then stops the others). Never returns.
        finalize_distributed(status, sync=not status)
    return status


if __name__ == '__main__':
    sys.exit(main())
