"""CLUBLoss: the bound's value, q's own optimizer, who gets which gradient, checkpoints,
distributed updates, and that it does its job (docs/method.md §9)."""
import io
import itertools
import math
import os
import socket
import time

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from desa2va_mm.models.losses.club_loss import CLUBLoss, club_upper_bound
from desa2va_mm.registry import MODELS


def _club(**kwargs):
    torch.manual_seed(0)
    cfg = dict(x_dim=3, y_dim=4, hidden_dim=6)
    cfg.update(kwargs)
    return CLUBLoss(**cfg).double()


def _pairs(n, x_dim=3, y_dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, x_dim, generator=g, dtype=torch.float64)
    y = torch.randn(n, y_dim, generator=g, dtype=torch.float64) + x.sum(-1, keepdim=True)
    return x.requires_grad_(), y.requires_grad_()


def _mlp(seq, inp, weights=None):
    w = weights or {n: b for n, b in seq.named_buffers()}
    hidden = F.relu(inp @ w['0.weight'].T + w['0.bias'])
    return hidden @ w['2.weight'].T + w['2.bias']


def _q(club, x):
    """q(y | x_i) for every row, written with the raw weights (not the module's forward)."""
    return _mlp(club.p_mu, x), torch.tanh(_mlp(club.p_logvar, x))


def _bound_by_loops(club, x, y):
    """mean_i [log q(y_i|x_i) - mean_j log q(y_j|x_i)] with full Gaussian densities."""
    with torch.no_grad():
        mu, logvar = _q(club, x)
        n = x.shape[0]
        total = 0.0
        for i in range(n):
            q_i = Normal(mu[i], torch.exp(0.5 * logvar[i]))
            positive = q_i.log_prob(y[i]).sum().item()
            negative = sum(q_i.log_prob(y[j]).sum().item() for j in range(n)) / n
            total += positive - negative
    return total / n


def _weights(club):
    return {k: w.clone() for k, w in club.estimator_weights().items()}


@pytest.fixture
def one_thread():
    # Hundreds of tiny backward passes: intra-op threads only add contention (on a busy
    # 2-core machine a step went from 2 ms to 185 ms with 2 threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_build_arguments_and_weights_are_buffers():
    club = MODELS.build(dict(type='CLUBLoss', x_dim=5, y_dim=7, hidden_dim=9))
    assert isinstance(club, CLUBLoss)
    assert club.p_mu[0].in_features == 5 and club.p_mu[2].out_features == 7
    assert isinstance(club.p_logvar[-1], torch.nn.Tanh)
    # q is trained by its own optimizer: no parameters for the model's optimizer / DDP,
    # but its weights are in the state dict under the official names.
    assert list(club.parameters()) == []
    assert list(club.estimator_weights()) == [
        'p_mu.0.weight', 'p_mu.0.bias', 'p_mu.2.weight', 'p_mu.2.bias',
        'p_logvar.0.weight', 'p_logvar.0.bias', 'p_logvar.2.weight', 'p_logvar.2.bias']
    assert set(club.estimator_weights()) | {'_extra_state'} == set(club.state_dict())
    with pytest.raises(ValueError, match='sampled'):
        CLUBLoss(estimator='random')
    with pytest.raises(TypeError):
        CLUBLoss(256)  # keyword-only
    with pytest.raises(TypeError, match="'estimator_weight' was removed.*estimator_optimizer"):
        CLUBLoss(estimator_weight=0.01)
    with pytest.raises(ValueError, match="former True is 'row'"):
        CLUBLoss(standardize=True)
    with pytest.raises(ValueError, match='estimator_steps must be an int >= 0'):
        CLUBLoss(estimator_steps=-1)
    with pytest.raises(ValueError, match="needs a 'type'"):
        CLUBLoss(estimator_optimizer=dict(lr=1e-3))


def test_bound_equals_explicit_loops():
    club = _club(loss_weight=0.7).eval()  # eval: q is not updated
    x, y = _pairs(5)
    out = club(x, y)
    assert set(out) == {'loss_mi', 'mi_estimate', 'club_nll'}
    expected = _bound_by_loops(club, x, y)
    assert abs(expected) > 1e-2  # the check below is not trivially 0 == 0
    assert out['mi_estimate'].item() == pytest.approx(expected, rel=1e-10)
    assert not out['mi_estimate'].requires_grad
    assert out['loss_mi'].item() == pytest.approx(0.7 * expected, rel=1e-10)


def test_training_forward_runs_its_own_optimizer_then_the_bound_with_q_fixed():
    steps, lr = 3, 0.05
    club = _club(estimator_steps=steps, estimator_optimizer=dict(type='SGD', lr=lr))
    x, y = _pairs(6)
    # The same updates by hand: SGD on L_q = -mean_i log q(y_i|x_i) (with the 1/2).
    weights = {k: w.clone() for k, w in club.estimator_weights().items()}
    for _ in range(steps):
        leaf = {k: w.clone().requires_grad_() for k, w in weights.items()}
        split = {net: {k[len(net) + 1:]: v for k, v in leaf.items() if k.startswith(net)}
                 for net in ('p_mu', 'p_logvar')}
        mu = _mlp(club.p_mu, x.detach(), split['p_mu'])
        logvar = torch.tanh(_mlp(club.p_logvar, x.detach(), split['p_logvar']))
        nll = ((mu - y.detach()) ** 2 * torch.exp(-logvar) + logvar).sum(-1).mean() / 2
        grads = torch.autograd.grad(nll, list(leaf.values()))
        weights = {k: w - lr * g for (k, w), g in zip(weights.items(), grads)}
    out = club(x, y)
    for key, value in club.estimator_weights().items():
        torch.testing.assert_close(value, weights[key], rtol=1e-12, atol=1e-12)
    assert out['club_nll'].item() == pytest.approx(nll.item(), rel=1e-10)  # last step's
    # The bound is that of the updated q; its gradient reaches the prompts only.
    assert out['mi_estimate'].item() == pytest.approx(_bound_by_loops(club, x, y), rel=1e-10)
    out['loss_mi'].backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0
    assert all(w.grad is None for w in club.estimator_weights().values())
    # Eval mode and estimator_steps=0 leave q alone.
    before = _weights(club)
    club.eval()(x, y)
    _club(estimator_steps=0)(x, y)
    assert all(torch.equal(before[k], w) for k, w in club.estimator_weights().items())


def _standardized(t):
    """Each row to zero mean, unit (biased) variance over its features, by hand."""
    mean = t.mean(dim=-1, keepdim=True)
    var = ((t - mean) ** 2).mean(dim=-1, keepdim=True)
    return (t - mean) / torch.sqrt(var + 1e-5)


def test_row_standardized_bound_is_the_bound_of_standardized_rows_and_scale_invariant():
    club = _club(standardize='row').eval()
    x, y = _pairs(6)
    out = club(x, y)
    expected = _bound_by_loops(club, _standardized(x.detach()), _standardized(y.detach()))
    assert abs(expected) > 1e-2
    assert out['mi_estimate'].item() == pytest.approx(expected, rel=1e-6)
    # Growing h_v's scale moves neither the bound nor the estimator's loss (up to
    # layer_norm's eps of 1e-5 in the variance); without standardising both move a lot.
    scaled = club(x, 50.0 * y + 3.0)
    assert scaled['mi_estimate'].item() == pytest.approx(expected, rel=1e-4)
    assert scaled['club_nll'].item() == pytest.approx(out['club_nll'].item(), rel=1e-4)
    plain = _club().eval()
    assert abs(plain(x, 50.0 * y)['club_nll'].item()) > 100 * abs(
        plain(x, y)['club_nll'].item())
    out['loss_mi'].backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0


def test_running_statistics_follow_the_batches_and_standardize_per_feature():
    club = _club(standardize='running', momentum=0.25, estimator_steps=0)
    x1, y1 = (t.detach() for t in _pairs(8, seed=1))
    club(x1, y1)  # the first batch sets the statistics
    torch.testing.assert_close(club.x_mean, x1.mean(0))
    torch.testing.assert_close(club.y_var, y1.var(0))
    x2, y2 = (3 * t.detach() + 1 for t in _pairs(8, seed=2))
    club(x2, y2)
    torch.testing.assert_close(club.x_mean, 0.75 * x1.mean(0) + 0.25 * x2.mean(0))
    torch.testing.assert_close(club.y_var, 0.75 * y1.var(0) + 0.25 * y2.var(0))
    assert club.num_stat_updates.item() == 2
    x_std, y_std = club.standardized(x2, y2)
    torch.testing.assert_close(x_std, (x2 - club.x_mean) / torch.sqrt(club.x_var + 1e-5))
    # Eval mode does not move them; one row cannot (no variance).
    frozen = {k: v.clone() for k, v in club.state_dict().items() if k != '_extra_state'}
    club.eval()(x2, y2)
    club.train()(x2[:1], y2[:1])
    assert all(torch.equal(v, club.state_dict()[k]) for k, v in frozen.items())


def _scale_dependent_pairs(n, seed):
    """y's per-row scale carries x: y = exp(x_1) * z, z ~ N(0, I), independent of x."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, torch.exp(x[:, :1]) * torch.randn(n, 4, generator=g)


def test_row_standardisation_hides_dependence_carried_by_a_rows_scale(one_thread):
    """The measurement behind the configs' standardize='running' (docs/method.md §9): when
    h_v's dependence on h_t sits in h_v's per-row scale, a trained q sees it with running
    (per-feature) statistics, and sees nothing after row standardisation."""
    x_test, y_test = _scale_dependent_pairs(512, seed=99)
    estimates = {}
    for mode in ('row', 'running'):
        torch.manual_seed(0)
        club = CLUBLoss(x_dim=4, y_dim=4, hidden_dim=32, standardize=mode,
                        estimator_steps=5, estimator_optimizer=dict(type='Adam', lr=3e-3))
        for step in range(60):
            club(*_scale_dependent_pairs(128, seed=step))
        club.eval()
        estimates[mode] = club(x_test, y_test)['mi_estimate'].item()
    assert abs(estimates['row']) < 0.1, estimates
    assert estimates['running'] > 0.5, estimates


def test_nonnegative_bound_stops_chasing_a_negative_estimate():
    plain, clamped = _club().eval(), _club(nonnegative=True).eval()
    x, _ = _pairs(6)
    # Each y_i sits exactly on q's mean for another row: q rates the true pairs below the
    # average pair, a negative estimate.
    with torch.no_grad():
        mu, _ = _q(plain, x)
    y = mu[torch.tensor([1, 2, 3, 4, 5, 0])].clone().requires_grad_()
    bound = plain(x, y)['mi_estimate'].item()
    assert bound < 0
    out = clamped(x, y)
    assert out['mi_estimate'].item() == pytest.approx(bound, rel=1e-12)  # still logged
    assert out['loss_mi'].item() == 0.0
    out['loss_mi'].backward()
    assert y.grad.abs().sum() == 0  # nothing to minimise below 0
    y_own = mu.clone()
    assert plain(x, y_own)['loss_mi'] > 0
    assert clamped(x, y_own)['loss_mi'].item() == pytest.approx(
        plain(x, y_own)['loss_mi'].item(), rel=1e-12)


def test_estimator_loss_is_gaussian_nll_up_to_constant():
    club = _club().eval()
    x, y = _pairs(6)
    out = club(x, y)
    with torch.no_grad():
        mu, logvar = _q(club, x)
        nll = -Normal(mu, torch.exp(0.5 * logvar)).log_prob(y).sum(-1).mean().item()
    constant = 0.5 * 4 * math.log(2 * math.pi)
    assert out['club_nll'].item() == pytest.approx(nll - constant, rel=1e-10)


def test_fewer_than_two_samples():
    club = _club()
    x, y = _pairs(1)
    before = _weights(club)
    out = club(x, y)
    assert out['loss_mi'].item() == 0.0 and out['mi_estimate'].item() == 0.0
    out['loss_mi'].backward()
    assert torch.count_nonzero(x.grad) == 0  # connected, but nothing to learn
    assert out['club_nll'].item() != 0.0  # a likelihood needs no pairs ...
    assert any(not torch.equal(before[k], w)  # ... so q learns from one row
               for k, w in club.estimator_weights().items())

    x, y = _pairs(0)
    before = _weights(club)
    out = club(x, y)
    assert out['loss_mi'].item() == 0.0 and out['club_nll'].item() == 0.0
    out['loss_mi'].backward()  # connected to the (empty) prompts
    assert all(torch.equal(before[k], w) for k, w in club.estimator_weights().items())


def test_sampled_bound_is_unbiased_for_the_full_one(one_thread):
    club = _club().eval()
    x, y = _pairs(5)
    with torch.no_grad():
        mu, logvar = club.mu_logvar(x)
        full = club_upper_bound(mu, logvar, y).item()
        perms = [torch.tensor(p) for p in itertools.permutations(range(5))]
        exact = sum(club_upper_bound(mu, logvar, y, p).item() for p in perms) / len(perms)
    assert exact == pytest.approx(full, rel=1e-10)

    sampled = _club(estimator='sampled').eval()
    torch.manual_seed(1)
    estimates = torch.tensor([sampled(x, y)['mi_estimate'].item() for _ in range(400)])
    assert estimates.std() > 1e-3  # really random
    tolerance = 4 * estimates.std().item() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - full) < tolerance


def test_auto_switches_above_threshold():
    full, sampled, auto = (_club(estimator=e, auto_threshold=4).eval()
                           for e in ('full', 'sampled', 'auto'))
    assert [auto.use_sampled(n) for n in (2, 4, 5, 100)] == [False, False, True, True]
    x, y = _pairs(4)
    assert auto(x, y)['mi_estimate'].item() == full(x, y)['mi_estimate'].item()
    x, y = _pairs(5)
    torch.manual_seed(3)
    from_auto = auto(x, y)['mi_estimate'].item()
    torch.manual_seed(3)
    from_sampled = sampled(x, y)['mi_estimate'].item()
    assert from_auto == from_sampled
    assert from_auto != pytest.approx(full(x, y)['mi_estimate'].item())


def _train(club, steps, seed):
    for step in range(steps):
        club(*(t.detach() for t in _pairs(8, seed=seed + step)))


def test_checkpoint_restores_the_estimator_optimizer_for_an_exact_resume():
    cfg = dict(estimator_steps=2, standardize='running',
               estimator_optimizer=dict(type='Adam', lr=1e-2))
    straight = _club(**cfg)
    _train(straight, 4, seed=0)
    buffer = io.BytesIO()
    torch.save(straight.state_dict(), buffer)
    _train(straight, 3, seed=10)

    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # what a checkpoint load allows
    # A uint8 tensor (MMEngine's strategies broadcast every state-dict value at start-up).
    assert state['_extra_state'].dtype == torch.uint8
    saved = _club(**cfg)
    saved.load_state_dict(state)
    assert saved.estimator_optimizer_state()['state'][0]['step'].item() == 8
    resumed = _club(**cfg)
    resumed.load_state_dict(state)
    _train(resumed, 3, seed=10)
    for key, value in straight.state_dict().items():
        if key != '_extra_state':
            assert torch.equal(value, resumed.state_dict()[key]), key
    # Without the optimizer state (fresh Adam moments) the run would differ.
    fresh = _club(**cfg)
    fresh.load_state_dict({k: v for k, v in state.items() if k != '_extra_state'},
                          strict=False)
    _train(fresh, 3, seed=10)
    assert not torch.equal(fresh.p_mu[0].weight, straight.p_mu[0].weight)
    # Before any update the extra state is empty and loads as such.
    empty = _club().state_dict()['_extra_state']
    assert empty.shape == (0, ) and empty.dtype == torch.uint8
    blank = _club(**cfg)
    blank.load_state_dict(_club(**cfg).state_dict())
    assert blank.estimator_optimizer_state() is None


def test_optimizer_follows_a_dtype_change_and_autocast_leaves_q_in_its_dtype():
    club = _club(estimator_optimizer=dict(type='Adam', lr=1e-2))
    _train(club, 2, seed=0)
    club.float()  # new buffer objects: the optimizer re-binds and keeps its moments
    x, y = (t.detach().float() for t in _pairs(8, seed=5))
    before = _weights(club)
    club(x, y)
    optimizer = club.estimator_optimizer()
    assert all(a is b for a, b in zip(optimizer.param_groups[0]['params'],
                                      club.estimator_weights().values()))
    assert optimizer.state[optimizer.param_groups[0]['params'][0]]['step'].item() == 3
    assert optimizer.state[optimizer.param_groups[0]['params'][0]]['exp_avg'].dtype == \
        torch.float32
    assert any(not torch.equal(before[k], w) for k, w in club.estimator_weights().items())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = club(x, y)
    assert all(w.dtype == torch.float32 for w in club.estimator_weights().values())
    assert out['club_nll'].dtype == torch.float32  # q's update ran in float32


def _gaussian_mi(weight, noise_std):
    """I(x; W x + s eps) for x ~ N(0, I): 0.5 logdet(I + W W^T / s^2)."""
    eye = torch.eye(weight.shape[0])
    return 0.5 * torch.logdet(eye + weight @ weight.T / noise_std ** 2).item()


def test_estimator_learns_and_bound_minimisation_removes_information(one_thread):
    start = time.perf_counter()
    dim, noise_std, n = 4, 0.5, 64
    g = torch.Generator().manual_seed(0)
    true_map = torch.randn(dim, dim, generator=g)
    x_held = torch.randn(512, dim, generator=g)
    eps_held = torch.randn(512, dim, generator=g)

    torch.manual_seed(0)
    club = CLUBLoss(x_dim=dim, y_dim=dim, hidden_dim=32, estimator_steps=1,
                    estimator_optimizer=dict(type='Adam', lr=1e-2))
    mapping = torch.nn.Parameter(true_map.clone())

    def batch():
        x = torch.randn(n, dim, generator=g)
        return x, x @ mapping.T + noise_std * torch.randn(n, dim, generator=g)

    def held_out():
        club.eval()
        with torch.no_grad():
            y = x_held @ mapping.T + noise_std * eps_held
            out = club(x_held, y)
        club.train()
        return out['club_nll'].item(), out['mi_estimate'].item()

    # 1. The estimator alone (its own optimizer inside the training forward).
    nll_before, _ = held_out()
    for _ in range(200):
        with torch.no_grad():
            club(*batch())
    nll_after, mi_before = held_out()
    # Best possible with the true conditional: 0.5 * D * (1 + log s^2) (no 2 pi term).
    nll_optimal = 0.5 * dim * (1 + math.log(noise_std ** 2))
    assert nll_after < nll_before - 1.0
    assert nll_after < nll_optimal + 1.0
    assert mi_before > 1.0  # a trained q sees the strong dependence

    # 2. Each forward updates q first; the mapping then minimises the bound, q fixed.
    map_optim = torch.optim.Adam([mapping], lr=3e-2)
    true_mi_before = _gaussian_mi(mapping.detach(), noise_std)
    for _ in range(100):
        map_optim.zero_grad()
        club(*batch())['loss_mi'].backward()
        map_optim.step()
    _, mi_after = held_out()
    true_mi_after = _gaussian_mi(mapping.detach(), noise_std)
    assert mi_after < 0.5 * mi_before
    assert true_mi_after < 0.5 * true_mi_before
    print(f'nll {nll_before:.3f} -> {nll_after:.3f} (optimum {nll_optimal:.3f}); '
          f'held-out CLUB {mi_before:.3f} -> {mi_after:.3f}; '
          f'true MI {true_mi_before:.3f} -> {true_mi_after:.3f}; '
          f'{time.perf_counter() - start:.2f}s')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _rank_worker(rank, port, rows, result_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    club = _club(estimator_steps=2, standardize='running',
                 estimator_optimizer=dict(type='Adam', lr=1e-2))
    for step in range(3):
        x, y = (t.detach() for t in _pairs(8, seed=step))
        # Rank 0 holds rows[0] rows of the global batch, rank 1 the rest (0 at step 2:
        # it joins the all-reduce with weight 0).
        split = rows[step]
        part = slice(0, split) if rank == 0 else slice(split, 8)
        club(x[part], y[part])
    torch.save(club.state_dict(), os.path.join(result_dir, f'rank{rank}.pth'))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow  # two gloo processes
def test_two_ranks_update_q_as_one_process_on_the_whole_batch(tmp_path):
    import torch.multiprocessing as mp
    rows = [4, 3, 8]
    mp.spawn(_rank_worker, args=(_free_port(), rows, str(tmp_path)), nprocs=2)
    single = _club(estimator_steps=2, standardize='running',
                   estimator_optimizer=dict(type='Adam', lr=1e-2))
    for step in range(3):
        single(*(t.detach() for t in _pairs(8, seed=step)))
    states = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True) for r in (0, 1)]
    for key, value in single.state_dict().items():
        if key == '_extra_state':
            continue
        assert torch.equal(states[0][key], states[1][key]), key  # replicas never drift
        # The all-reduce carries float32 gradients (this float64 q's differ by ~1e-9).
        torch.testing.assert_close(states[0][key], value, rtol=1e-6, atol=1e-8)


def test_trained_estimator_loads_through_the_models_shape_check():
    """DeSa2VA checks every checkpoint entry's shape on load; the serialised optimizer
    state has no fixed length (empty in a fresh model) and must pass."""
    from desa2va_mm.utils.state_dict_check import raise_on_shape_mismatch

    def model():
        holder = torch.nn.Module()
        holder.club_loss = _club(estimator_optimizer=dict(type='Adam', lr=1e-2))
        holder.register_load_state_dict_pre_hook(raise_on_shape_mismatch)
        return holder

    trained = model()
    _train(trained.club_loss, 2, seed=0)
    fresh = model()
    assert fresh.state_dict()['club_loss._extra_state'].numel() == 0
    fresh.load_state_dict(trained.state_dict())
    assert fresh.club_loss.estimator_optimizer_state()['state'][0]['step'].item() == 2
    bad = trained.state_dict()
    bad['club_loss.p_mu.0.weight'] = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(Exception, match=r'p_mu.0.weight: checkpoint \(2, 2\)'):
        fresh.load_state_dict(bad)  # weights are still checked
