"""CLUBLoss: the bound's value, who gets which gradient, and that it does its job, §3.8."""
import itertools
import math
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


def _q(club, x):
    """q(y | x_i) for every row, written with the raw weights (not the module's forward)."""
    def mlp(seq, inp):
        hidden = F.relu(inp @ seq[0].weight.T + seq[0].bias)
        return hidden @ seq[2].weight.T + seq[2].bias
    mu = mlp(club.p_mu, x)
    logvar = torch.tanh(mlp(club.p_logvar, x))
    return mu, logvar


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


def test_build_and_arguments():
    club = MODELS.build(dict(type='CLUBLoss', x_dim=5, y_dim=7, hidden_dim=9))
    assert isinstance(club, CLUBLoss)
    assert club.p_mu[0].in_features == 5 and club.p_mu[2].out_features == 7
    assert isinstance(club.p_logvar[-1], torch.nn.Tanh)
    with pytest.raises(ValueError, match='sampled'):
        CLUBLoss(estimator='random')
    with pytest.raises(TypeError):
        CLUBLoss(256)  # keyword-only


def test_bound_equals_explicit_loops():
    club = _club(loss_weight=0.7)
    x, y = _pairs(5)
    out = club(x, y)
    assert set(out) == {'loss_mi', 'loss_club_est', 'mi_estimate'}
    expected = _bound_by_loops(club, x, y)
    assert abs(expected) > 1e-2  # the check below is not trivially 0 == 0
    assert out['mi_estimate'].item() == pytest.approx(expected, rel=1e-10)
    assert not out['mi_estimate'].requires_grad
    assert out['loss_mi'].item() == pytest.approx(0.7 * expected, rel=1e-10)



def _standardized(t):
    """Each row to zero mean, unit (biased) variance over its features, by hand."""
    mean = t.mean(dim=-1, keepdim=True)
    var = ((t - mean) ** 2).mean(dim=-1, keepdim=True)
    return (t - mean) / torch.sqrt(var + 1e-5)


def test_standardized_bound_is_the_bound_of_standardized_rows_and_scale_invariant():
    club = _club(standardize=True)
    x, y = _pairs(6)
    out = club(x, y)
    expected = _bound_by_loops(club, _standardized(x.detach()), _standardized(y.detach()))
    assert abs(expected) > 1e-2
    assert out['mi_estimate'].item() == pytest.approx(expected, rel=1e-6)
    # Growing h_v's scale (what a decoupler could do to game a variance-bounded q) moves
    # neither the bound nor the estimator loss; without standardising, both move a lot.
    # (Up to layer_norm's eps of 1e-5 in the variance.)
    scaled = club(x, 50.0 * y + 3.0)
    assert scaled['mi_estimate'].item() == pytest.approx(expected, rel=1e-4)
    assert scaled['loss_club_est'].item() == pytest.approx(out['loss_club_est'].item(),
                                                           rel=1e-4)
    plain = _club()
    assert abs(plain(x, 50.0 * y)['loss_club_est'].item()) > 100 * abs(
        plain(x, y)['loss_club_est'].item())
    # Gradients still reach both prompts through the standardisation.
    out['loss_mi'].backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0


def test_nonnegative_bound_stops_chasing_a_negative_estimate():
    plain, clamped = _club(), _club(nonnegative=True)
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
    # Each y_i on its own row's mean: a positive estimate, minimised as before.
    y_own = mu.clone()
    assert plain(x, y_own)['loss_mi'] > 0
    assert clamped(x, y_own)['loss_mi'].item() == pytest.approx(
        plain(x, y_own)['loss_mi'].item(), rel=1e-12)

def test_estimator_loss_is_gaussian_nll_up_to_constant():
    club = _club(estimator_weight=0.5)
    x, y = _pairs(6)
    out = club(x, y)
    with torch.no_grad():
        mu, logvar = _q(club, x)
        nll = -Normal(mu, torch.exp(0.5 * logvar)).log_prob(y).sum(-1).mean().item()
    constant = 0.5 * 4 * math.log(2 * math.pi)
    assert out['loss_club_est'].item() == pytest.approx(0.5 * (nll - constant), rel=1e-10)


def test_gradients_go_to_the_right_side():
    club = _club()
    x, y = _pairs(6)
    out = club(x, y)
    out['loss_mi'].backward()
    assert all(p.grad is None for p in club.parameters())
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0

    x.grad = y.grad = None
    out['loss_club_est'].backward()
    assert x.grad is None and y.grad is None
    assert all(p.grad is not None for p in club.parameters())
    assert sum(p.grad.abs().sum() for p in club.parameters()) > 0


def test_fewer_than_two_samples():
    club = _club()
    x, y = _pairs(1)
    out = club(x, y)
    assert out['loss_mi'].item() == 0.0 and out['mi_estimate'].item() == 0.0
    out['loss_mi'].backward()
    assert torch.count_nonzero(x.grad) == 0  # connected, but nothing to learn
    assert out['loss_club_est'].item() != 0.0  # a likelihood needs no pairs

    x, y = _pairs(0)
    out = club(x, y)
    assert out['loss_mi'].item() == 0.0 and out['loss_club_est'].item() == 0.0
    (out['loss_mi'] + out['loss_club_est']).backward()
    assert all(p.grad is not None for p in club.parameters())


def test_sampled_bound_is_unbiased_for_the_full_one(one_thread):
    club = _club()
    x, y = _pairs(5)
    with torch.no_grad():
        mu, logvar = club.mu_logvar(x)
        full = club_upper_bound(mu, logvar, y).item()
        # Averaged over every permutation the sampled bound is exactly the full one.
        perms = [torch.tensor(p) for p in itertools.permutations(range(5))]
        exact = sum(club_upper_bound(mu, logvar, y, p).item() for p in perms) / len(perms)
    assert exact == pytest.approx(full, rel=1e-10)

    sampled = _club(estimator='sampled')
    torch.manual_seed(1)
    estimates = torch.tensor([sampled(x, y)['mi_estimate'].item() for _ in range(400)])
    assert estimates.std() > 1e-3  # really random
    tolerance = 4 * estimates.std().item() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - full) < tolerance


def test_auto_switches_above_threshold():
    full, sampled, auto = (_club(estimator=e, auto_threshold=4)
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


def _gaussian_mi(weight, noise_std):
    """I(x; W x + s eps) for x ~ N(0, I): 0.5 logdet(I + W W^T / s^2)."""
    eye = torch.eye(weight.shape[0])
    return 0.5 * torch.logdet(eye + weight @ weight.T / noise_std ** 2).item()


@pytest.fixture
def one_thread():
    # Hundreds of tiny backward passes: intra-op threads only add contention (on a busy
    # 2-core machine a step went from 2 ms to 185 ms with 2 threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_estimator_learns_and_bound_minimisation_removes_information(one_thread):
    start = time.perf_counter()
    dim, noise_std, n = 4, 0.5, 64
    g = torch.Generator().manual_seed(0)
    true_map = torch.randn(dim, dim, generator=g)
    x_held = torch.randn(512, dim, generator=g)
    eps_held = torch.randn(512, dim, generator=g)

    torch.manual_seed(0)
    club = CLUBLoss(x_dim=dim, y_dim=dim, hidden_dim=32)
    mapping = torch.nn.Parameter(true_map.clone())
    q_optim = torch.optim.Adam(club.parameters(), lr=1e-2)

    def batch():
        x = torch.randn(n, dim, generator=g)
        return x, x @ mapping.T + noise_std * torch.randn(n, dim, generator=g)

    def held_out():
        with torch.no_grad():
            y = x_held @ mapping.T + noise_std * eps_held
            return -club.log_likelihood(x_held, y).item(), club(x_held, y)[
                'mi_estimate'].item()

    # 1. The estimator alone: q(y | x) fits y = A x + noise.
    nll_before, _ = held_out()
    for _ in range(200):
        q_optim.zero_grad()
        club(*batch())['loss_club_est'].backward()
        q_optim.step()
    nll_after, mi_before = held_out()
    # Best possible with the true conditional: 0.5 * D * (1 + log s^2) (no 2 pi term).
    nll_optimal = 0.5 * dim * (1 + math.log(noise_std ** 2))
    assert nll_after < nll_before - 1.0
    assert nll_after < nll_optimal + 1.0
    assert mi_before > 1.0  # a trained q sees the strong dependence

    # 2. Alternate: q keeps fitting, the mapping minimises the bound with q fixed.
    map_optim = torch.optim.Adam([mapping], lr=3e-2)
    true_mi_before = _gaussian_mi(mapping.detach(), noise_std)
    for _ in range(100):
        q_optim.zero_grad()
        club(*batch())['loss_club_est'].backward()
        q_optim.step()
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
